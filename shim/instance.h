/*
 * The instance: one process tree started under the shim, sharing one file
 * in JETSNAP_STATE_DIR that every member maps MAP_SHARED.  Its first
 * megabyte is the shared header below (state, freeze gate, lock, file
 * table, members); the hold log's records follow it.
 *
 * A child made by fork inherits the mapping; a process that execs with the
 * shim still preloaded finds the file through JETSNAP_INSTANCE_FILE in its
 * environment and maps it again.  So one freeze state, one gate and one log
 * serve the whole tree.
 */
#ifndef JETSNAP_INSTANCE_H
#define JETSNAP_INSTANCE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define JS_INSTANCE_MAGIC  0x4a4554534e415031ull	/* "JETSNAP1" */
#define JS_HEADER_SIZE     (1ull << 20)
#define JS_INSTANCE_VERSION 2	/* 2: the js_sum record checksum (holdlog.h) */
#define JS_MAX_FILES       4096
#define JS_MAX_MEMBERS     512
#define JS_STRIPES         4	/* gate counters per member process */
#define JS_PATH_POOL       (448u << 10)

struct js_stripe {
	_Atomic long inflight;
	char pad[64 - sizeof(long)];
};

struct js_member {
	_Atomic int32_t pid;	/* 0: free slot */
	int32_t reserved;
	struct js_stripe stripes[JS_STRIPES];
};

/* A held file, the same index in every process. */
struct js_shared_file {
	uint64_t dev, ino;
	uint64_t dir_dev, dir_ino;
	int64_t base_size;	/* size on disk when first held */
	uint32_t path_off;	/* its path: a NUL-terminated string in path_pool */
	uint32_t reserved;
};

struct js_shared {
	uint64_t magic;
	uint64_t version;
	int32_t root_pid;	/* serves the control socket */
	_Atomic int state;	/* enum js_state; a futex word */
	_Atomic uint64_t epoch;	/* one per freeze */
	char name[128];
	char last_refusal[256];	/* why the last Freeze was refused, "" if it was not */
	pthread_mutex_t lock;	/* process-shared, robust */
	pthread_mutex_t sync_lock;	/* one journal fdatasync at a time */
	_Atomic uint64_t synced;	/* epoch << 40 | log offset known durable */
	/* Everything below is changed under lock. */
	uint64_t tail;		/* end of the last record */
	uint64_t barrier_tail;	/* the tail right after the last barrier */
	uint64_t seq;
	uint64_t file_size;	/* of the backing file */
	uint32_t nfiles;
	_Atomic int32_t drainer_pid;
	int32_t drain_errno;	/* why the last drain stopped, 0 if it did not */
	/* The control server's sessions (control.c): here, not in the root's
	 * memory, so a root that execs while frozen still knows its freeze. */
	uint64_t ctl_enrolled, ctl_frozen, ctl_timed_out, ctl_drained;
	int32_t ctl_drain_pending;
	uint64_t drain_pos;	/* where a failed drain resumes */
	uint64_t deadline_us;	/* CLOCK_MONOTONIC; 0: no freeze to expire */
	uint64_t held_bytes, held_writes, drained_writes;
	uint64_t frozen_at_us, frozen_us;
	struct js_shared_file files[JS_MAX_FILES];
	uint32_t pool_used;
	char path_pool[JS_PATH_POOL];
	struct js_member members[JS_MAX_MEMBERS] __attribute__((aligned(64)));
};

_Static_assert(sizeof(struct js_shared) <= JS_HEADER_SIZE, "shared header too large");

extern pid_t js_my_pid;		/* this process, refreshed in a fork child */
extern struct js_shared *js_sh;	/* NULL until this process has joined */
extern uint8_t *js_base;	/* the whole mapping: header, then records */

int js_instance_start(void);	/* create or join; 0 on success */
bool js_instance_is_root(void);
int js_instance_fd(void);
const char *js_instance_path(void);
void js_instance_lock(void);
void js_instance_unlock(void);
int js_instance_grow(uint64_t need);	/* under lock */
void js_instance_join_child(void);	/* in a fork child */
/* Wait until the state is no longer `state`; false on timeout. */
bool js_instance_wait_change(int state, int timeout_ms);
void js_instance_wake_all(void);
bool js_pid_alive(pid_t pid);

#endif
