/*
 * mt_writer — a multi-threaded writer whose files end up the same whatever
 * the interleaving, for tests/mt_determinism.sh.
 *
 *   mt_writer [--freezes N] [--threads N] [--ops N] DIR
 *
 * Each thread t, op i:
 *   - stripes: pwrite into its own stripe (overlapping its own earlier writes,
 *     so only the order within the thread matters), then a shared header that
 *     every thread writes with the same bytes;
 *   - blocks: pwritev of a whole 100-byte block it owns (block index % N == t),
 *     so neighbouring threads share every page;
 *   - append-T: write() of a record to its own O_APPEND file, and once an
 *     ftruncate of that file (a size change, which waits while frozen);
 *   and reads back what it wrote, which must show its own writes (held or not).
 * Writers pause 1 ms every 8 ops so that they are still running while a
 * control thread freezes the process N times for 200 ms (each after a share
 * of the ops), counting the ops made entirely inside each freeze: each count
 * must be > 0, or the freeze tested nothing.  The files on disk, read behind
 * the shim's back, must not change between Freeze and Thaw.
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
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "jetsnap.h"
#include "selffreeze.h"

#define MAX_THREADS 16
#define MAX_FREEZES 8
#define HEADER 64
#define STRIPE 8192
#define BLOCK 100
#define BLOCKS_PER_THREAD 64
#define FREEZE_MS 200

static struct {
	int nthreads, nops, nfreezes;
	const char *dir;
	int stripes_fd, blocks_fd;
	_Atomic long ops_done;
	_Atomic int frozen;		/* set after Freeze returns, cleared before Thaw */
	_Atomic long ops_frozen[MAX_FREEZES];
	_Atomic int freeze_no;
	_Atomic int freezes_begun;	/* how many freezes have returned from Freeze */
	_Atomic bool failed;
	char failure[512];
	pthread_mutex_t failure_lock;
} g = { .failure_lock = PTHREAD_MUTEX_INITIALIZER };

static void __attribute__((format(printf, 1, 2))) set_failure(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&g.failure_lock);
	if (!atomic_load(&g.failed)) {
		va_start(ap, fmt);
		vsnprintf(g.failure, sizeof(g.failure), fmt, ap);
		va_end(ap);
		atomic_store(&g.failed, true);
	}
	pthread_mutex_unlock(&g.failure_lock);
}

/* A deterministic hash of (thread, op, salt): the only source of "randomness". */
static uint32_t h(int t, int i, int salt)
{
	uint64_t z = ((uint64_t)t << 40) ^ ((uint64_t)i << 8) ^ (uint64_t)salt;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)(z ^ (z >> 31));
}

static void fill(unsigned char *buf, size_t len, int t, int i)
{
	for (size_t k = 0; k < len; k++)
		buf[k] = (unsigned char)h(t, i, (int)k + 1000);
}

/* Write all of buf at off with pwrite, then read it back: it must be there. */
static bool write_and_verify(int fd, const char *what, const unsigned char *buf, size_t len,
			     off_t off, int t, int i)
{
	unsigned char back[STRIPE];
	ssize_t n = pwrite(fd, buf, len, off);

	if (n != (ssize_t)len) {
		set_failure("thread %d op %d: pwrite to %s returned %zd (%s)", t, i, what, n,
			    n < 0 ? strerror(errno) : "short");
		return false;
	}
	n = pread(fd, back, len, off);
	if (n != (ssize_t)len || memcmp(back, buf, len) != 0) {
		set_failure("thread %d op %d: reading back %zu bytes at %lld of %s gave %zd bytes "
			    "that differ from what the thread just wrote (frozen: %d)", t, i, len,
			    (long long)off, what, n, atomic_load(&g.frozen));
		return false;
	}
	return true;
}

static bool op_stripe(int t, int i)
{
	static const char header[HEADER] = "jetsnap mt_writer header: every thread writes this.\n";
	unsigned char buf[STRIPE];
	size_t len = 1 + h(t, i, 1) % 512;
	off_t off = HEADER + (off_t)t * STRIPE + h(t, i, 2) % (STRIPE - len);

	fill(buf, len, t, i);
	return write_and_verify(g.stripes_fd, "stripes", buf, len, off, t, i) &&
	       write_and_verify(g.stripes_fd, "stripes header", (const unsigned char *)header,
				HEADER, 0, t, i);
}

static bool op_block(int t, int i)
{
	unsigned char buf[BLOCK];
	off_t block = (off_t)(h(t, i, 3) % BLOCKS_PER_THREAD) * g.nthreads + t;
	struct iovec iov[2] = { { buf, 37 }, { buf + 37, BLOCK - 37 } };
	ssize_t n;

	fill(buf, BLOCK, t, i);
	n = pwritev(g.blocks_fd, iov, 2, block * BLOCK);
	if (n != BLOCK) {
		set_failure("thread %d op %d: pwritev to blocks returned %zd (%s)", t, i, n,
			    n < 0 ? strerror(errno) : "short");
		return false;
	}
	return true;
}

static bool op_append(int t, int i, int fd, off_t *size)
{
	char rec[96];
	int len = snprintf(rec, sizeof(rec), "thread %d op %d value %08x\n", t, i, h(t, i, 4));

	if (write(fd, rec, len) != len) {
		set_failure("thread %d op %d: append: %s", t, i, strerror(errno));
		return false;
	}
	*size += len;
	/* Once per thread, a size change in the middle of the run. */
	if (i == g.nops / 2 + t * 7) {
		*size -= 10;
		if (ftruncate(fd, *size) != 0) {
			set_failure("thread %d op %d: ftruncate: %s", t, i, strerror(errno));
			return false;
		}
	}
	return true;
}

static void *writer(void *arg)
{
	int t = (int)(intptr_t)arg;
	char path[4096];
	off_t size = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/append-%d", g.dir, t);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	if (fd < 0) {
		set_failure("cannot create %s: %s", path, strerror(errno));
		return NULL;
	}
	for (int i = 0, k = 0; i < g.nops && !atomic_load(&g.failed); i++) {
		/* A freeze that began and had not ended around the whole op. */
		int before;
		bool ok;

		/*
		 * Freeze k is due after (k+1)/(N+2) of the ops: a writer that
		 * gets there first waits for it to begin, so every freeze
		 * happens while writers still have work, however the machine
		 * schedules us.
		 */
		while (k < g.nfreezes && i >= (long)g.nops * (k + 1) / (g.nfreezes + 2)) {
			while (atomic_load(&g.freezes_begun) <= k && !atomic_load(&g.failed))
				nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
			k++;
		}
		before = atomic_load(&g.frozen) ? atomic_load(&g.freeze_no) : -1;

		switch (i % 3) {
		case 0:
			ok = op_stripe(t, i);
			break;
		case 1:
			ok = op_block(t, i);
			break;
		default:
			ok = op_append(t, i, fd, &size);
			break;
		}
		if (!ok)
			break;
		if (before >= 0 && atomic_load(&g.frozen) && atomic_load(&g.freeze_no) == before)
			atomic_fetch_add(&g.ops_frozen[before], 1);
		atomic_fetch_add(&g.ops_done, 1);
		if (i % 8 == 7)
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	if (close(fd) != 0)
		set_failure("close %s: %s", path, strerror(errno));
	return NULL;
}

/*
 * A checksum of every file of the run as the disk has it, read with raw
 * system calls behind the shim's back (FNV-1a over each name, size and
 * contents).  Guarantee 2: it must not change between Freeze and Thaw.
 */
static uint64_t disk_checksum(void)
{
	static const char *const shared[] = { "stripes", "blocks" };
	uint64_t sum = 0xcbf29ce484222325ull;
	char path[4096];

	for (int f = 0; f < 2 + g.nthreads; f++) {
		if (f < 2)
			snprintf(path, sizeof(path), "%s/%s", g.dir, shared[f]);
		else
			snprintf(path, sizeof(path), "%s/append-%d", g.dir, f - 2);
		sum = raw_file_checksum(sum, path);
	}
	return sum;
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000 }, NULL);
}

/* Freeze k (from 0) starts once (k+1)/(N+2) of all ops are done: spread over the run. */
static void *controller(void *arg)
{
	long total = (long)g.nthreads * g.nops;
	char msg[512], held[4096];

	/* The freeze must name the files it holds (absolute paths only). */
	snprintf(held, sizeof(held), "%s/stripes", g.dir);

	for (int k = 0; k < g.nfreezes && !atomic_load(&g.failed); k++) {
		JET_OSSNAPID snap;
		uint64_t at_freeze, before_thaw;
		long threshold = total * (k + 1) / (g.nfreezes + 2);

		while (atomic_load(&g.ops_done) < threshold && !atomic_load(&g.failed))
			sleep_ms(1);
		if (atomic_load(&g.ops_done) >= total) {
			set_failure("the writers finished before freeze %d began", k + 1);
			break;
		}
		if (selffreeze_begin(&snap, held[0] == '/' ? held : NULL, msg, sizeof(msg))) {
			set_failure("freeze %d: %s", k + 1, msg);
			break;
		}
		atomic_store(&g.freeze_no, k);
		atomic_store(&g.frozen, 1);
		atomic_store(&g.freezes_begun, k + 1);
		at_freeze = disk_checksum();
		sleep_ms(FREEZE_MS);
		before_thaw = disk_checksum();
		atomic_store(&g.frozen, 0);
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

static int open_shared(const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", g.dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "mt_writer: cannot create %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

static int int_arg(const char *opt, const char *val, int lo, int hi)
{
	char *end;
	long v = val ? strtol(val, &end, 10) : 0;

	if (!val || *end || v < lo || v > hi) {
		fprintf(stderr, "mt_writer: %s needs a number from %d to %d\n", opt, lo, hi);
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	pthread_t threads[MAX_THREADS], ctl;
	int i;

	g.nthreads = 4;
	g.nops = 6000;
	for (i = 1; i < argc - 1; i += 2) {
		if (strcmp(argv[i], "--freezes") == 0)
			g.nfreezes = int_arg(argv[i], argv[i + 1], 0, MAX_FREEZES);
		else if (strcmp(argv[i], "--threads") == 0)
			g.nthreads = int_arg(argv[i], argv[i + 1], 1, MAX_THREADS);
		else if (strcmp(argv[i], "--ops") == 0)
			g.nops = int_arg(argv[i], argv[i + 1], 100, 1000000);
		else
			break;
	}
	if (i != argc - 1) {
		fprintf(stderr, "usage: mt_writer [--freezes N] [--threads N] [--ops N] DIR\n");
		return 2;
	}
	g.dir = argv[i];
	g.stripes_fd = open_shared("stripes");
	g.blocks_fd = open_shared("blocks");

	for (i = 0; i < g.nthreads; i++)
		if (pthread_create(&threads[i], NULL, writer, (void *)(intptr_t)i) != 0) {
			fprintf(stderr, "mt_writer: cannot start thread %d\n", i);
			return 1;
		}
	if (g.nfreezes && pthread_create(&ctl, NULL, controller, NULL) != 0) {
		fprintf(stderr, "mt_writer: cannot start the control thread\n");
		return 1;
	}
	for (i = 0; i < g.nthreads; i++)
		pthread_join(threads[i], NULL);
	if (g.nfreezes)
		pthread_join(ctl, NULL);
	if (close(g.stripes_fd) != 0 || close(g.blocks_fd) != 0)
		set_failure("close: %s", strerror(errno));

	if (atomic_load(&g.failed)) {
		fprintf(stderr, "mt_writer: FAIL: %s\n", g.failure);
		return 1;
	}
	printf("mt_writer: %d threads x %d ops", g.nthreads, g.nops);
	for (i = 0; i < g.nfreezes; i++)
		printf("%s%ld", i ? ", " : "; ops made while frozen: ", atomic_load(&g.ops_frozen[i]));
	printf("\n");
	for (i = 0; i < g.nfreezes; i++)
		if (atomic_load(&g.ops_frozen[i]) == 0) {
			fprintf(stderr, "mt_writer: FAIL: no op was made entirely inside freeze %d: "
				"the writers did not run while frozen\n", i + 1);
			return 1;
		}
	return 0;
}
