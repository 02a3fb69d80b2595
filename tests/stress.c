/*
 * stress.c — the writer threads and freeze controller of tests/mt_writer
 * and tests/tree_stress (see tests/stress.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "jetsnap.h"
#include "selffreeze.h"
#include "stress.h"

struct stress stress;

const char stress_header[STRESS_HEADER] = "jetsnap stress header: every writer writes this.\n";

void set_failure(const char *fmt, ...)
{
	int none = 0;
	va_list ap;

	if (!atomic_compare_exchange_strong(&stress.sh->failure_owner, &none, (int)getpid()))
		return;
	va_start(ap, fmt);
	vsnprintf(stress.sh->failure, sizeof(stress.sh->failure), fmt, ap);
	va_end(ap);
	atomic_store(&stress.sh->failed, true);
}

bool failed(void)
{
	return atomic_load(&stress.sh->failed);
}

uint32_t stress_hash(int w, int i, int salt)
{
	uint64_t z = ((uint64_t)w << 40) ^ ((uint64_t)i << 8) ^ (uint64_t)salt ^
		     ((uint64_t)stress.seed << 52);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)(z ^ (z >> 31));
}

void stress_fill(unsigned char *buf, size_t len, int w, int i)
{
	for (size_t k = 0; k < len; k++)
		buf[k] = (unsigned char)stress_hash(w, i, (int)k + 1000);
}

void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000 }, NULL);
}

void stress_path(char *buf, size_t len, const char *fmt, int n)
{
	char name[64];

	snprintf(name, sizeof(name), fmt, n);
	snprintf(buf, len, "%s/%s", stress.dir, name);
}

int stress_freeze_now(void)
{
	return atomic_load(&stress.sh->frozen) ? atomic_load(&stress.sh->freeze_no) : -1;
}

bool stress_still_in(int before)
{
	return before >= 0 && atomic_load(&stress.sh->frozen) &&
	       atomic_load(&stress.sh->freeze_no) == before;
}

bool write_and_verify(int fd, const char *who, const char *what, const unsigned char *buf,
		      size_t len, off_t off)
{
	unsigned char back[STRESS_STRIPE];
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
			    atomic_load(&stress.sh->frozen));
		return false;
	}
	return true;
}

bool pwritev_block(int w, int i, off_t block, const char *who)
{
	unsigned char buf[STRESS_BLOCK];
	struct iovec iov[2] = { { buf, 37 }, { buf + 37, STRESS_BLOCK - 37 } };
	ssize_t n;

	stress_fill(buf, STRESS_BLOCK, w, i);
	n = pwritev(stress.blocks_fd, iov, 2, block * STRESS_BLOCK);
	if (n != STRESS_BLOCK) {
		set_failure("%s: pwritev to blocks returned %zd (%s)", who, n,
			    n < 0 ? strerror(errno) : "short");
		return false;
	}
	return true;
}

/* ---- the writer threads ------------------------------------------------ */

static bool thread_stripe(int t, int i, const char *who)
{
	unsigned char buf[STRESS_STRIPE];
	size_t len = 1 + stress_hash(t, i, 1) % 512;
	off_t off = STRESS_HEADER + (off_t)t * STRESS_STRIPE +
		    stress_hash(t, i, 2) % (STRESS_STRIPE - len);

	stress_fill(buf, len, t, i);
	return write_and_verify(stress.shared_fd, who, "shared", buf, len, off) &&
	       write_and_verify(stress.shared_fd, who, "shared (header)",
				(const unsigned char *)stress_header, STRESS_HEADER, 0);
}

static bool thread_block(int t, int i, const char *who)
{
	return pwritev_block(t, i, (off_t)(stress_hash(t, i, 3) % STRESS_BLOCKS_PER_THREAD) *
			     stress.nthreads + t, who);
}

static bool thread_append(int t, int i, int fd, off_t *size, const char *who)
{
	char rec[96];
	int len = snprintf(rec, sizeof(rec), "thread %d op %d value %08x\n", t, i,
			   stress_hash(t, i, 4));

	if (write(fd, rec, len) != len) {
		set_failure("%s: append: %s", who, strerror(errno));
		return false;
	}
	*size += len;
	/* Once per thread, a size change in the middle of the run. */
	if (i == stress.nops / 2 + t * 7) {
		*size -= 10;
		if (ftruncate(fd, *size) != 0) {
			set_failure("%s: ftruncate: %s", who, strerror(errno));
			return false;
		}
	}
	return true;
}

static void wait_for_freeze(int i)
{
	for (int k = 0; k < stress.nfreezes && !failed(); k++)
		while (i >= (long)stress.nops * (k + stress.freeze_lead) / (stress.nfreezes + 2) &&
		       atomic_load(&stress.freezes_begun) <= k && !failed())
			sleep_ms(1);
}

static void *writer(void *arg)
{
	int t = (int)(intptr_t)arg;
	char path[4096], who[64];
	off_t size = 0;
	int fd;

	stress_path(path, sizeof(path), "append-%d", t);
	fd = open(path, O_WRONLY | O_APPEND);
	if (fd < 0) {
		set_failure("thread %d: cannot open %s: %s", t, path, strerror(errno));
		return NULL;
	}
	for (int i = 0; i < stress.nops && !failed(); i++) {
		int before;
		bool ok;

		wait_for_freeze(i);
		/* A freeze that began and had not ended around the whole op. */
		before = stress_freeze_now();
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
		if (stress_still_in(before))
			atomic_fetch_add(&stress.ops_frozen[before], 1);
		atomic_fetch_add(&stress.ops_done, 1);
		if (i % 8 == 7)
			sleep_ms(1);
	}
	if (close(fd) != 0)
		set_failure("close %s: %s", path, strerror(errno));
	return NULL;
}

/* ---- freezes ----------------------------------------------------------- */

/*
 * A checksum of every file of the run as the disk has it, read with raw
 * system calls behind the shim's back (FNV-1a over each name and its
 * contents).  Guarantee 2: it must not change between Freeze and Thaw.
 */
static uint64_t disk_checksum(void)
{
	uint64_t sum = 0xcbf29ce484222325ull;
	char path[4096];

	for (int f = 0; f < 2 + stress.nthreads + stress.nchildren; f++) {
		if (f < 2)
			snprintf(path, sizeof(path), "%s/%s", stress.dir, f ? "blocks" : "shared");
		else if (f < 2 + stress.nthreads)
			stress_path(path, sizeof(path), "append-%d", f - 2);
		else
			stress_path(path, sizeof(path), "child-%d", f - 2 - stress.nthreads);
		sum = raw_file_checksum(sum, path);
	}
	return sum;
}

/* Freeze k (from 0) starts once (k+1)/(N+2) of all ops are done: spread over the run. */
static void *controller(void *arg)
{
	long total = (long)stress.nthreads * stress.nops;
	char msg[512], held[4096];

	(void)arg;
	/* The freeze must name the files it holds (absolute paths only). */
	snprintf(held, sizeof(held), "%s/shared", stress.dir);
	for (int k = 0; k < stress.nfreezes && !failed(); k++) {
		JET_OSSNAPID snap;
		uint64_t at_freeze, before_thaw;
		long threshold = total * (k + 1) / (stress.nfreezes + 2);

		while (atomic_load(&stress.ops_done) < threshold && !failed())
			sleep_ms(1);
		if (atomic_load(&stress.ops_done) >= total || atomic_load(&stress.writers_done)) {
			set_failure("the writers finished before freeze %d began", k + 1);
			break;
		}
		if (selffreeze_begin(&snap, held[0] == '/' ? held : NULL, msg, sizeof(msg))) {
			set_failure("freeze %d: %s", k + 1, msg);
			break;
		}
		atomic_store(&stress.sh->freeze_no, k);
		atomic_store(&stress.sh->frozen, 1);
		atomic_store(&stress.freezes_begun, k + 1);
		at_freeze = disk_checksum();
		sleep_ms(stress.freeze_ms);
		/* On a loaded machine, stay frozen until the freeze has seen what
		 * it is meant to test, within reason. */
		for (long ms = stress.freeze_ms; stress.freeze_tested && ms < stress.max_freeze_ms &&
		     !stress.freeze_tested(k); ms += 10)
			sleep_ms(10);
		before_thaw = disk_checksum();
		atomic_store(&stress.sh->frozen, 0);
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

int stress_int_arg(const char *opt, const char *val, int lo, int hi)
{
	char *end;
	long v = val ? strtol(val, &end, 0) : 0;

	if (!val || *end || v < lo || v > hi) {
		fprintf(stderr, "%s: %s needs a number from %d to %d\n", stress.prog, opt, lo, hi);
		exit(2);
	}
	return (int)v;
}

int stress_option(const char *opt, const char *val)
{
	if (strcmp(opt, "--freezes") == 0)
		stress.nfreezes = stress_int_arg(opt, val, 0, STRESS_MAX_FREEZES);
	else if (strcmp(opt, "--threads") == 0)
		stress.nthreads = stress_int_arg(opt, val, 1, STRESS_MAX_THREADS);
	else if (strcmp(opt, "--ops") == 0)
		stress.nops = stress_int_arg(opt, val, 100, 1000000);
	else
		return 0;
	return 1;
}

static int create(const char *path, int flags)
{
	int fd = open(path, flags | O_CREAT | O_TRUNC, 0644);

	if (fd < 0) {
		fprintf(stderr, "%s: cannot create %s: %s\n", stress.prog, path, strerror(errno));
		exit(1);
	}
	return fd;
}

void stress_create_files(void)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/shared", stress.dir);
	stress.shared_fd = create(path, O_RDWR);
	snprintf(path, sizeof(path), "%s/blocks", stress.dir);
	stress.blocks_fd = create(path, O_RDWR);
	for (int t = 0; t < stress.nthreads; t++) {
		stress_path(path, sizeof(path), "append-%d", t);
		close(create(path, O_WRONLY));
	}
	for (int k = 0; k < stress.nchildren; k++) {
		stress_path(path, sizeof(path), "child-%d", k);
		close(create(path, O_WRONLY));
	}
}

int stress_start(void)
{
	for (int t = 0; t < stress.nthreads; t++)
		if (pthread_create(&stress.threads[t], NULL, writer, (void *)(intptr_t)t) != 0) {
			fprintf(stderr, "%s: cannot start thread %d\n", stress.prog, t);
			return 1;
		}
	if (stress.nfreezes && pthread_create(&stress.ctl, NULL, controller, NULL) != 0) {
		fprintf(stderr, "%s: cannot start the control thread\n", stress.prog);
		return 1;
	}
	return 0;
}

void stress_join_writers(void)
{
	for (int t = 0; t < stress.nthreads; t++)
		pthread_join(stress.threads[t], NULL);
	atomic_store(&stress.writers_done, true);
}

void stress_finish(void)
{
	if (stress.nfreezes)
		pthread_join(stress.ctl, NULL);
	if (close(stress.shared_fd) != 0 || close(stress.blocks_fd) != 0)
		set_failure("close: %s", strerror(errno));
}
