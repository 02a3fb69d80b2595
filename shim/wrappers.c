/*
 * The exported wrappers, one per row of funcs.h.
 *
 * Each is defined under a private C name bound to the libc symbol with an
 * asm label (firebuild's way), so glibc's own prototypes and fortify
 * inlines never clash with ours.  While the instance runs, every wrapper is
 * a load, a test and the real call: no lock, no malloc, no stdio, errno as
 * the real call left it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "shim.h"


/*
 * Writes to sockets, pipes and devices are never held, and a blocking one
 * must not keep Freeze waiting at the gate: remember, per descriptor, that
 * it is not a regular file (one fstat in the descriptor's life).
 */
#define FDMAX 65536
enum { KIND_UNKNOWN, KIND_FILE, KIND_OTHER };
static _Atomic uint8_t fd_kind[FDMAX];

static bool fd_kind_slow(int fd) __attribute__((cold, noinline));
static bool fd_kind_slow(int fd)
{
	struct stat64 st;
	int saved = errno;
	uint8_t k = KIND_UNKNOWN;

	if (REAL(fstat64)(fd, &st) == 0) {
		k = S_ISREG(st.st_mode) ? KIND_FILE : KIND_OTHER;
		atomic_store_explicit(&fd_kind[fd], k, memory_order_relaxed);
	}
	errno = saved;
	return k == KIND_OTHER;
}

static inline bool never_held(int fd)
{
	uint8_t k;

	if ((unsigned)fd >= FDMAX)
		return false;
	k = atomic_load_explicit(&fd_kind[fd], memory_order_relaxed);
	if (__builtin_expect(k != KIND_UNKNOWN, 1))
		return k == KIND_OTHER;
	return fd_kind_slow(fd);
}

static void fd_changed(int fd)
{
	if (fd >= 0 && fd < FDMAX)
		atomic_store_explicit(&fd_kind[fd], KIND_UNKNOWN, memory_order_relaxed);
	js_forget_fd(fd);
}

/* A mutation: straight through the gate, or held. */
#define MUTATE(fd, real_call, hold_call) \
	do { \
		ssize_t r_; \
		_Atomic long *c_; \
		if (never_held(fd)) \
			return real_call; \
		if (__builtin_expect(js_gate_enter(&c_), 1)) { \
			r_ = real_call; \
			js_gate_exit(c_); \
			return r_; \
		} \
		r_ = hold_call; \
		return r_ != JS_NOT_HELD ? r_ : real_call; \
	} while (0)

/* A read: straight through unless frozen and the file has held data. */
#define OBSERVE(fd, real_call, overlay_call) \
	do { \
		ssize_t r_; \
		if (__builtin_expect(js_running(), 1) || never_held(fd)) \
			return real_call; \
		r_ = overlay_call; \
		return r_ != JS_NOT_HELD ? r_ : real_call; \
	} while (0)

#define IOV1(buf, n) (&(struct iovec){ (void *)(buf), (n) })

/* ---- writes ---- */

WRAP(ssize_t, write, (int fd, const void *buf, size_t n))
{
	MUTATE(fd, REAL(write)(fd, buf, n), js_hold_write(fd, IOV1(buf, n), 1, 0, JS_AT_CURSOR));
}

WRAP(ssize_t, pwrite, (int fd, const void *buf, size_t n, off_t off))
{
	MUTATE(fd, REAL(pwrite)(fd, buf, n, off), js_hold_write(fd, IOV1(buf, n), 1, off, JS_AT_OFFSET));
}

WRAP(ssize_t, pwrite64, (int fd, const void *buf, size_t n, off64_t off))
{
	MUTATE(fd, REAL(pwrite64)(fd, buf, n, off), js_hold_write(fd, IOV1(buf, n), 1, off, JS_AT_OFFSET));
}

WRAP(ssize_t, writev, (int fd, const struct iovec *iov, int cnt))
{
	MUTATE(fd, REAL(writev)(fd, iov, cnt), js_hold_write(fd, iov, cnt, 0, JS_AT_CURSOR));
}

WRAP(ssize_t, pwritev, (int fd, const struct iovec *iov, int cnt, off_t off))
{
	MUTATE(fd, REAL(pwritev)(fd, iov, cnt, off), js_hold_write(fd, iov, cnt, off, JS_AT_OFFSET));
}

WRAP(ssize_t, pwritev64, (int fd, const struct iovec *iov, int cnt, off64_t off))
{
	MUTATE(fd, REAL(pwritev64)(fd, iov, cnt, off), js_hold_write(fd, iov, cnt, off, JS_AT_OFFSET));
}

/* pwritev2: offset -1 means "at the cursor"; RWF_APPEND means "at the end". */
static enum js_pos v2_pos(off64_t off, int flags)
{
	if (flags & RWF_APPEND)
		return JS_AT_END;
	return off == -1 ? JS_AT_CURSOR : JS_AT_OFFSET;
}

WRAP(ssize_t, pwritev2, (int fd, const struct iovec *iov, int cnt, off_t off, int flags))
{
	MUTATE(fd, REAL(pwritev2)(fd, iov, cnt, off, flags),
	       js_hold_write(fd, iov, cnt, off, v2_pos(off, flags)));
}

WRAP(ssize_t, pwritev64v2, (int fd, const struct iovec *iov, int cnt, off64_t off, int flags))
{
	MUTATE(fd, REAL(pwritev64v2)(fd, iov, cnt, off, flags),
	       js_hold_write(fd, iov, cnt, off, v2_pos(off, flags)));
}

/* ---- reads ---- */

WRAP(ssize_t, read, (int fd, void *buf, size_t n))
{
	OBSERVE(fd, REAL(read)(fd, buf, n), js_overlay_read(fd, IOV1(buf, n), 1, 0, JS_AT_CURSOR));
}

WRAP(ssize_t, pread, (int fd, void *buf, size_t n, off_t off))
{
	OBSERVE(fd, REAL(pread)(fd, buf, n, off), js_overlay_read(fd, IOV1(buf, n), 1, off, JS_AT_OFFSET));
}

WRAP(ssize_t, pread64, (int fd, void *buf, size_t n, off64_t off))
{
	OBSERVE(fd, REAL(pread64)(fd, buf, n, off), js_overlay_read(fd, IOV1(buf, n), 1, off, JS_AT_OFFSET));
}

/* Fortified reads: past the buffer, the real one reports the overflow. */
WRAP(ssize_t, __read_chk, (int fd, void *buf, size_t n, size_t buflen))
{
	if (n > buflen)
		return REAL(__read_chk)(fd, buf, n, buflen);
	OBSERVE(fd, REAL(__read_chk)(fd, buf, n, buflen), js_overlay_read(fd, IOV1(buf, n), 1, 0, JS_AT_CURSOR));
}

WRAP(ssize_t, __pread_chk, (int fd, void *buf, size_t n, off_t off, size_t buflen))
{
	if (n > buflen)
		return REAL(__pread_chk)(fd, buf, n, off, buflen);
	OBSERVE(fd, REAL(__pread_chk)(fd, buf, n, off, buflen),
		js_overlay_read(fd, IOV1(buf, n), 1, off, JS_AT_OFFSET));
}

WRAP(ssize_t, __pread64_chk, (int fd, void *buf, size_t n, off64_t off, size_t buflen))
{
	if (n > buflen)
		return REAL(__pread64_chk)(fd, buf, n, off, buflen);
	OBSERVE(fd, REAL(__pread64_chk)(fd, buf, n, off, buflen),
		js_overlay_read(fd, IOV1(buf, n), 1, off, JS_AT_OFFSET));
}

WRAP(ssize_t, readv, (int fd, const struct iovec *iov, int cnt))
{
	OBSERVE(fd, REAL(readv)(fd, iov, cnt), js_overlay_read(fd, iov, cnt, 0, JS_AT_CURSOR));
}

WRAP(ssize_t, preadv, (int fd, const struct iovec *iov, int cnt, off_t off))
{
	OBSERVE(fd, REAL(preadv)(fd, iov, cnt, off), js_overlay_read(fd, iov, cnt, off, JS_AT_OFFSET));
}

WRAP(ssize_t, preadv64, (int fd, const struct iovec *iov, int cnt, off64_t off))
{
	OBSERVE(fd, REAL(preadv64)(fd, iov, cnt, off), js_overlay_read(fd, iov, cnt, off, JS_AT_OFFSET));
}

WRAP(ssize_t, preadv2, (int fd, const struct iovec *iov, int cnt, off_t off, int flags))
{
	OBSERVE(fd, REAL(preadv2)(fd, iov, cnt, off, flags),
		js_overlay_read(fd, iov, cnt, off, off == -1 ? JS_AT_CURSOR : JS_AT_OFFSET));
}

WRAP(ssize_t, preadv64v2, (int fd, const struct iovec *iov, int cnt, off64_t off, int flags))
{
	OBSERVE(fd, REAL(preadv64v2)(fd, iov, cnt, off, flags),
		js_overlay_read(fd, iov, cnt, off, off == -1 ? JS_AT_CURSOR : JS_AT_OFFSET));
}

/* ---- sizes ---- */

/*
 * The size a stat reports is the held size while frozen.  A stat made
 * while frozen is made again if the drain ended before its size could be
 * taken from the view: it may have missed what the drain wrote.
 */
static inline uint64_t stat_epoch(void)
{
	return js_running() ? JS_ANY_EPOCH : js_freeze_epoch();
}

#define STAT_OVERLAY(call, st) \
	for (;;) { \
		uint64_t e_ = stat_epoch(); \
		int r_ = call; \
		if (__builtin_expect(js_running(), 1) || r_ != 0) \
			return r_; \
		off64_t size_ = (st)->st_size; \
		blkcnt64_t blocks_ = (st)->st_blocks; \
		if (js_overlay_size((st)->st_dev, (st)->st_ino, e_, &size_, &blocks_)) \
			continue; \
		(st)->st_size = size_; \
		(st)->st_blocks = blocks_; \
		return r_; \
	}

WRAP(int, fstat, (int fd, struct stat *st))
{
	STAT_OVERLAY(REAL(fstat)(fd, st), st);
}

WRAP(int, fstat64, (int fd, struct stat64 *st))
{
	STAT_OVERLAY(REAL(fstat64)(fd, st), st);
}

WRAP(int, stat, (const char *path, struct stat *st))
{
	STAT_OVERLAY(REAL(stat)(path, st), st);
}

WRAP(int, stat64, (const char *path, struct stat64 *st))
{
	STAT_OVERLAY(REAL(stat64)(path, st), st);
}

WRAP(int, lstat, (const char *path, struct stat *st))
{
	STAT_OVERLAY(REAL(lstat)(path, st), st);
}

WRAP(int, lstat64, (const char *path, struct stat64 *st))
{
	STAT_OVERLAY(REAL(lstat64)(path, st), st);
}

WRAP(int, fstatat, (int dirfd, const char *path, struct stat *st, int flags))
{
	STAT_OVERLAY(REAL(fstatat)(dirfd, path, st, flags), st);
}

WRAP(int, fstatat64, (int dirfd, const char *path, struct stat64 *st, int flags))
{
	STAT_OVERLAY(REAL(fstatat64)(dirfd, path, st, flags), st);
}

WRAP(int, statx, (int dirfd, const char *path, int flags, unsigned mask, struct statx *stx))
{
	for (;;) {
		uint64_t e = stat_epoch();
		int r = REAL(statx)(dirfd, path, flags, mask, stx);
		off64_t size;
		blkcnt64_t blocks;

		if (__builtin_expect(js_running(), 1) || r != 0 || !(stx->stx_mask & STATX_SIZE))
			return r;
		size = stx->stx_size;
		blocks = stx->stx_blocks;
		if (js_overlay_size(makedev(stx->stx_dev_major, stx->stx_dev_minor), stx->stx_ino, e,
				    &size, &blocks))
			continue;
		stx->stx_size = size;
		stx->stx_blocks = blocks;
		return r;
	}
}

WRAP(int, __fxstat, (int ver, int fd, struct stat *st))
{
	STAT_OVERLAY(REAL(__fxstat)(ver, fd, st), st);
}

WRAP(int, __fxstat64, (int ver, int fd, struct stat64 *st))
{
	STAT_OVERLAY(REAL(__fxstat64)(ver, fd, st), st);
}

WRAP(int, __xstat, (int ver, const char *path, struct stat *st))
{
	STAT_OVERLAY(REAL(__xstat)(ver, path, st), st);
}

WRAP(int, __xstat64, (int ver, const char *path, struct stat64 *st))
{
	STAT_OVERLAY(REAL(__xstat64)(ver, path, st), st);
}

WRAP(int, __lxstat, (int ver, const char *path, struct stat *st))
{
	STAT_OVERLAY(REAL(__lxstat)(ver, path, st), st);
}

WRAP(int, __lxstat64, (int ver, const char *path, struct stat64 *st))
{
	STAT_OVERLAY(REAL(__lxstat64)(ver, path, st), st);
}

WRAP(int, __fxstatat, (int ver, int dirfd, const char *path, struct stat *st, int flags))
{
	STAT_OVERLAY(REAL(__fxstatat)(ver, dirfd, path, st, flags), st);
}

WRAP(int, __fxstatat64, (int ver, int dirfd, const char *path, struct stat64 *st, int flags))
{
	STAT_OVERLAY(REAL(__fxstatat64)(ver, dirfd, path, st, flags), st);
}

WRAP(off_t, lseek, (int fd, off_t off, int whence))
{
	OBSERVE(fd, REAL(lseek)(fd, off, whence), js_overlay_seek(fd, off, whence));
}

WRAP(off64_t, lseek64, (int fd, off64_t off, int whence))
{
	OBSERVE(fd, REAL(lseek64)(fd, off, whence), js_overlay_seek(fd, off, whence));
}

/* ---- sync: durable in the hold journal while the data is held ---- */

WRAP(int, fsync, (int fd))
{
	int r = js_sync_held(fd);

	return r != JS_NOT_HELD ? r : REAL(fsync)(fd);
}

WRAP(int, fdatasync, (int fd))
{
	int r = js_sync_held(fd);

	return r != JS_NOT_HELD ? r : REAL(fdatasync)(fd);
}

/*
 * Write-back alone (PostgreSQL's SYNC_FILE_RANGE_WRITE) is a hint with no
 * durability promise and passes through; one that waits for the write-back
 * of held data makes the journal durable instead, like fsync.
 */
WRAP(int, sync_file_range, (int fd, off64_t off, off64_t n, unsigned flags))
{
	if (flags & SYNC_FILE_RANGE_WAIT_AFTER) {
		int r = js_sync_held(fd);

		if (r != JS_NOT_HELD)
			return r;
	}
	return REAL(sync_file_range)(fd, off, n, flags);
}

/* Everything else on the filesystem is flushed as asked; held data is made
 * durable in the journal first. */
WRAP(int, syncfs, (int fd))
{
	js_sync_all_held();
	return REAL(syncfs)(fd);
}

WRAP(void, sync, (void))
{
	js_sync_all_held();
	REAL(sync)();
}

/* Shared writable mappings of held files are refused at Freeze or wait at
 * mmap, so what msync flushes is never held data. */
WRAP(int, msync, (void *addr, size_t len, int flags))
{
	return REAL(msync)(addr, len, flags);
}

/* ---- size changes: truncates are held, allocation waits ---- */

/*
 * A change that cannot be held passes the gate like a write, so that Freeze
 * also waits for one in flight; once frozen it waits for the thaw instead.
 */
#define GATED(wait_stmt, call) \
	do { \
		_Atomic long *c_; \
		if (__builtin_expect(js_gate_enter(&c_), 1)) { \
			__typeof__(call) r_ = call; \
			js_gate_exit(c_); \
			return r_; \
		} \
		wait_stmt; \
		return call; \
	} while (0)
#define WAIT_FD(fd, call) GATED(js_wait_if_held_fd(fd, true), call)
#define WAIT_PATH(dirfd, path, call) GATED(js_wait_if_held_path(dirfd, path), call)

/* Held while frozen, like a write; a file that is not held is cut now. */
#define TRUNCATE(fd, path, len, call) \
	do { \
		int r_; \
		_Atomic long *c_; \
		if (__builtin_expect(js_gate_enter(&c_), 1)) { \
			r_ = call; \
			js_gate_exit(c_); \
			return r_; \
		} \
		r_ = js_hold_truncate(fd, path, len); \
		return r_ != JS_NOT_HELD ? r_ : call; \
	} while (0)

WRAP(int, ftruncate, (int fd, off_t len))
{
	TRUNCATE(fd, NULL, len, REAL(ftruncate)(fd, len));
}

WRAP(int, ftruncate64, (int fd, off64_t len))
{
	TRUNCATE(fd, NULL, len, REAL(ftruncate64)(fd, len));
}

WRAP(int, truncate, (const char *path, off_t len))
{
	TRUNCATE(-1, path, len, REAL(truncate)(path, len));
}

WRAP(int, truncate64, (const char *path, off64_t len))
{
	TRUNCATE(-1, path, len, REAL(truncate64)(path, len));
}

WRAP(int, fallocate, (int fd, int mode, off_t off, off_t len))
{
	WAIT_FD(fd, REAL(fallocate)(fd, mode, off, len));
}

WRAP(int, fallocate64, (int fd, int mode, off64_t off, off64_t len))
{
	WAIT_FD(fd, REAL(fallocate64)(fd, mode, off, len));
}

WRAP(int, posix_fallocate, (int fd, off_t off, off_t len))
{
	WAIT_FD(fd, REAL(posix_fallocate)(fd, off, len));
}

WRAP(int, posix_fallocate64, (int fd, off64_t off, off64_t len))
{
	WAIT_FD(fd, REAL(posix_fallocate64)(fd, off, len));
}

/* ---- names: wait in a held directory ---- */

WRAP(int, rename, (const char *from, const char *to))
{
	GATED((js_wait_if_held_path(AT_FDCWD, from), js_wait_if_held_path(AT_FDCWD, to)), REAL(rename)(from, to));
}

WRAP(int, renameat, (int fromfd, const char *from, int tofd, const char *to))
{
	GATED((js_wait_if_held_path(fromfd, from), js_wait_if_held_path(tofd, to)), REAL(renameat)(fromfd, from, tofd, to));
}

WRAP(int, renameat2, (int fromfd, const char *from, int tofd, const char *to, unsigned flags))
{
	GATED((js_wait_if_held_path(fromfd, from), js_wait_if_held_path(tofd, to)), REAL(renameat2)(fromfd, from, tofd, to, flags));
}

WRAP(int, unlink, (const char *path))
{
	WAIT_PATH(AT_FDCWD, path, REAL(unlink)(path));
}

WRAP(int, unlinkat, (int dirfd, const char *path, int flags))
{
	WAIT_PATH(dirfd, path, REAL(unlinkat)(dirfd, path, flags));
}

WRAP(int, link, (const char *from, const char *to))
{
	WAIT_PATH(AT_FDCWD, to, REAL(link)(from, to));
}

WRAP(int, linkat, (int fromfd, const char *from, int tofd, const char *to, int flags))
{
	WAIT_PATH(tofd, to, REAL(linkat)(fromfd, from, tofd, to, flags));
}

WRAP(int, mkdir, (const char *path, mode_t mode))
{
	WAIT_PATH(AT_FDCWD, path, REAL(mkdir)(path, mode));
}

WRAP(int, mkdirat, (int dirfd, const char *path, mode_t mode))
{
	WAIT_PATH(dirfd, path, REAL(mkdirat)(dirfd, path, mode));
}

WRAP(int, rmdir, (const char *path))
{
	WAIT_PATH(AT_FDCWD, path, REAL(rmdir)(path));
}

/* ---- opening ---- */

/* The mode argument exists only when the flags say so (O_TMPFILE too). */
#define OPEN_MODE(flags, last) \
	mode_t mode = 0; \
	if (__OPEN_NEEDS_MODE(flags)) { \
		va_list ap; \
		va_start(ap, last); \
		mode = va_arg(ap, mode_t); \
		va_end(ap); \
	}

/* Creating or truncating is a namespace or size change; a plain open is
 * not, and must not pass the gate: opening a FIFO can block for ever. */
#define OPEN(dirfd, path, flags, call) \
	do { \
		if (!((flags) & (O_CREAT | O_TRUNC))) \
			return opened(call); \
		GATED(js_wait_for_open(dirfd, path, flags), opened(call)); \
	} while (0)

/* The descriptor number may have been someone else's a moment ago. */
static int opened(int fd)
{
	if (fd >= 0)
		fd_changed(fd);
	return fd;
}

WRAP(int, open, (const char *path, int flags, ...))
{
	OPEN_MODE(flags, flags);
	OPEN(AT_FDCWD, path, flags, REAL(open)(path, flags, mode));
}

WRAP(int, open64, (const char *path, int flags, ...))
{
	OPEN_MODE(flags, flags);
	OPEN(AT_FDCWD, path, flags, REAL(open64)(path, flags, mode));
}

WRAP(int, openat, (int dirfd, const char *path, int flags, ...))
{
	OPEN_MODE(flags, flags);
	OPEN(dirfd, path, flags, REAL(openat)(dirfd, path, flags, mode));
}

WRAP(int, openat64, (int dirfd, const char *path, int flags, ...))
{
	OPEN_MODE(flags, flags);
	OPEN(dirfd, path, flags, REAL(openat64)(dirfd, path, flags, mode));
}

WRAP(int, creat, (const char *path, mode_t mode))
{
	OPEN(AT_FDCWD, path, O_CREAT | O_TRUNC, REAL(creat)(path, mode));
}

WRAP(int, creat64, (const char *path, mode_t mode))
{
	OPEN(AT_FDCWD, path, O_CREAT | O_TRUNC, REAL(creat64)(path, mode));
}

WRAP(int, __open_2, (const char *path, int flags))
{
	OPEN(AT_FDCWD, path, flags, REAL(__open_2)(path, flags));
}

WRAP(int, __open64_2, (const char *path, int flags))
{
	OPEN(AT_FDCWD, path, flags, REAL(__open64_2)(path, flags));
}

WRAP(int, __openat_2, (int dirfd, const char *path, int flags))
{
	OPEN(dirfd, path, flags, REAL(__openat_2)(dirfd, path, flags));
}

WRAP(int, __openat64_2, (int dirfd, const char *path, int flags))
{
	OPEN(dirfd, path, flags, REAL(__openat64_2)(dirfd, path, flags));
}

/* ---- descriptor life ---- */

/* The shim's own descriptors (control socket, hold log, drain) look closed
 * to the application, as fakeroot and firebuild do with theirs. */
static int refuse_own(void)
{
	errno = EBADF;
	return -1;
}

WRAP(int, close, (int fd))
{
	if (js_is_own_fd(fd))
		return refuse_own();
	fd_changed(fd);
	return REAL(close)(fd);
}

WRAP(int, close_range, (unsigned first, unsigned last, int flags))
{
	unsigned from = first;

	/* Close around our descriptors, range by range. */
	for (unsigned fd = first; fd <= last && fd < FDMAX; fd++) {
		if (!js_is_own_fd(fd))
			continue;
		if (fd > from && REAL(close_range)(from, fd - 1, flags) < 0)
			return -1;
		from = fd + 1;
	}
	if (!(flags & CLOSE_RANGE_CLOEXEC))
		for (unsigned fd = first; fd <= last && fd < FDMAX; fd++)
			if (!js_is_own_fd(fd))
				fd_changed(fd);
	return from > last || from < first ? 0 : REAL(close_range)(from, last, flags);
}

/* glibc's closefrom would close ours too: close around them instead. */
WRAP(void, closefrom, (int first))
{
	if (first < 0)
		first = 0;
	if (js_w_close_range(first, ~0u, 0) < 0)
		for (int fd = first; fd < FDMAX; fd++)
			if (!js_is_own_fd(fd))
				js_w_close(fd);
}

WRAP(int, dup, (int fd))
{
	if (js_is_own_fd(fd))
		return refuse_own();
	return opened(REAL(dup)(fd));
}

WRAP(int, dup2, (int fd, int fd2))
{
	if (js_is_own_fd(fd) || js_is_own_fd(fd2))
		return refuse_own();
	return opened(REAL(dup2)(fd, fd2));
}

WRAP(int, dup3, (int fd, int fd2, int flags))
{
	if (js_is_own_fd(fd) || js_is_own_fd(fd2))
		return refuse_own();
	return opened(REAL(dup3)(fd, fd2, flags));
}

/*
 * fcntl's third argument is an int or a pointer depending on cmd; passing
 * it on as a pointer-sized value is what glibc itself does.
 */
static int fcntl_common(js_fcntl_fn *real, int fd, int cmd, void *arg)
{
	int r;

	if (js_is_own_fd(fd))
		return refuse_own();
	r = real(fd, cmd, arg);
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		return opened(r);
	if (cmd == F_SETFL && r == 0)
		js_forget_fd(fd);	/* O_APPEND may have changed */
	return r;
}

WRAP(int, fcntl, (int fd, int cmd, ...))
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(REAL(fcntl), fd, cmd, arg);
}

WRAP(int, fcntl64, (int fd, int cmd, ...))
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(REAL(fcntl64), fd, cmd, arg);
}

/* ---- mappings and in-kernel copies ---- */

WRAP(void *, mmap, (void *addr, size_t len, int prot, int flags, int fd, off_t off))
{
	if (fd < 0 || !(flags & MAP_SHARED))
		return REAL(mmap)(addr, len, prot, flags, fd, off);
	GATED(js_wait_for_map(fd, prot, flags), REAL(mmap)(addr, len, prot, flags, fd, off));
}

WRAP(void *, mmap64, (void *addr, size_t len, int prot, int flags, int fd, off64_t off))
{
	if (fd < 0 || !(flags & MAP_SHARED))
		return REAL(mmap64)(addr, len, prot, flags, fd, off);
	GATED(js_wait_for_map(fd, prot, flags), REAL(mmap64)(addr, len, prot, flags, fd, off));
}

/*
 * The kernel would copy into a held file, or out of one without its held
 * bytes: both wait for the freeze to end.  sendfile and splice do not pass
 * the gate (their other end may be a socket or pipe that blocks for ever),
 * so one already in flight when Freeze is called may still land.
 */
static void wait_for_copy(int in, int out)
{
	js_wait_if_held_fd(out, true);
	js_wait_if_held_fd(in, false);
}

WRAP(ssize_t, copy_file_range, (int in, off64_t *inoff, int out, off64_t *outoff, size_t n, unsigned flags))
{
	GATED(wait_for_copy(in, out), REAL(copy_file_range)(in, inoff, out, outoff, n, flags));
}

WRAP(ssize_t, sendfile, (int out, int in, off_t *off, size_t n))
{
	wait_for_copy(in, out);
	return REAL(sendfile)(out, in, off, n);
}

WRAP(ssize_t, sendfile64, (int out, int in, off64_t *off, size_t n))
{
	wait_for_copy(in, out);
	return REAL(sendfile64)(out, in, off, n);
}

WRAP(ssize_t, splice, (int in, off64_t *inoff, int out, off64_t *outoff, size_t n, unsigned flags))
{
	wait_for_copy(in, out);
	return REAL(splice)(in, inoff, out, outoff, n, flags);
}
