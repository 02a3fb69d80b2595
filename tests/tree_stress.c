/*
 * tree_stress — threads write while another thread forks writers, across
 * freezes of the whole process tree (issue 4, item 7; tests/tree_stress.sh).
 *
 *   tree_stress [--freezes N] [--threads N] [--ops N] [--children N] [--seed N] DIR
 *
 * Every byte written is a function of (seed, writer, op), so the files end
 * the same whatever the interleaving:
 *   - writer thread t, op i: a pwrite into its own stripe of "shared" plus
 *     the header every writer writes with the same bytes (read back: it must
 *     be there), a pwritev of a 100-byte block of "blocks" it owns, or an
 *     append to its own "append-T" (and once an ftruncate: a size change,
 *     held or waiting while frozen);
 *   - forked child k (children are forked one after the other by a fork
 *     thread, at most MAX_INFLIGHT alive at once, paced by the writers'
 *     progress so that they run through the whole run): pwrites into its own
 *     region of "shared" and pwritev into its own blocks of "blocks" (read
 *     back), appends to its own "child-K" (fstat must show its own held
 *     size), reads the region of a child that has already exited (a held
 *     write of another process must be visible), and _exits; every fifth
 *     child also shrinks its file once with ftruncate (held, or waiting for
 *     the thaw in a process that is not the one that thaws).
 * After reaping child k the parent reads its region and file back: what a
 * child wrote, held or not, must be visible to the parent at once.
 *
 * A control thread freezes the program's own instance (the root pid is ours
 * when run directly under the shim) N times for FREEZE_MS (longer, up to
 * MAX_FREEZE_MS, until the freeze has seen what follows), after shares of
 * the writers' ops; each freeze must see child writes made entirely inside
 * it and a child that exited (and was reaped) inside it, and the files read
 * with raw system calls must not change between Freeze and Thaw.
 * tests/tree_stress.sh compares the files with a run without the shim.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jetsnap.h"
#include "selffreeze.h"

#define MAX_THREADS 8
#define MAX_CHILDREN 256
#define MAX_FREEZES 8
#define MAX_INFLIGHT 4
#define HEADER 64
#define STRIPE 8192
#define BLOCK 100
#define BLOCKS_PER_THREAD 64
#define CHILD_BLOCKS 8
#define REGION 4096		/* of "shared", per child */
#define CHILD_RECS 24
#define FREEZE_MS 250
#define MAX_FREEZE_MS 5000

static const char header[HEADER] = "jetsnap tree_stress header: every writer writes this.\n";

/*
 * What children share with the parent: a MAP_SHARED anonymous page, so a
 * child's report survives its _exit and it sees the parent's freeze flags.
 */
struct shared_state {
	_Atomic int frozen;		/* set after Freeze returns, cleared before Thaw */
	_Atomic int freeze_no;
	_Atomic long child_recs_frozen[MAX_FREEZES];	/* child records made inside freeze k */
	_Atomic int children_frozen[MAX_FREEZES];	/* children that wrote only inside freeze k */
	_Atomic int exited_frozen[MAX_FREEZES];	/* children reaped inside freeze k */
	_Atomic int reaped[MAX_CHILDREN];	/* verified by the parent after exit */
	_Atomic bool failed;
	_Atomic int failure_owner;	/* pid that owns failure[] */
	char failure[512];
};

static struct {
	int nthreads, nops, nfreezes, nchildren;
	uint32_t seed;
	const char *dir;
	int shared_fd, blocks_fd;
	_Atomic long ops_done;
	_Atomic long ops_frozen[MAX_FREEZES];
	_Atomic bool writers_done;
	_Atomic int freezes_begun;	/* Freeze has returned this many times */
	struct shared_state *sh;
} g;

/* First failure wins, in whichever process it happens. */
static void __attribute__((format(printf, 1, 2))) set_failure(const char *fmt, ...)
{
	int none = 0;
	va_list ap;

	if (!atomic_compare_exchange_strong(&g.sh->failure_owner, &none, (int)getpid()))
		return;
	va_start(ap, fmt);
	vsnprintf(g.sh->failure, sizeof(g.sh->failure), fmt, ap);
	va_end(ap);
	atomic_store(&g.sh->failed, true);
}

static bool failed(void)
{
	return atomic_load(&g.sh->failed);
}

/* A deterministic hash of (writer, op, salt); writer >= MAX_THREADS is a child. */
static uint32_t h(int w, int i, int salt)
{
	uint64_t z = ((uint64_t)w << 40) ^ ((uint64_t)i << 8) ^ (uint64_t)salt ^
		     ((uint64_t)g.seed << 52);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)(z ^ (z >> 31));
}

static void fill(unsigned char *buf, size_t len, int w, int i)
{
	for (size_t k = 0; k < len; k++)
		buf[k] = (unsigned char)h(w, i, (int)k + 1000);
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000 }, NULL);
}

static void path_of(char *buf, size_t len, const char *fmt, int n)
{
	char name[64];

	snprintf(name, sizeof(name), fmt, n);
	snprintf(buf, len, "%s/%s", g.dir, name);
}

/* pwrite all of buf at off, then read it back: the writer must see it. */
static bool write_and_verify(int fd, const char *who, const char *what, const unsigned char *buf,
			     size_t len, off_t off)
{
	unsigned char back[STRIPE];
	ssize_t n = pwrite(fd, buf, len, off);

	if (n != (ssize_t)len) {
		set_failure("%s: pwrite of %zu bytes at %lld of %s returned %zd (%s)", who, len,
			    (long long)off, what, n, n < 0 ? strerror(errno) : "short");
		return false;
	}
	n = pread(fd, back, len, off);
	if (n != (ssize_t)len || memcmp(back, buf, len) != 0) {
		set_failure("%s: reading back %zu bytes at %lld of %s gave %zd bytes that differ "
			    "from what it just wrote (frozen: %d)", who, len, (long long)off, what, n,
			    atomic_load(&g.sh->frozen));
		return false;
	}
	return true;
}

/* ---- the writer threads ------------------------------------------------ */

static bool thread_stripe(int t, int i, const char *who)
{
	unsigned char buf[STRIPE];
	size_t len = 1 + h(t, i, 1) % 512;
	off_t off = HEADER + (off_t)t * STRIPE + h(t, i, 2) % (STRIPE - len);

	fill(buf, len, t, i);
	return write_and_verify(g.shared_fd, who, "shared", buf, len, off) &&
	       write_and_verify(g.shared_fd, who, "shared (header)", (const unsigned char *)header,
				HEADER, 0);
}

static bool pwritev_block(int w, int i, off_t block, const char *who)
{
	unsigned char buf[BLOCK];
	struct iovec iov[2] = { { buf, 37 }, { buf + 37, BLOCK - 37 } };
	ssize_t n;

	fill(buf, BLOCK, w, i);
	n = pwritev(g.blocks_fd, iov, 2, block * BLOCK);
	if (n != BLOCK) {
		set_failure("%s: pwritev to blocks returned %zd (%s)", who, n,
			    n < 0 ? strerror(errno) : "short");
		return false;
	}
	return true;
}

static bool thread_block(int t, int i, const char *who)
{
	return pwritev_block(t, i, (off_t)(h(t, i, 3) % BLOCKS_PER_THREAD) * g.nthreads + t, who);
}

static bool thread_append(int t, int i, int fd, off_t *size, const char *who)
{
	char rec[96];
	int len = snprintf(rec, sizeof(rec), "thread %d op %d value %08x\n", t, i, h(t, i, 4));

	if (write(fd, rec, len) != len) {
		set_failure("%s: append: %s", who, strerror(errno));
		return false;
	}
	*size += len;
	/* Once per thread, a size change in the middle of the run. */
	if (i == g.nops / 2 + t * 7) {
		*size -= 10;
		if (ftruncate(fd, *size) != 0) {
			set_failure("%s: ftruncate: %s", who, strerror(errno));
			return false;
		}
	}
	return true;
}

/*
 * Freeze k begins after (k+1)/(N+2) of the ops; a writer does not go past
 * (k+2)/(N+2) of its ops before freeze k has begun, so that every freeze
 * finds the writers (and the children they pace) still running, however
 * slow the freezes are.
 */
static void wait_for_freeze(int i)
{
	for (int k = 0; k < g.nfreezes && !failed(); k++)
		while (i >= (long)g.nops * (k + 2) / (g.nfreezes + 2) &&
		       atomic_load(&g.freezes_begun) <= k && !failed())
			sleep_ms(1);
}

static void *writer(void *arg)
{
	int t = (int)(intptr_t)arg;
	char path[4096], who[64];
	off_t size = 0;
	int fd;

	path_of(path, sizeof(path), "append-%d", t);
	fd = open(path, O_WRONLY | O_APPEND);
	if (fd < 0) {
		set_failure("thread %d: cannot open %s: %s", t, path, strerror(errno));
		return NULL;
	}
	for (int i = 0; i < g.nops && !failed(); i++) {
		int before;
		bool ok;

		wait_for_freeze(i);
		/* A freeze that began and had not ended around the whole op. */
		before = atomic_load(&g.sh->frozen) ? atomic_load(&g.sh->freeze_no) : -1;
		snprintf(who, sizeof(who), "thread %d op %d", t, i);
		switch (i % 3) {
		case 0:
			ok = thread_stripe(t, i, who);
			break;
		case 1:
			ok = thread_block(t, i, who);
			break;
		default:
			ok = thread_append(t, i, fd, &size, who);
			break;
		}
		if (!ok)
			break;
		if (before >= 0 && atomic_load(&g.sh->frozen) && atomic_load(&g.sh->freeze_no) == before)
			atomic_fetch_add(&g.ops_frozen[before], 1);
		atomic_fetch_add(&g.ops_done, 1);
		if (i % 8 == 7)
			sleep_ms(1);
	}
	if (close(fd) != 0)
		set_failure("close %s: %s", path, strerror(errno));
	return NULL;
}

/* ---- the forked children ----------------------------------------------- */

/* Child k's writer number in h(): distinct from every thread's. */
static int child_writer(int k)
{
	return MAX_THREADS + k;
}

static off_t child_region(int k)
{
	return HEADER + (off_t)MAX_THREADS * STRIPE + (off_t)k * REGION;
}

static int child_record(int k, int j, char *rec, size_t cap)
{
	return snprintf(rec, cap, "child %d rec %d value %08x\n", k, j, h(child_writer(k), j, 4));
}

/* Which child records shrink the file: every fifth child, once, mid-way. */
static bool child_truncates_after(int k, int j)
{
	return k % 5 == 0 && j == CHILD_RECS / 2;
}

/* The bytes child k leaves in its own file, and in its region of "shared". */
static size_t child_file_image(int k, char *out, size_t cap)
{
	size_t size = 0;

	for (int j = 0; j < CHILD_RECS; j++) {
		size += child_record(k, j, out + size, cap - size);
		if (child_truncates_after(k, j))
			size -= 7;
	}
	return size;
}

static void child_region_image(int k, unsigned char *out)
{
	unsigned char buf[REGION];

	memset(out, 0, REGION);
	for (int j = 0; j < CHILD_RECS; j++) {
		size_t len = 1 + h(child_writer(k), j, 1) % 256;
		off_t off = h(child_writer(k), j, 2) % (REGION - len);

		fill(buf, len, child_writer(k), j);
		memcpy(out + off, buf, len);
	}
}

/*
 * A region of "shared" is all zeros until its child writes, and exactly its
 * image after: compare only where the image has data, since the zeros of
 * a region never written are holes.
 */
static bool region_matches(int fd, int k, const char *who, const char *reader)
{
	unsigned char want[REGION], got[REGION];
	ssize_t n;

	child_region_image(k, want);
	n = pread(fd, got, REGION, child_region(k));
	if (n < 0) {
		set_failure("%s: pread of child %d's region: %s", who, k, strerror(errno));
		return false;
	}
	memset(got + n, 0, REGION - n);
	for (int b = 0; b < REGION; b++)
		if (got[b] != want[b]) {
			set_failure("%s: %s sees byte %d of child %d's region of shared as %#x, the "
				    "child wrote %#x (frozen: %d)", who, reader, b, k, got[b], want[b],
				    atomic_load(&g.sh->frozen));
			return false;
		}
	return true;
}

/* Child k's appends, one record each, checking fstat after each. */
static bool child_appends(int k, int j, int fd, off_t *size, const char *who)
{
	char rec[96];
	int len = child_record(k, j, rec, sizeof(rec));
	struct stat st;

	if (write(fd, rec, len) != len) {
		set_failure("%s: append to child-%d: %s", who, k, strerror(errno));
		return false;
	}
	*size += len;
	if (child_truncates_after(k, j)) {
		*size -= 7;
		if (ftruncate(fd, *size) != 0) {
			set_failure("%s: ftruncate of child-%d: %s", who, k, strerror(errno));
			return false;
		}
	}
	if (fstat(fd, &st) != 0 || st.st_size != *size) {
		set_failure("%s: fstat of child-%d says %lld bytes, it wrote %lld (frozen: %d)", who,
			    k, (long long)st.st_size, (long long)*size, atomic_load(&g.sh->frozen));
		return false;
	}
	return true;
}

/* The body of forked child k; verify_k: an exited child to read, or -1. */
static int child_main(int k, int verify_k)
{
	char path[4096], who[64];
	unsigned char buf[256];
	off_t size = 0;
	int before = atomic_load(&g.sh->frozen) ? atomic_load(&g.sh->freeze_no) : -1;
	int fd, w = child_writer(k);

	snprintf(who, sizeof(who), "child %d (pid %d)", k, (int)getpid());
	if (verify_k >= 0 && !region_matches(g.shared_fd, verify_k, who, "a later child"))
		return 1;
	path_of(path, sizeof(path), "child-%d", k);
	/* No O_CREAT: creating a file in a held directory waits, by design. */
	fd = open(path, O_RDWR | O_APPEND);
	if (fd < 0) {
		set_failure("%s: cannot open %s: %s", who, path, strerror(errno));
		return 1;
	}
	for (int j = 0; j < CHILD_RECS; j++) {
		size_t len = 1 + h(w, j, 1) % 256;
		off_t off = child_region(k) + h(w, j, 2) % (REGION - len);

		fill(buf, len, w, j);
		if (!write_and_verify(g.shared_fd, who, "shared", buf, len, off) ||
		    !write_and_verify(g.shared_fd, who, "shared (header)",
				      (const unsigned char *)header, HEADER, 0) ||
		    !pwritev_block(w, j, (off_t)BLOCKS_PER_THREAD * g.nthreads +
				   (off_t)k * CHILD_BLOCKS + j % CHILD_BLOCKS, who) ||
		    !child_appends(k, j, fd, &size, who))
			return 1;
		if (before >= 0 && atomic_load(&g.sh->frozen) && atomic_load(&g.sh->freeze_no) == before)
			atomic_fetch_add(&g.sh->child_recs_frozen[before], 1);
		if (j % 4 == 3)
			sleep_ms(1);
	}
	if (close(fd) != 0) {
		/* Is it really closed, or did the shim refuse it (its own fd)? */
		set_failure("%s: close of its fd %d on child-%d: %s (the kernel says the fd is %s)",
			    who, fd, k, strerror(errno),
			    raw_syscall4(SYS_fcntl, fd, F_GETFD, 0, 0) < 0 ? "closed" : "open");
		return 1;
	}
	if (before >= 0 && atomic_load(&g.sh->frozen) && atomic_load(&g.sh->freeze_no) == before)
		atomic_fetch_add(&g.sh->children_frozen[before], 1);
	return 0;
}

/* After child k exited: the parent must see everything it wrote. */
static void verify_reaped(int k, int status, int freeze_at_reap)
{
	char path[4096], want[CHILD_RECS * 96], got[CHILD_RECS * 96 + 1], who[64];
	size_t want_len = child_file_image(k, want, sizeof(want));
	ssize_t n;
	int fd;

	snprintf(who, sizeof(who), "parent after child %d exited", k);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (!failed())
			set_failure("child %d ended with status %#x and no report", k, status);
		return;
	}
	if (!region_matches(g.shared_fd, k, who, "the parent"))
		return;
	path_of(path, sizeof(path), "child-%d", k);
	fd = open(path, O_RDONLY);
	n = fd < 0 ? -1 : pread(fd, got, sizeof(got), 0);
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)want_len || memcmp(got, want, want_len) != 0) {
		set_failure("%s: child-%d reads as %zd bytes%s, the child wrote %zu (frozen: %d)", who,
			    k, n, n == (ssize_t)want_len ? " that differ" : "", want_len,
			    atomic_load(&g.sh->frozen));
		return;
	}
	atomic_store(&g.sh->reaped[k], 1);
	/* Reaped with the same freeze still on: it exited while frozen. */
	if (freeze_at_reap >= 0 && atomic_load(&g.sh->frozen) &&
	    atomic_load(&g.sh->freeze_no) == freeze_at_reap)
		atomic_fetch_add(&g.sh->exited_frozen[freeze_at_reap], 1);
}

struct inflight {
	pid_t pid;
	int k;
};

/* Reap what has exited; with block, wait for one.  Returns how many are left. */
static int reap(struct inflight *fl, int n, bool block)
{
	for (int i = 0; i < n;) {
		int status, freeze = atomic_load(&g.sh->frozen) ? atomic_load(&g.sh->freeze_no) : -1;
		pid_t r = waitpid(fl[i].pid, &status, block ? 0 : WNOHANG);

		if (r == fl[i].pid) {
			verify_reaped(fl[i].k, status, freeze);
			fl[i] = fl[--n];
			block = false;
			continue;
		}
		if (r < 0 && errno != EINTR) {
			set_failure("waitpid of child %d: %s", fl[i].k, strerror(errno));
			fl[i] = fl[--n];
			continue;
		}
		i++;
	}
	return n;
}

/* The newest child already reaped and verified, for the next one to read. */
static int last_reaped(int below)
{
	for (int k = below - 1; k >= 0; k--)
		if (atomic_load(&g.sh->reaped[k]))
			return k;
	return -1;
}

static void *forker(void *arg)
{
	long total = (long)g.nthreads * g.nops;
	struct inflight fl[MAX_INFLIGHT];
	int n = 0;

	(void)arg;
	for (int k = 0; k < g.nchildren && !failed(); k++) {
		/* Child k starts after k/(children+1) of the writers' ops. */
		long threshold = total * k / (g.nchildren + 1);
		pid_t pid;
		int verify_k;

		while (atomic_load(&g.ops_done) < threshold && !atomic_load(&g.writers_done) &&
		       !failed()) {
			n = reap(fl, n, false);
			sleep_ms(1);
		}
		while (n == MAX_INFLIGHT && !failed()) {
			n = reap(fl, n, false);
			if (n == MAX_INFLIGHT)
				sleep_ms(1);
		}
		verify_k = last_reaped(k);
		pid = fork();
		if (pid < 0) {
			set_failure("fork of child %d: %s", k, strerror(errno));
			break;
		}
		if (pid == 0)
			_exit(child_main(k, verify_k));
		fl[n++] = (struct inflight){ pid, k };
	}
	while (n > 0)
		n = reap(fl, n, true);
	return NULL;
}

/* ---- freezes ----------------------------------------------------------- */

/*
 * A checksum of every file of the run as the disk has it, read with raw
 * system calls behind the shim's back (FNV-1a over each name, size and
 * contents).  Guarantee 2: it must not change between Freeze and Thaw.
 */
static uint64_t disk_checksum(void)
{
	uint64_t sum = 0xcbf29ce484222325ull;
	char path[4096];

	for (int f = 0; f < 2 + g.nthreads + g.nchildren; f++) {
		if (f < 2)
			snprintf(path, sizeof(path), "%s/%s", g.dir, f ? "blocks" : "shared");
		else if (f < 2 + g.nthreads)
			path_of(path, sizeof(path), "append-%d", f - 2);
		else
			path_of(path, sizeof(path), "child-%d", f - 2 - g.nthreads);
		sum = raw_file_checksum(sum, path);
	}
	return sum;
}

static bool freeze_tested(int k)
{
	return atomic_load(&g.ops_frozen[k]) && atomic_load(&g.sh->child_recs_frozen[k]) &&
	       atomic_load(&g.sh->children_frozen[k]) && atomic_load(&g.sh->exited_frozen[k]);
}

/* Freeze k (from 0) starts once (k+1)/(N+2) of all ops are done: spread over the run. */
static void *controller(void *arg)
{
	long total = (long)g.nthreads * g.nops;
	char msg[512], held[4096];

	(void)arg;
	snprintf(held, sizeof(held), "%s/shared", g.dir);
	for (int k = 0; k < g.nfreezes && !failed(); k++) {
		JET_OSSNAPID snap;
		uint64_t at_freeze, before_thaw;
		long threshold = total * (k + 1) / (g.nfreezes + 2);

		while (atomic_load(&g.ops_done) < threshold && !failed())
			sleep_ms(1);
		if (atomic_load(&g.writers_done)) {
			set_failure("the writers finished before freeze %d began", k + 1);
			break;
		}
		if (selffreeze_begin(&snap, held, msg, sizeof(msg))) {
			set_failure("freeze %d: %s", k + 1, msg);
			break;
		}
		atomic_store(&g.sh->freeze_no, k);
		atomic_store(&g.sh->frozen, 1);
		atomic_store(&g.freezes_begun, k + 1);
		at_freeze = disk_checksum();
		sleep_ms(FREEZE_MS);
		/* On a loaded machine, stay frozen until the freeze has seen what
		 * it is meant to test (check_counts), within reason. */
		for (int ms = FREEZE_MS; ms < MAX_FREEZE_MS && !freeze_tested(k); ms += 10)
			sleep_ms(10);
		before_thaw = disk_checksum();
		atomic_store(&g.sh->frozen, 0);
		if (at_freeze != before_thaw)
			set_failure("freeze %d: the files on disk changed while frozen (checksum "
				    "%016" PRIx64 " at Freeze, %016" PRIx64 " before Thaw)", k + 1,
				    at_freeze, before_thaw);
		if (selffreeze_end(snap, msg, sizeof(msg))) {
			set_failure("thaw %d: %s", k + 1, msg);
			break;
		}
	}
	return NULL;
}

/* ---- setup ------------------------------------------------------------- */

static int create(const char *path, int flags)
{
	int fd = open(path, flags | O_CREAT | O_TRUNC, 0644);

	if (fd < 0) {
		fprintf(stderr, "tree_stress: cannot create %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

/*
 * Every file exists before the first freeze: creating a file in a held
 * directory waits for the thaw (by design), which would keep children
 * from writing while frozen.
 */
static void create_files(void)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/shared", g.dir);
	g.shared_fd = create(path, O_RDWR);
	snprintf(path, sizeof(path), "%s/blocks", g.dir);
	g.blocks_fd = create(path, O_RDWR);
	for (int t = 0; t < g.nthreads; t++) {
		path_of(path, sizeof(path), "append-%d", t);
		close(create(path, O_WRONLY));
	}
	for (int k = 0; k < g.nchildren; k++) {
		path_of(path, sizeof(path), "child-%d", k);
		close(create(path, O_WRONLY));
	}
}

static int int_arg(const char *opt, const char *val, int lo, int hi)
{
	char *end;
	long v = val ? strtol(val, &end, 0) : 0;

	if (!val || *end || v < lo || v > hi) {
		fprintf(stderr, "tree_stress: %s needs a number from %d to %d\n", opt, lo, hi);
		exit(2);
	}
	return (int)v;
}

static void parse_args(int argc, char **argv)
{
	int i;

	g.nthreads = 4;
	g.nops = 6000;
	g.nchildren = 48;
	g.seed = 1;
	for (i = 1; i < argc - 1; i += 2) {
		if (strcmp(argv[i], "--freezes") == 0)
			g.nfreezes = int_arg(argv[i], argv[i + 1], 0, MAX_FREEZES);
		else if (strcmp(argv[i], "--threads") == 0)
			g.nthreads = int_arg(argv[i], argv[i + 1], 1, MAX_THREADS);
		else if (strcmp(argv[i], "--ops") == 0)
			g.nops = int_arg(argv[i], argv[i + 1], 100, 1000000);
		else if (strcmp(argv[i], "--children") == 0)
			g.nchildren = int_arg(argv[i], argv[i + 1], 1, MAX_CHILDREN);
		else if (strcmp(argv[i], "--seed") == 0)
			g.seed = (uint32_t)int_arg(argv[i], argv[i + 1], 0, 0xfff);
		else
			break;
	}
	if (i != argc - 1 || argv[i][0] != '/') {
		fprintf(stderr, "usage: tree_stress [--freezes N] [--threads N] [--ops N] "
			"[--children N] [--seed N] /ABSOLUTE/DIR\n");
		exit(2);
	}
	g.dir = argv[i];
}

/* Each freeze must have tested something in each kind of process. */
static int check_counts(void)
{
	int rc = 0;

	for (int k = 0; k < g.nfreezes; k++) {
		const char *what = NULL;

		if (atomic_load(&g.ops_frozen[k]) == 0)
			what = "no thread op was made entirely inside it";
		else if (atomic_load(&g.sh->child_recs_frozen[k]) == 0)
			what = "no child record was written inside it";
		else if (atomic_load(&g.sh->children_frozen[k]) == 0)
			what = "no child made all its writes inside it";
		else if (atomic_load(&g.sh->exited_frozen[k]) == 0)
			what = "no child exited (and was reaped) inside it";
		if (what) {
			fprintf(stderr, "tree_stress: FAIL: freeze %d: %s (seed %u)\n", k + 1, what,
				g.seed);
			rc = 1;
		}
	}
	return rc;
}

int main(int argc, char **argv)
{
	pthread_t threads[MAX_THREADS], ctl, fork_thread;
	int i;

	parse_args(argc, argv);
	g.sh = mmap(NULL, sizeof(*g.sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g.sh == MAP_FAILED) {
		fprintf(stderr, "tree_stress: cannot map shared memory: %s\n", strerror(errno));
		return 1;
	}
	atomic_store(&g.sh->freeze_no, -1);
	create_files();

	for (i = 0; i < g.nthreads; i++)
		if (pthread_create(&threads[i], NULL, writer, (void *)(intptr_t)i) != 0) {
			fprintf(stderr, "tree_stress: cannot start thread %d\n", i);
			return 1;
		}
	if (pthread_create(&fork_thread, NULL, forker, NULL) != 0 ||
	    (g.nfreezes && pthread_create(&ctl, NULL, controller, NULL) != 0)) {
		fprintf(stderr, "tree_stress: cannot start the fork or control thread\n");
		return 1;
	}
	for (i = 0; i < g.nthreads; i++)
		pthread_join(threads[i], NULL);
	atomic_store(&g.writers_done, true);
	pthread_join(fork_thread, NULL);
	if (g.nfreezes)
		pthread_join(ctl, NULL);
	if (close(g.shared_fd) != 0 || close(g.blocks_fd) != 0)
		set_failure("close: %s", strerror(errno));

	if (failed()) {
		fprintf(stderr, "tree_stress: FAIL: %s (seed %u)\n", g.sh->failure, g.seed);
		return 1;
	}
	printf("tree_stress: seed %u, %d threads x %d ops, %d children", g.seed, g.nthreads, g.nops,
	       g.nchildren);
	for (i = 0; i < g.nfreezes; i++)
		printf("%s%ld/%ld/%d/%d", i ? ", " : "; per freeze thread ops/child records/"
		       "children wholly inside/children exited inside: ",
		       atomic_load(&g.ops_frozen[i]), atomic_load(&g.sh->child_recs_frozen[i]),
		       atomic_load(&g.sh->children_frozen[i]), atomic_load(&g.sh->exited_frozen[i]));
	printf("\n");
	return check_counts();
}
