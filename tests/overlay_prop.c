/*
 * overlay_prop — property test of the shim's read overlay through the real
 * interposed calls.
 *
 * A file is opened O_RDWR (plus an O_WRONLY|O_APPEND descriptor and, from
 * time to time, a third descriptor opened or dup'ed during the freeze), the
 * process freezes itself, then thousands of random writes, reads, seeks and
 * stats run against it.  After every step the results, the file size, the
 * contents and every descriptor's offset must match an in-memory model, and
 * the file on disk — read with raw system calls the shim cannot see — must
 * still be byte for byte what it was at Freeze.  After Thaw the disk must
 * equal the model, and the offsets must have survived the drain.
 *
 *   overlay_prop [--no-freeze] [--fork] [--stdio] [--blocks] FILE
 *
 * --no-freeze runs the same steps without a freeze (and without the shim):
 * it checks the model against the kernel, so that a failure under the shim
 * is the shim's and not the model's.  --fork adds steps where a forked
 * child writes, --stdio steps through an unbuffered stdio stream (each a
 * separate run, so that a failure there hides nothing else).  --blocks
 * reads and writes whole 512-byte blocks at block offsets, as databases do,
 * so the drain sees many rewrites of one block (which it folds) beside
 * writes that do not overlap (which it writes out in offset order).
 * Environment: OVERLAY_PROP_SEED (default 0x5eed0001), OVERLAY_PROP_STEPS
 * (steps per freeze, default 5000), OVERLAY_PROP_CYCLES (freezes, default 2).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jetsnap.h"
#include "selffreeze.h"

#define INITIAL_SIZE 4096
#define MAX_IO 700		/* longest single read or write */
#define SIZE_SOFT_CAP 48000	/* stop growing the file past this */
#define MAX_IOV 4
#define HISTORY 16
#define PRE_STEPS 100		/* unfrozen steps before the first freeze */
#define POST_STEPS 500		/* unfrozen steps after each thaw */

/*
 * The application's descriptors, each on its own open file description
 * except extra, which is sometimes a dup of main.  The stream (--stdio) is
 * an unbuffered FILE opened "r+": glibc's stdio reads, writes and seeks with
 * its internal syscall wrappers, not the exported functions.
 */
enum { FD_MAIN, FD_APPEND, FD_EXTRA, FD_STREAM, NFD };
static const char *const fd_name[NFD] = { "main", "append", "extra", "stream" };

struct desc {
	off_t off;
	bool append;
};

static struct {
	unsigned char *data;
	size_t size, cap;
	struct desc desc[NFD];
	int fd[NFD];		/* -1 when closed */
	int fd_desc[NFD];	/* which description fd[i] refers to */
} m;

static struct {
	const char *path;
	int raw_fd;		/* opened with a raw syscall: invisible to the shim */
	bool frozen;
	bool fork_ops;		/* --fork: forked children write too */
	bool stdio_ops;		/* --stdio: a stdio stream reads and writes too */
	bool blocks;		/* --blocks: offsets and lengths in 512-byte blocks */
	FILE *stream;
	JET_OSSNAPID snap;
	unsigned char *image;	/* what the disk must hold while frozen */
	size_t image_size;
	uint64_t seed;
	unsigned long step;
	const char *phase;
	char history[HISTORY][160];	/* the ops before t.op, a ring */
	unsigned long nops;
	char op[160];
} t;

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* splitmix64: tiny, and the same sequence everywhere for a seed. */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t rng_below(size_t n)
{
	return n ? rng() % n : 0;
}

static void rng_fill(unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)rng();
}

/*
 * Report and exit.  The freeze is ended first: what we print goes to the
 * test log, a file the shim would otherwise hold, and a process that exits
 * frozen would leave the log to the journal.
 */
static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (t.frozen) {
		char why[512];

		if (selffreeze_end(t.snap, why, sizeof(why)))
			fprintf(stderr, "overlay_prop: while failing: %s\n", why);
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "overlay_prop: FAIL at %s step %lu (seed 0x%" PRIx64
		", rerun with OVERLAY_PROP_SEED=0x%" PRIx64 "): %s\n",
		t.phase, t.step, t.seed, t.seed, msg);
	fprintf(stderr, "  failing op: %s\n  model: size %zu, offsets main %lld append %lld "
		"extra %lld%s stream %lld%s\n", t.op, m.size, (long long)m.desc[FD_MAIN].off,
		(long long)m.desc[FD_APPEND].off, (long long)m.desc[FD_EXTRA].off,
		m.fd[FD_EXTRA] < 0 ? " (closed)" :
		m.fd_desc[FD_EXTRA] == FD_MAIN ? " (a dup of main)" : "",
		(long long)m.desc[FD_STREAM].off, t.stream ? "" : " (unused)");
	fprintf(stderr, "  previous ops, oldest first:\n");
	for (unsigned long i = 0; i < HISTORY; i++) {
		const char *h = t.history[(t.nops + i) % HISTORY];

		if (*h)
			fprintf(stderr, "    %s\n", h);
	}
	exit(1);
}

static void __attribute__((format(printf, 1, 2))) describe(const char *fmt, ...)
{
	va_list ap;

	snprintf(t.history[t.nops++ % HISTORY], sizeof(t.history[0]), "%s", t.op);
	va_start(ap, fmt);
	vsnprintf(t.op, sizeof(t.op), fmt, ap);
	va_end(ap);
}

/* The model --------------------------------------------------------------- */

static void model_reserve(size_t size)
{
	if (size <= m.cap)
		return;
	m.cap = size * 2;
	m.data = realloc(m.data, m.cap);
	if (!m.data)
		fail("out of memory for the model (%zu bytes)", m.cap);
}

/*
 * Linux semantics: an O_APPEND description writes at the end of file even
 * through pwrite; an empty write changes nothing, not even the offset;
 * writing past the end leaves a hole of zeros.  off < 0: at the cursor.
 */
static off_t model_write(int d, off_t off, const unsigned char *buf, size_t len)
{
	struct desc *ds = &m.desc[d];
	off_t at = ds->append ? (off_t)m.size : off >= 0 ? off : ds->off;

	if (len == 0)
		return at;
	model_reserve(at + len);
	if ((size_t)at > m.size)
		memset(m.data + m.size, 0, at - m.size);
	memcpy(m.data + at, buf, len);
	if ((size_t)at + len > m.size)
		m.size = at + len;
	if (off < 0)
		ds->off = at + len;
	return at;
}

static size_t model_read(int d, off_t off, unsigned char *buf, size_t len)
{
	struct desc *ds = &m.desc[d];
	off_t at = off >= 0 ? off : ds->off;
	size_t n = (size_t)at >= m.size ? 0 : m.size - at;

	if (n > len)
		n = len;
	memcpy(buf, m.data + at, n);
	if (off < 0)
		ds->off = at + n;
	return n;
}

/* Random choices ----------------------------------------------------------- */

/* An offset around the current end of file, sometimes past it (a hole). */
static off_t pick_offset(void)
{
	size_t span = m.size < SIZE_SOFT_CAP ? m.size + 512 : m.size;

	off_t off;

	if (m.size < SIZE_SOFT_CAP && rng_below(40) == 0)
		off = m.size + rng_below(4096);
	else
		off = rng_below(span);
	return t.blocks ? off & ~(off_t)511 : off;
}

static size_t pick_len(void)
{
	/* Database pages: rewrites of the same block, which the drain
	 * folds, beside writes of whole neighbouring ones. */
	if (t.blocks)
		return rng_below(10) ? 512 : 0;
	switch (rng_below(10)) {
	case 0:
		return 0;
	case 1:
		return 1 + rng_below(8);
	default:
		return 1 + rng_below(MAX_IO);
	}
}

/* A descriptor that can read and write at an offset: main, or extra if open. */
static int pick_rw_fd(void)
{
	return m.fd[FD_EXTRA] >= 0 && rng_below(3) == 0 ? FD_EXTRA : FD_MAIN;
}

/* A descriptor to write with: 1 in odds the O_APPEND one, while the file is small. */
static int pick_write_fd(unsigned odds)
{
	return rng_below(odds) == 0 && m.size < SIZE_SOFT_CAP ? FD_APPEND : pick_rw_fd();
}

/* Split len bytes of buf into up to MAX_IOV pieces (some may be empty). */
static int make_iov(struct iovec *iov, unsigned char *buf, size_t len)
{
	int cnt = 1 + rng_below(MAX_IOV);
	size_t left = len;

	for (int i = 0; i < cnt; i++) {
		size_t piece = i == cnt - 1 ? left : rng_below(left + 1);

		iov[i].iov_base = buf + (len - left);
		iov[i].iov_len = piece;
		left -= piece;
	}
	return cnt;
}

/* Checks ------------------------------------------------------------------- */

static void expect_ret(const char *call, ssize_t got, ssize_t want, int err)
{
	if (got != want)
		fail("%s returned %zd (%s), expected %zd", call, got,
		     got < 0 ? strerror(err) : "ok", want);
}

static void expect_bytes(const char *what, const unsigned char *got,
			 const unsigned char *want, size_t len, off_t base)
{
	for (size_t i = 0; i < len; i++)
		if (got[i] != want[i])
			fail("%s: byte at file offset %lld is 0x%02x, expected 0x%02x "
			     "(first of the %zu compared bytes to differ)", what,
			     (long long)(base + i), got[i], want[i], len);
}

static void check_disk(const unsigned char *want, size_t size, const char *what)
{
	struct stat st;
	static unsigned char *buf;
	static size_t cap;
	long ret;

	if (size + 64 > cap) {
		cap = (size + 64) * 2;
		buf = realloc(buf, cap);
		if (!buf)
			fail("out of memory");
	}
	ret = raw_syscall4(SYS_fstat, t.raw_fd, (long)&st, 0, 0);
	if (ret < 0)
		fail("raw fstat of %s: %s", t.path, strerror(-ret));
	if ((size_t)st.st_size != size)
		fail("%s: the file on disk is %lld bytes, expected %zu", what,
		     (long long)st.st_size, size);
	ret = raw_syscall4(SYS_pread64, t.raw_fd, (long)buf, size + 64, 0);
	if (ret < 0)
		fail("raw pread of %s: %s", t.path, strerror(-ret));
	if ((size_t)ret != size)
		fail("%s: raw pread of the whole file gave %ld bytes, expected %zu", what, ret, size);
	expect_bytes(what, buf, want, size, 0);
}

/* After every step: offsets, size and contents as the application sees them. */
static void check_view(void)
{
	static unsigned char *buf;
	static size_t cap;
	struct stat st;
	ssize_t n;

	/* The disk first: a write that reached it while frozen breaks guarantee 2. */
	if (t.frozen)
		check_disk(t.image, t.image_size, "while frozen, disk differs from the file at Freeze");
	else
		check_disk(m.data, m.size, "while not frozen, disk differs from the model");
	for (int i = 0; i < NFD; i++) {
		off_t pos;

		if (m.fd[i] < 0)
			continue;
		errno = 0;
		pos = lseek(m.fd[i], 0, SEEK_CUR);
		if (pos != m.desc[m.fd_desc[i]].off)
			fail("lseek(%s, 0, SEEK_CUR) = %lld (%s), expected %lld", fd_name[i],
			     (long long)pos, strerror(errno), (long long)m.desc[m.fd_desc[i]].off);
	}
	if (t.stream && ftello(t.stream) != m.desc[FD_STREAM].off)
		fail("ftello(stream) = %lld, expected %lld", (long long)ftello(t.stream),
		     (long long)m.desc[FD_STREAM].off);
	if (fstat(m.fd[FD_MAIN], &st) != 0)
		fail("fstat(main): %s", strerror(errno));
	if ((size_t)st.st_size != m.size)
		fail("fstat(main).st_size = %lld, expected %zu", (long long)st.st_size, m.size);
	if (m.size + 64 > cap) {
		cap = (m.size + 64) * 2;
		buf = realloc(buf, cap);
		if (!buf)
			fail("out of memory");
	}
	n = pread(m.fd[FD_MAIN], buf, m.size + 64, 0);
	expect_ret("pread(main) of the whole file", n, m.size, errno);
	expect_bytes("pread(main) of the whole file", buf, m.data, m.size, 0);
}

/* Operations ----------------------------------------------------------------- */

enum variant { PLAIN, LFS };	/* the plain name or its 64-bit twin */

static void op_pwrite(void)
{
	unsigned char buf[MAX_IO];
	int f = pick_write_fd(6);
	enum variant v = rng_below(2);
	off_t off = pick_offset();
	size_t len = pick_len();
	ssize_t n;

	rng_fill(buf, len);
	describe("%s(%s, len %zu, off %lld)", v == LFS ? "pwrite64" : "pwrite", fd_name[f],
		 len, (long long)off);
	n = v == LFS ? pwrite64(m.fd[f], buf, len, off) : pwrite(m.fd[f], buf, len, off);
	expect_ret(t.op, n, len, errno);
	model_write(m.fd_desc[f], off, buf, len);
}

static void op_write(void)
{
	unsigned char buf[MAX_IO];
	int f = pick_write_fd(4);
	size_t len = pick_len();
	ssize_t n;

	rng_fill(buf, len);
	describe("write(%s, len %zu) at cursor %lld", fd_name[f], len,
		 (long long)m.desc[m.fd_desc[f]].off);
	n = write(m.fd[f], buf, len);
	expect_ret(t.op, n, len, errno);
	model_write(m.fd_desc[f], -1, buf, len);
}

/*
 * The five vectored calls of each direction, in the same order: the plain
 * one (at the cursor), then those at an offset (-1 means the cursor for the
 * *v2 forms).  Readers and writers share a signature.
 */
typedef ssize_t vec_fn(int, const struct iovec *, int);
typedef ssize_t vec_at_fn(int, const struct iovec *, int, off_t);
typedef ssize_t vec_at2_fn(int, const struct iovec *, int, off_t, int);
struct vec_calls {
	const char *names[5];
	vec_fn *plain;
	vec_at_fn *at[2];
	vec_at2_fn *at2[2];
};
static const struct vec_calls vec_writes = {
	{ "writev", "pwritev", "pwritev64", "pwritev2", "pwritev64v2" },
	writev, { pwritev, pwritev64 }, { pwritev2, pwritev64v2 },
};
static const struct vec_calls vec_reads = {
	{ "readv", "preadv", "preadv64", "preadv2", "preadv64v2" },
	readv, { preadv, preadv64 }, { preadv2, preadv64v2 },
};

static ssize_t vec_call(const struct vec_calls *c, int kind, int fd, const struct iovec *iov,
			int cnt, off_t off)
{
	if (kind == 0)
		return c->plain(fd, iov, cnt);
	if (kind < 3)
		return c->at[kind - 1](fd, iov, cnt, off);
	return c->at2[kind - 3](fd, iov, cnt, off, 0);
}

/* Kind 0: the plain call; 1-2 at an offset; 3-4 at an offset or -1. */
static off_t pick_vec_offset(int kind)
{
	return kind == 0 || (kind >= 3 && rng_below(3) == 0) ? -1 : pick_offset();
}

static void op_writev(void)
{
	unsigned char buf[MAX_IO];
	struct iovec iov[MAX_IOV];
	int f = pick_write_fd(5);
	size_t len = pick_len();
	int kind = rng_below(5), cnt;
	off_t off = pick_vec_offset(kind);
	ssize_t n;

	rng_fill(buf, len);
	cnt = make_iov(iov, buf, len);
	describe("%s(%s, %d iovecs, len %zu, off %lld)", vec_writes.names[kind], fd_name[f], cnt,
		 len, (long long)off);
	n = vec_call(&vec_writes, kind, m.fd[f], iov, cnt, off);
	expect_ret(t.op, n, len, errno);
	model_write(m.fd_desc[f], off, buf, len);
}

static void op_pread(void)
{
	unsigned char got[MAX_IO + 64], want[MAX_IO + 64];
	int f = pick_rw_fd();
	enum variant v = rng_below(2);
	off_t off = pick_offset();
	size_t len = pick_len() + rng_below(64), exp;
	ssize_t n;

	describe("%s(%s, len %zu, off %lld)", v == LFS ? "pread64" : "pread", fd_name[f], len,
		 (long long)off);
	n = v == LFS ? pread64(m.fd[f], got, len, off) : pread(m.fd[f], got, len, off);
	exp = model_read(m.fd_desc[f], off, want, len);
	expect_ret(t.op, n, exp, errno);
	expect_bytes(t.op, got, want, exp, off);
}

static void op_read(void)
{
	unsigned char got[MAX_IO + 64], want[MAX_IO + 64];
	int f = pick_rw_fd();
	off_t at = m.desc[m.fd_desc[f]].off;
	size_t len = pick_len() + rng_below(64), exp;
	ssize_t n;

	describe("read(%s, len %zu) at cursor %lld", fd_name[f], len, (long long)at);
	n = read(m.fd[f], got, len);
	exp = model_read(m.fd_desc[f], -1, want, len);
	expect_ret(t.op, n, exp, errno);
	expect_bytes(t.op, got, want, exp, at);
}

static void op_readv(void)
{
	unsigned char got[MAX_IO + 64], want[MAX_IO + 64];
	struct iovec iov[MAX_IOV];
	int f = pick_rw_fd();
	size_t len = pick_len() + rng_below(64), exp;
	int kind = rng_below(5), cnt;
	off_t off = pick_vec_offset(kind);
	off_t at = off >= 0 ? off : m.desc[m.fd_desc[f]].off;
	ssize_t n;

	memset(got, 0xee, sizeof(got));
	cnt = make_iov(iov, got, len);
	describe("%s(%s, %d iovecs, len %zu, off %lld) at %lld", vec_reads.names[kind],
		 fd_name[f], cnt, len, (long long)off, (long long)at);
	n = vec_call(&vec_reads, kind, m.fd[f], iov, cnt, off);
	exp = model_read(m.fd_desc[f], off, want, len);
	expect_ret(t.op, n, exp, errno);
	expect_bytes(t.op, got, want, exp, at);
}

static void op_lseek(void)
{
	static const char *const whence_name[] = { "SEEK_SET", "SEEK_CUR", "SEEK_END" };
	int f = rng_below(5) == 0 ? FD_APPEND : pick_rw_fd();
	struct desc *ds = &m.desc[m.fd_desc[f]];
	int whence = rng_below(3);
	enum variant v = rng_below(2);
	off_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? ds->off : (off_t)m.size;
	off_t want, got, delta;

	/* Mostly valid targets around the file, sometimes before offset 0. */
	if (rng_below(25) == 0)
		want = -1 - (off_t)rng_below(100);
	else
		want = pick_offset();
	delta = want - base;
	describe("%s(%s, %lld, %s) from cursor %lld, size %zu", v == LFS ? "lseek64" : "lseek",
		 fd_name[f], (long long)delta, whence_name[whence], (long long)ds->off, m.size);
	errno = 0;
	got = v == LFS ? lseek64(m.fd[f], delta, whence) : lseek(m.fd[f], delta, whence);
	if (want < 0) {
		if (got != -1 || errno != EINVAL)
			fail("%s returned %lld (%s), expected -1 EINVAL", t.op, (long long)got,
			     strerror(errno));
		return;
	}
	if (got != want)
		fail("%s returned %lld (%s), expected %lld", t.op, (long long)got,
		     strerror(errno), (long long)want);
	ds->off = want;
}

static void op_stat(void)
{
	int f = rng_below(3) == 0 ? FD_APPEND : pick_rw_fd();
	int kind = rng_below(5);
	static const char *const names[] = { "fstat", "fstat64", "stat", "fstatat", "statx" };
	long long size = -1;
	int ret;

	describe("%s(%s) with size %zu", names[kind], kind >= 2 ? "path" : fd_name[f], m.size);
	errno = 0;
	switch (kind) {
	case 0: {
		struct stat st = { 0 };

		ret = fstat(m.fd[f], &st);
		size = st.st_size;
		break;
	}
	case 1: {
		struct stat64 st = { 0 };

		ret = fstat64(m.fd[f], &st);
		size = st.st_size;
		break;
	}
	case 2: {
		struct stat st = { 0 };

		ret = stat(t.path, &st);
		size = st.st_size;
		break;
	}
	case 3: {
		struct stat st = { 0 };

		ret = fstatat(AT_FDCWD, t.path, &st, 0);
		size = st.st_size;
		break;
	}
	default: {
		struct statx stx = { 0 };

		ret = statx(AT_FDCWD, t.path, 0, STATX_SIZE, &stx);
		size = stx.stx_size;
		break;
	}
	}
	if (ret != 0)
		fail("%s failed: %s", t.op, strerror(errno));
	if ((size_t)size != m.size)
		fail("%s reported size %lld, expected %zu", t.op, size, m.size);
}

/*
 * Close and reopen (or dup) the extra descriptor, also while frozen: held
 * data must be found by file, not by descriptor number, and must survive
 * the close of the descriptor that wrote it.
 */
static void op_reopen(void)
{
	int kind = rng_below(4);

	if (m.fd[FD_EXTRA] >= 0) {
		describe("close(extra = fd %d)", m.fd[FD_EXTRA]);
		if (close(m.fd[FD_EXTRA]) != 0)
			fail("%s: %s", t.op, strerror(errno));
		m.fd[FD_EXTRA] = -1;
		if (kind == 0)
			return;
	}
	if (kind == 1) {
		describe("extra = dup(main)");
		m.fd[FD_EXTRA] = dup(m.fd[FD_MAIN]);
		m.fd_desc[FD_EXTRA] = FD_MAIN;
	} else {
		describe("extra = open(path, O_RDWR)");
		m.fd[FD_EXTRA] = open(t.path, O_RDWR);
		m.fd_desc[FD_EXTRA] = FD_EXTRA;
		m.desc[FD_EXTRA].off = 0;
		m.desc[FD_EXTRA].append = false;
	}
	if (m.fd[FD_EXTRA] < 0)
		fail("%s: %s", t.op, strerror(errno));
}

/*
 * A forked child writes through the inherited descriptors, pwrite at an
 * offset and write at the shared cursor, and reads its writes back: the
 * instance is the whole process tree, so the child's writes are held too,
 * and the parent must see them.  The child reports by exit status only.
 */
static void op_child_write(void)
{
	unsigned char buf[2][MAX_IO], back[MAX_IO];
	int f = pick_rw_fd();
	off_t off = pick_offset();
	size_t len[2] = { pick_len(), pick_len() };
	int status;
	pid_t pid;

	rng_fill(buf[0], len[0]);
	rng_fill(buf[1], len[1]);
	describe("child process: pwrite(%s, len %zu, off %lld), write(%s, len %zu) at cursor %lld",
		 fd_name[f], len[0], (long long)off, fd_name[f], len[1],
		 (long long)m.desc[m.fd_desc[f]].off);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		if (pwrite(m.fd[f], buf[0], len[0], off) != (ssize_t)len[0])
			_exit(10);
		if (pread(m.fd[f], back, len[0], off) != (ssize_t)len[0] ||
		    memcmp(back, buf[0], len[0]) != 0)
			_exit(11);
		if (write(m.fd[f], buf[1], len[1]) != (ssize_t)len[1])
			_exit(12);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		fail("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("%s: the child %s %d (10: pwrite failed, 11: it could not read back its "
		     "own pwrite, 12: write failed)", t.op,
		     WIFEXITED(status) ? "exited with status" : "was killed by signal",
		     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	model_write(m.fd_desc[f], off, buf[0], len[0]);
	model_write(m.fd_desc[f], -1, buf[1], len[1]);
}

/* Seek the stream (from the start or the end), then fwrite or fread there. */
static void op_stdio(void)
{
	unsigned char buf[MAX_IO + 64], want[MAX_IO + 64];
	off_t target = pick_offset();
	bool from_end = rng_below(3) == 0, writing = rng_below(2);
	off_t delta = from_end ? target - (off_t)m.size : target;
	size_t len = pick_len(), n, exp;

	describe("stdio: fseeko(stream, %lld, %s), then %s %zu bytes at %lld", (long long)delta,
		 from_end ? "SEEK_END" : "SEEK_SET", writing ? "fwrite" : "fread", len,
		 (long long)target);
	if (fseeko(t.stream, delta, from_end ? SEEK_END : SEEK_SET) != 0)
		fail("%s: fseeko: %s", t.op, strerror(errno));
	m.desc[FD_STREAM].off = target;
	if (ftello(t.stream) != target)
		fail("%s: ftello after fseeko = %lld, expected %lld", t.op,
		     (long long)ftello(t.stream), (long long)target);
	if (writing) {
		rng_fill(buf, len);
		n = fwrite(buf, 1, len, t.stream);
		if (n != len)
			fail("%s: fwrite wrote %zu bytes (%s)", t.op, n, strerror(errno));
		model_write(FD_STREAM, -1, buf, len);
		return;
	}
	n = fread(buf, 1, len, t.stream);
	exp = model_read(FD_STREAM, -1, want, len);
	if (n != exp)
		fail("%s: fread read %zu bytes, expected %zu", t.op, n, exp);
	expect_bytes(t.op, buf, want, exp, target);
}

/*
 * ftruncate, ftruncate64 or truncate(path): shrink below or grow past the
 * current size.  While frozen the size change is held like a write.
 */
static void op_truncate(void)
{
	int f = pick_rw_fd();
	unsigned how = rng_below(3);
	size_t size = m.size < 64 || rng_below(2) ? m.size + rng_below(2 * MAX_IO) : rng_below(m.size);
	int r;

	if (size > SIZE_SOFT_CAP)
		size = SIZE_SOFT_CAP;
	describe("%s(%s, %zu) from size %zu", how == 0 ? "ftruncate" : how == 1 ? "ftruncate64" : "truncate",
		 how == 2 ? "path" : fd_name[f], size, m.size);
	if (how == 0)
		r = ftruncate(m.fd[f], (off_t)size);
	else if (how == 1)
		r = ftruncate64(m.fd[f], (off64_t)size);
	else
		r = truncate(t.path, (off_t)size);
	expect_ret(t.op, r, 0, errno);
	model_reserve(size);
	if (size > m.size)
		memset(m.data + m.size, 0, size - m.size);
	m.size = size;
}

static void random_step(void)
{
	unsigned r = rng_below(100);

	/* Only --stdio draws this number: the other runs keep their sequences. */
	if (t.stdio_ops && rng_below(8) == 0)
		op_stdio();
	else if (r < 16)
		op_pwrite();
	else if (r < 30)
		op_write();
	else if (r < 42)
		op_writev();
	else if (r < 54)
		op_pread();
	else if (r < 62)
		op_read();
	else if (r < 70)
		op_readv();
	else if (r < 88)
		op_lseek();
	else if (r < 95)
		op_stat();
	else if (r < 97)
		op_truncate();
	else if (r < 99 || !t.fork_ops)
		op_reopen();
	else
		op_child_write();
	check_view();
}

static void run_steps(const char *phase, unsigned long steps)
{
	t.phase = phase;
	describe("---- %s phase begins ----", phase);
	for (t.step = 0; t.step < steps; t.step++)
		random_step();
}

/* Setup, freeze and thaw ----------------------------------------------------- */

static void open_file(void)
{
	unsigned char buf[INITIAL_SIZE];
	long fd;

	t.phase = "setup";
	m.fd[FD_MAIN] = open(t.path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (m.fd[FD_MAIN] < 0)
		fail("cannot create %s: %s", t.path, strerror(errno));
	rng_fill(buf, sizeof(buf));
	describe("write(main, %d initial bytes)", INITIAL_SIZE);
	expect_ret(t.op, write(m.fd[FD_MAIN], buf, sizeof(buf)), sizeof(buf), errno);
	model_write(FD_MAIN, -1, buf, sizeof(buf));
	m.fd[FD_APPEND] = open(t.path, O_WRONLY | O_APPEND);
	if (m.fd[FD_APPEND] < 0)
		fail("cannot open %s O_APPEND: %s", t.path, strerror(errno));
	m.fd_desc[FD_MAIN] = FD_MAIN;
	m.fd_desc[FD_APPEND] = FD_APPEND;
	m.desc[FD_APPEND].append = true;
	m.fd[FD_EXTRA] = -1;
	m.fd[FD_STREAM] = -1;
	if (t.stdio_ops) {
		t.stream = fopen(t.path, "r+");
		if (!t.stream || setvbuf(t.stream, NULL, _IONBF, 0) != 0)
			fail("cannot open %s as an unbuffered stream: %s", t.path, strerror(errno));
		m.fd[FD_STREAM] = fileno(t.stream);
		m.fd_desc[FD_STREAM] = FD_STREAM;
	}
	fd = raw_syscall4(SYS_openat, AT_FDCWD, (long)t.path, O_RDONLY, 0);
	if (fd < 0)
		fail("raw open of %s: %s", t.path, strerror(-fd));
	t.raw_fd = fd;
}

static void freeze(void)
{
	char msg[512];

	t.phase = "freeze";
	t.step = 0;
	if (selffreeze_begin(&t.snap, t.path, msg, sizeof(msg)))
		fail("%s", msg);
	t.frozen = true;
	/* Guarantee 1: everything written before Freeze is on disk. */
	check_disk(m.data, m.size, "at Freeze, disk differs from what was written before it");
	free(t.image);
	t.image = malloc(m.size ? m.size : 1);
	if (!t.image)
		fail("out of memory");
	memcpy(t.image, m.data, m.size);
	t.image_size = m.size;
}

/* After Thaw the kernel's own offsets must be the ones the application saw. */
static void check_raw_offsets(void)
{
	for (int i = 0; i < NFD; i++) {
		long pos;

		if (m.fd[i] < 0)
			continue;
		pos = raw_syscall4(SYS_lseek, m.fd[i], 0, SEEK_CUR, 0);
		if (pos != m.desc[m.fd_desc[i]].off)
			fail("after Thaw, the kernel offset of %s is %ld, the application saw %lld",
			     fd_name[i], pos, (long long)m.desc[m.fd_desc[i]].off);
	}
}

static void thaw(void)
{
	char msg[512];

	t.phase = "thaw";
	t.step = 0;
	t.frozen = false;
	if (selffreeze_end(t.snap, msg, sizeof(msg)))
		fail("%s", msg);
	check_disk(m.data, m.size, "after Thaw, disk differs from the model");
	check_raw_offsets();
}

static unsigned long env_ulong(const char *name, unsigned long def)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "overlay_prop: %s=%s is not a number; unset it or give one\n", name, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	bool use_freeze = true;
	unsigned long steps, cycles;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--no-freeze") == 0)
			use_freeze = false;
		else if (strcmp(argv[i], "--fork") == 0)
			t.fork_ops = true;
		else if (strcmp(argv[i], "--stdio") == 0)
			t.stdio_ops = true;
		else if (strcmp(argv[i], "--blocks") == 0)
			t.blocks = true;
		else
			break;
	}
	if (i != argc - 1) {
		fprintf(stderr, "usage: overlay_prop [--no-freeze] [--fork] [--stdio] [--blocks] FILE\n");
		return 2;
	}
	t.path = argv[i];
	if (t.path[0] != '/') {
		fprintf(stderr, "overlay_prop: FILE must be an absolute path (the freeze lists held files by absolute path)\n");
		return 2;
	}
	t.seed = env_ulong("OVERLAY_PROP_SEED", 0x5eed0001);
	steps = env_ulong("OVERLAY_PROP_STEPS", 5000);
	cycles = env_ulong("OVERLAY_PROP_CYCLES", 2);
	rng_state = t.seed;

	open_file();
	run_steps("pre-freeze", PRE_STEPS);
	for (unsigned long c = 0; c < cycles; c++) {
		if (use_freeze)
			freeze();
		run_steps(use_freeze ? "frozen" : "unfrozen (--no-freeze)", steps);
		if (use_freeze)
			thaw();
		run_steps("after thaw", POST_STEPS);
	}
	if (t.stream && fclose(t.stream) != 0)
		fail("fclose(stream): %s", strerror(errno));
	m.fd[FD_STREAM] = -1;
	for (int i = 0; i < NFD; i++)
		if (m.fd[i] >= 0 && close(m.fd[i]) != 0)
			fail("close(%s): %s", fd_name[i], strerror(errno));
	t.phase = "end";
	check_disk(m.data, m.size, "at the end, disk differs from the model");
	printf("overlay_prop: %lu freeze cycle(s) of %lu steps%s%s, seed 0x%" PRIx64
	       ", final size %zu: ok\n", use_freeze ? cycles : 0, steps,
	       t.fork_ops ? " with forked writers" : "", t.stdio_ops ? " with stdio" : "",
	       t.seed, m.size);
	return 0;
}
