/*
 * The interposition table: every libc function the shim wraps, once.
 *
 *   X(ret, name, params, class)
 *
 * It gives the real-function pointers and their resolution (real.c), the
 * exported-symbol list (checked by tests/nm_audit.sh) and the class that
 * decides how a wrapper treats the call while frozen:
 *   WRITE  held and answered at once        READ   overlaid with held data
 *   STAT   sizes overlaid                   SEEK   positions overlaid
 *   SYNC   waits while its data is held     SIZE   waits on a held file
 *   NAME   waits in a held directory        OPEN   waits if it would truncate
 *                                                  or create in a held dir
 *   FD     descriptor bookkeeping           MAP    waits on a held file
 *   COPY   in-kernel copies: wait on a held file
 *   STDIO  streams on holdable files do their I/O through the rows above
 *          (shim/stdio.c); fileno gives such a stream's real descriptor
 *
 * The __*xstat* rows are glibc < 2.33's stat entry points, kept by glibc as
 * compatibility symbols for binaries linked against it; the __*_chk rows
 * are what _FORTIFY_SOURCE builds (Debian's packages) call for read/pread.
 *
 * The shim is compiled without _FILE_OFFSET_BITS, so off_t and off64_t are
 * distinct here and each 64-bit twin has its own correctly typed entry.
 *
 * EXTRA_EXPORTS: (none — the control protocol is served over a socket)
 */
#ifndef JETSNAP_FUNCS_H
#define JETSNAP_FUNCS_H

#include <stdio.h>	/* FILE, for the STDIO rows */

#define JS_FUNCS(X) \
	X(ssize_t, write, (int fd, const void *buf, size_t n), WRITE) \
	X(ssize_t, pwrite, (int fd, const void *buf, size_t n, off_t off), WRITE) \
	X(ssize_t, pwrite64, (int fd, const void *buf, size_t n, off64_t off), WRITE) \
	X(ssize_t, writev, (int fd, const struct iovec *iov, int cnt), WRITE) \
	X(ssize_t, pwritev, (int fd, const struct iovec *iov, int cnt, off_t off), WRITE) \
	X(ssize_t, pwritev64, (int fd, const struct iovec *iov, int cnt, off64_t off), WRITE) \
	X(ssize_t, pwritev2, (int fd, const struct iovec *iov, int cnt, off_t off, int flags), WRITE) \
	X(ssize_t, pwritev64v2, (int fd, const struct iovec *iov, int cnt, off64_t off, int flags), WRITE) \
	X(ssize_t, read, (int fd, void *buf, size_t n), READ) \
	X(ssize_t, pread, (int fd, void *buf, size_t n, off_t off), READ) \
	X(ssize_t, pread64, (int fd, void *buf, size_t n, off64_t off), READ) \
	X(ssize_t, __read_chk, (int fd, void *buf, size_t n, size_t buflen), READ) \
	X(ssize_t, __pread_chk, (int fd, void *buf, size_t n, off_t off, size_t buflen), READ) \
	X(ssize_t, __pread64_chk, (int fd, void *buf, size_t n, off64_t off, size_t buflen), READ) \
	X(ssize_t, readv, (int fd, const struct iovec *iov, int cnt), READ) \
	X(ssize_t, preadv, (int fd, const struct iovec *iov, int cnt, off_t off), READ) \
	X(ssize_t, preadv64, (int fd, const struct iovec *iov, int cnt, off64_t off), READ) \
	X(ssize_t, preadv2, (int fd, const struct iovec *iov, int cnt, off_t off, int flags), READ) \
	X(ssize_t, preadv64v2, (int fd, const struct iovec *iov, int cnt, off64_t off, int flags), READ) \
	X(int, fstat, (int fd, struct stat *st), STAT) \
	X(int, fstat64, (int fd, struct stat64 *st), STAT) \
	X(int, stat, (const char *path, struct stat *st), STAT) \
	X(int, stat64, (const char *path, struct stat64 *st), STAT) \
	X(int, lstat, (const char *path, struct stat *st), STAT) \
	X(int, lstat64, (const char *path, struct stat64 *st), STAT) \
	X(int, fstatat, (int dirfd, const char *path, struct stat *st, int flags), STAT) \
	X(int, fstatat64, (int dirfd, const char *path, struct stat64 *st, int flags), STAT) \
	X(int, statx, (int dirfd, const char *path, int flags, unsigned mask, struct statx *stx), STAT) \
	X(int, __fxstat, (int ver, int fd, struct stat *st), STAT) \
	X(int, __fxstat64, (int ver, int fd, struct stat64 *st), STAT) \
	X(int, __xstat, (int ver, const char *path, struct stat *st), STAT) \
	X(int, __xstat64, (int ver, const char *path, struct stat64 *st), STAT) \
	X(int, __lxstat, (int ver, const char *path, struct stat *st), STAT) \
	X(int, __lxstat64, (int ver, const char *path, struct stat64 *st), STAT) \
	X(int, __fxstatat, (int ver, int dirfd, const char *path, struct stat *st, int flags), STAT) \
	X(int, __fxstatat64, (int ver, int dirfd, const char *path, struct stat64 *st, int flags), STAT) \
	X(off_t, lseek, (int fd, off_t off, int whence), SEEK) \
	X(off64_t, lseek64, (int fd, off64_t off, int whence), SEEK) \
	X(int, fsync, (int fd), SYNC) \
	X(int, fdatasync, (int fd), SYNC) \
	X(int, sync_file_range, (int fd, off64_t off, off64_t n, unsigned flags), SYNC) \
	X(int, syncfs, (int fd), SYNC) \
	X(void, sync, (void), SYNC) \
	X(int, msync, (void *addr, size_t len, int flags), SYNC) \
	X(int, ftruncate, (int fd, off_t len), SIZE) \
	X(int, ftruncate64, (int fd, off64_t len), SIZE) \
	X(int, truncate, (const char *path, off_t len), SIZE) \
	X(int, truncate64, (const char *path, off64_t len), SIZE) \
	X(int, fallocate, (int fd, int mode, off_t off, off_t len), SIZE) \
	X(int, fallocate64, (int fd, int mode, off64_t off, off64_t len), SIZE) \
	X(int, posix_fallocate, (int fd, off_t off, off_t len), SIZE) \
	X(int, posix_fallocate64, (int fd, off64_t off, off64_t len), SIZE) \
	X(int, rename, (const char *from, const char *to), NAME) \
	X(int, renameat, (int fromfd, const char *from, int tofd, const char *to), NAME) \
	X(int, renameat2, (int fromfd, const char *from, int tofd, const char *to, unsigned flags), NAME) \
	X(int, unlink, (const char *path), NAME) \
	X(int, unlinkat, (int dirfd, const char *path, int flags), NAME) \
	X(int, link, (const char *from, const char *to), NAME) \
	X(int, linkat, (int fromfd, const char *from, int tofd, const char *to, int flags), NAME) \
	X(int, mkdir, (const char *path, mode_t mode), NAME) \
	X(int, mkdirat, (int dirfd, const char *path, mode_t mode), NAME) \
	X(int, rmdir, (const char *path), NAME) \
	X(int, open, (const char *path, int flags, ...), OPEN) \
	X(int, open64, (const char *path, int flags, ...), OPEN) \
	X(int, openat, (int dirfd, const char *path, int flags, ...), OPEN) \
	X(int, openat64, (int dirfd, const char *path, int flags, ...), OPEN) \
	X(int, creat, (const char *path, mode_t mode), OPEN) \
	X(int, creat64, (const char *path, mode_t mode), OPEN) \
	X(int, __open_2, (const char *path, int flags), OPEN) \
	X(int, __open64_2, (const char *path, int flags), OPEN) \
	X(int, __openat_2, (int dirfd, const char *path, int flags), OPEN) \
	X(int, __openat64_2, (int dirfd, const char *path, int flags), OPEN) \
	X(int, close, (int fd), FD) \
	X(int, close_range, (unsigned first, unsigned last, int flags), FD) \
	X(void, closefrom, (int first), FD) \
	X(int, dup, (int fd), FD) \
	X(int, dup2, (int fd, int fd2), FD) \
	X(int, dup3, (int fd, int fd2, int flags), FD) \
	X(int, fcntl, (int fd, int cmd, ...), FD) \
	X(int, fcntl64, (int fd, int cmd, ...), FD) \
	X(void *, mmap, (void *addr, size_t len, int prot, int flags, int fd, off_t off), MAP) \
	X(void *, mmap64, (void *addr, size_t len, int prot, int flags, int fd, off64_t off), MAP) \
	X(ssize_t, copy_file_range, (int in, off64_t *inoff, int out, off64_t *outoff, size_t n, unsigned flags), COPY) \
	X(ssize_t, sendfile, (int out, int in, off_t *off, size_t n), COPY) \
	X(ssize_t, sendfile64, (int out, int in, off64_t *off, size_t n), COPY) \
	X(ssize_t, splice, (int in, off64_t *inoff, int out, off64_t *outoff, size_t n, unsigned flags), COPY) \
	X(FILE *, fopen, (const char *path, const char *mode), STDIO) \
	X(FILE *, fopen64, (const char *path, const char *mode), STDIO) \
	X(FILE *, fdopen, (int fd, const char *mode), STDIO) \
	X(FILE *, freopen, (const char *path, const char *mode, FILE *fp), STDIO) \
	X(FILE *, freopen64, (const char *path, const char *mode, FILE *fp), STDIO) \
	X(int, fileno, (FILE *fp), STDIO) \
	X(int, fileno_unlocked, (FILE *fp), STDIO)

#endif
