/*
 * stress.h — the deterministic writer threads and the freeze controller
 * that tests/mt_writer.c and tests/tree_stress.c share (tests/stress.c).
 *
 * Every byte written is a function of (seed, writer, op), so the files end
 * the same whatever the interleaving.  Writer thread t, op i:
 *   - i % 3 == 0: a pwrite into its own stripe of "shared" (overlapping its
 *     own earlier writes, so only the order within the thread matters),
 *     then the header every writer writes with the same bytes; both read
 *     back, which must show the thread's own writes, held or not;
 *   - i % 3 == 1: a pwritev of a whole 100-byte block of "blocks" it owns
 *     (block index % nthreads == t), so neighbouring threads share every page;
 *   - i % 3 == 2: a write() of a record to its own O_APPEND file "append-T",
 *     and once an ftruncate of it (a size change, held or waiting while
 *     frozen).
 * Writers pause 1 ms every 8 ops so that they are still running while the
 * control thread freezes the process nfreezes times, freeze k once
 * (k+1)/(N+2) of all ops are done, counting in ops_frozen[k] the ops made
 * entirely inside it.  The files on disk, read behind the shim's back, must
 * not change between Freeze and Thaw.
 */
#ifndef JETSNAP_TESTS_STRESS_H
#define JETSNAP_TESTS_STRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STRESS_MAX_THREADS 16
#define STRESS_MAX_FREEZES 8
#define STRESS_HEADER 64
#define STRESS_STRIPE 8192
#define STRESS_BLOCK 100
#define STRESS_BLOCKS_PER_THREAD 64

/* What every process of a run sees: tree_stress maps it shared, so that a
 * forked child sees the freeze flags and its report survives its _exit. */
struct stress_shared {
	_Atomic int frozen;		/* set after Freeze returns, cleared before Thaw */
	_Atomic int freeze_no;
	_Atomic bool failed;
	_Atomic int failure_owner;	/* pid that owns failure[] */
	char failure[512];
};

struct stress {
	/* Set by the program before stress_create_files(). */
	const char *prog;		/* for messages */
	const char *dir;
	int nthreads, nops, nfreezes;
	int nchildren;			/* tree_stress's children, each with a file child-K */
	uint32_t seed;
	/* A writer does not go past (k + freeze_lead)/(N+2) of its ops before
	 * freeze k has begun, so that every freeze finds the writers still
	 * running, however the machine schedules them. */
	int freeze_lead;
	long freeze_ms;
	/* When set, a freeze stays on (up to max_freeze_ms) until it says freeze
	 * k has seen what it is meant to test. */
	bool (*freeze_tested)(int k);
	long max_freeze_ms;
	struct stress_shared *sh;

	/* The run. */
	int shared_fd, blocks_fd;
	_Atomic long ops_done;
	_Atomic long ops_frozen[STRESS_MAX_FREEZES];
	_Atomic bool writers_done;
	_Atomic int freezes_begun;	/* Freeze has returned this many times */
	pthread_t threads[STRESS_MAX_THREADS], ctl;
};

extern struct stress stress;
/* What every writer writes at offset 0 of "shared". */
extern const char stress_header[STRESS_HEADER];

/* The first failure wins, in whichever process or thread it happens. */
void __attribute__((format(printf, 1, 2))) set_failure(const char *fmt, ...);
bool failed(void);

/* A deterministic hash of (writer, op, salt) and the run's seed. */
uint32_t stress_hash(int w, int i, int salt);
void stress_fill(unsigned char *buf, size_t len, int w, int i);
void sleep_ms(long ms);
/* DIR/NAME, NAME made from fmt and n. */
void stress_path(char *buf, size_t len, const char *fmt, int n);

/* The freeze on now (-1: none), and whether freeze before (>= 0) is still on. */
int stress_freeze_now(void);
bool stress_still_in(int before);

/* pwrite all of buf at off, then read it back: the writer must see it. */
bool write_and_verify(int fd, const char *who, const char *what, const unsigned char *buf,
		      size_t len, off_t off);
/* pwritev of writer w's op i as one 100-byte block at index block of "blocks". */
bool pwritev_block(int w, int i, off_t block, const char *who);

/* --freezes, --threads and --ops: 1 if opt is one of them (val parsed),
 * else 0.  A bad value exits 2. */
int stress_option(const char *opt, const char *val);
int stress_int_arg(const char *opt, const char *val, int lo, int hi);

/* Every file exists before the first freeze: creating a file in a held
 * directory waits for the thaw (by design).  Exits 1 on failure. */
void stress_create_files(void);
/* Start the writers and, with freezes, the control thread: 0, or 1 with a
 * message on stderr. */
int stress_start(void);
/* Wait for the writers; then stress_finish() for the control thread and
 * the shared files. */
void stress_join_writers(void);
void stress_finish(void);

#endif
