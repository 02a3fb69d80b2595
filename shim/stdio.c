/*
 * stdio streams on held files.
 *
 * glibc's fwrite, fputs, fprintf, fflush, fclose, fread, fgets... reach the
 * kernel through glibc-internal write/read/lseek, never the exported names,
 * so a stream on a held file would slip past every wrapper (Redis writes its
 * RDB with ~19 000 fwrites and no exported write).  Wrapping the stream
 * functions themselves would mean re-implementing libio; instead the calls
 * that create streams are wrapped: a stream on a regular file the shim may
 * hold is made with fopencookie, and its read/write/seek/close functions
 * call the exported read, write, lseek64 and close — by name, which from
 * inside the shim reaches the shim's own wrappers.  Such a stream is then
 * held, overlaid and drained exactly like its descriptor.  Everything else
 * (pipes, devices, memory-only, volatile and out-of-scope files, the shim's
 * own) gets glibc's ordinary stream, made by the real fdopen.
 *
 * Which streams: every stream on a holdable file, read-only ones too, in
 * every state.  A read-only stream opened while running would otherwise
 * miss held writes made through other descriptors (or processes) of the
 * instance during a later freeze (SPEC "What a freeze guarantees" 3), and
 * "rm" streams read through a mapping the shim cannot overlay.  The price,
 * measured (callgrind, and wall clock on a 2-core VM): fwrite costs the
 * same or less (a cookie stream's buffer is BUFSIZ, 8 KiB, where a file
 * stream takes st_blksize, 4 KiB); fopen+fclose gains an fstat and a
 * readlink (~2.2k more instructions, a few microseconds); a cookie stream
 * reads through its buffer (glibc's _IO_default_xsgetn), so a 1 MiB fread
 * becomes 128 reads and a copy (bulk reads ~2x slower), and an unbuffered
 * (_IONBF) stream reads one byte per call.  Narrowing it to read-only
 * streams opened while frozen is one condition in stream_on().
 *
 * What is kept: mode strings as fopen parses them ("r", "w", "a", "+", "x"
 * = O_EXCL, "e" = O_CLOEXEC, "b"; "m" and "c" are accepted and have no
 * effect on our streams), the open through the shim's
 * open (so "w" on a held file waits, as open(O_TRUNC) does), "a" positioned
 * at the end at open time, setvbuf, ftell/fseek, ungetc, fclose closing the
 * descriptor once, errno of a failed open.  fileno()/fileno_unlocked() of a
 * cookie stream is -1 in glibc, and Redis calls fsync(fileno(fp)): both are
 * wrapped to give the real descriptor from a registry of our streams.
 *
 * Not covered (the real function runs): ",ccs=" (wide-character) modes —
 * glibc cookie streams are byte-oriented only, so on one of our streams
 * fwide() is -1 and fwprintf/fputws fail (a plain file stream would accept
 * them; no database we target writes wide text); freopen of a stream that is
 * not ours onto a held file (glibc's own FILE cannot be turned into a cookie
 * stream in place; logged); stdin/stdout/stderr, which glibc opens itself.
 * freopen of one of our streams must not reach glibc's freopen, which
 * crashes on cookie streams (it writes through their _wide_data, -1;
 * tried), so it is done here; unlike glibc's, it keeps the stream's
 * buffering mode (setvbuf) instead of resetting it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim.h"


/* glibc's libio flag bits (libio.h), unchanged since glibc 2.1. */
#define IO_NO_READS          0x0004
#define IO_NO_WRITES         0x0008
#define IO_CURRENTLY_PUTTING 0x0800
#define IO_IS_APPENDING      0x1000

/* A mode string as glibc's fopen reads it. */
struct js_mode {
	int oflags;		/* for open() */
	int io_flags;		/* IO_NO_READS | IO_NO_WRITES | IO_IS_APPENDING */
	char cookie[3];		/* "r", "w+", ... for fopencookie */
	bool seek_end;		/* "a" without "+": positioned at the end when opened */
};

static bool parse_mode(const char *mode, struct js_mode *m)
{
	memset(m, 0, sizeof *m);
	switch (mode[0]) {
	case 'r':
		m->oflags = O_RDONLY;
		m->io_flags = IO_NO_WRITES;
		break;
	case 'w':
		m->oflags = O_WRONLY | O_CREAT | O_TRUNC;
		m->io_flags = IO_NO_READS;
		break;
	case 'a':
		m->oflags = O_WRONLY | O_CREAT | O_APPEND;
		m->io_flags = IO_NO_READS | IO_IS_APPENDING;
		break;
	default:
		return false;
	}
	m->cookie[0] = mode[0];
	/* glibc looks at six more characters and ignores what it does not know. */
	for (int i = 1; i < 7 && mode[i]; i++) {
		switch (mode[i]) {
		case '+':
			m->oflags = (m->oflags & ~O_ACCMODE) | O_RDWR;
			m->io_flags &= IO_IS_APPENDING;
			m->cookie[1] = '+';
			break;
		case 'x':
			m->oflags |= O_EXCL;
			break;
		case 'e':
			m->oflags |= O_CLOEXEC;
			break;
		}
	}
	m->seek_end = (m->io_flags & (IO_IS_APPENDING | IO_NO_READS)) == (IO_IS_APPENDING | IO_NO_READS);
	return true;
}

/* ---- the registry of our streams: FILE * -> cookie --------------------- */

struct js_stream {
	FILE *fp;
	_Atomic int fd;	/* changed by freopen under the stream's lock; fileno reads it without */
};

/*
 * Open addressing with linear probing and backward-shift deletion, in
 * static memory, under one lock.  Only our own fopen/fclose and fileno of a
 * stream glibc has no descriptor for take it: fileno of an ordinary stream
 * never looks here.
 */
#define NSLOTS 16384
static struct js_stream *slots[NSLOTS];
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(const FILE *fp)
{
	return (size_t)(((uintptr_t)fp >> 4) * 0x9e3779b97f4a7c15ull >> 50) & (NSLOTS - 1);
}

static bool registry_add(struct js_stream *s)
{
	bool ok = false;

	pthread_mutex_lock(&reg_lock);
	for (size_t n = 0, i = slot_of(s->fp); n < NSLOTS; n++, i = (i + 1) & (NSLOTS - 1))
		if (!slots[i]) {
			slots[i] = s;
			ok = true;
			break;
		}
	pthread_mutex_unlock(&reg_lock);
	return ok;
}

/* The slot holding fp, or NSLOTS; with reg_lock held. */
static size_t registry_find_locked(const FILE *fp)
{
	for (size_t n = 0, i = slot_of(fp); n < NSLOTS && slots[i]; n++, i = (i + 1) & (NSLOTS - 1))
		if (slots[i]->fp == fp)
			return i;
	return NSLOTS;
}

static struct js_stream *registry_find(const FILE *fp)
{
	struct js_stream *s;
	size_t i;

	pthread_mutex_lock(&reg_lock);
	i = registry_find_locked(fp);
	s = i < NSLOTS ? slots[i] : NULL;
	pthread_mutex_unlock(&reg_lock);
	return s;
}

static void registry_remove(const FILE *fp)
{
	size_t i, j;

	pthread_mutex_lock(&reg_lock);
	i = registry_find_locked(fp);
	if (i < NSLOTS) {
		/* Pull later members of the run back over the hole, so that a
		 * probe never stops early and no tombstones pile up. */
		slots[i] = NULL;
		for (j = (i + 1) & (NSLOTS - 1); slots[j]; j = (j + 1) & (NSLOTS - 1)) {
			size_t home = slot_of(slots[j]->fp);

			if (((j - home) & (NSLOTS - 1)) >= ((j - i) & (NSLOTS - 1))) {
				slots[i] = slots[j];
				slots[j] = NULL;
				i = j;
			}
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

/* A fork while another thread holds reg_lock must not leave it locked. */
static void reg_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
}

static void reg_release(void)
{
	pthread_mutex_unlock(&reg_lock);
}

__attribute__((constructor)) static void js_stdio_init(void)
{
	pthread_atfork(reg_prepare, reg_release, reg_release);
}

/* ---- the stream's I/O: through the shim's exported wrappers ------------ */

static ssize_t cookie_read(void *c, char *buf, size_t n)
{
	return read(((struct js_stream *)c)->fd, buf, n);
}

/* Like glibc's _IO_new_file_write: all of it, or what got written before
 * an error (glibc marks the stream's error flag on a short count). */
static ssize_t cookie_write(void *c, const char *buf, size_t n)
{
	int fd = ((struct js_stream *)c)->fd;
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, buf + done, n - done);

		if (r <= 0)
			break;
		done += r;
	}
	return done;
}

static int cookie_seek(void *c, off64_t *off, int whence)
{
	off64_t r = lseek64(((struct js_stream *)c)->fd, *off, whence);

	if (r < 0)
		return -1;
	*off = r;
	return 0;
}

static int cookie_close(void *c)
{
	struct js_stream *s = c;
	int r = s->fd >= 0 ? close(s->fd) : 0;
	int saved = errno;

	registry_remove(s->fp);
	free(s);
	errno = saved;
	return r;
}

static const cookie_io_functions_t cookie_io = {
	.read = cookie_read,
	.write = cookie_write,
	.seek = cookie_seek,
	.close = cookie_close,
};

/* ---- which descriptors get a cookie stream ----------------------------- */

/* A regular file whose writes the shim may hold (the engine's rule). */
static bool fd_holdable(int fd)
{
	char link[32], path[PATH_MAX];
	struct stat64 st;
	ssize_t n;

	if (REAL(fstat64)(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink == 0)
		return false;
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof path - 1);
	if (n <= 0)
		return false;
	path[n] = 0;
	return !js_path_is_memory_only(path) && js_path_in_scope(path) &&
	       !js_path_is_volatile(path) && !js_path_is_own(path);
}

/* A cookie stream on fd, which it owns from now on; NULL (fd left open) on
 * failure. */
static FILE *cookie_stream(int fd, const struct js_mode *m)
{
	struct js_stream *s = malloc(sizeof *s);
	FILE *fp;

	if (!s)
		return NULL;
	s->fd = fd;
	fp = fopencookie(s, m->cookie, cookie_io);
	if (!fp) {
		free(s);
		return NULL;
	}
	s->fp = fp;
	if (!registry_add(s))
		js_log("more than %d streams on held files are open: fileno() of the stream on fd %d "
		       "will fail", NSLOTS, fd);
	return fp;
}

/* fd made into a stream the way fopen/fdopen would, ours when holdable. */
static FILE *stream_on(int fd, const char *mode, const struct js_mode *m)
{
	if (m->seek_end && lseek64(fd, 0, SEEK_END) < 0 && errno != ESPIPE)
		return NULL;
	if (fd_holdable(fd))
		return cookie_stream(fd, m);
	return REAL(fdopen)(fd, mode);
}

static FILE *open_stream(const char *path, const char *mode, js_fopen_fn *real, bool lfs)
{
	struct js_mode m;
	FILE *fp;
	int fd, saved;

	/* Wide-character streams cannot be cookie streams; bad modes get
	 * glibc's EINVAL. */
	if (!parse_mode(mode, &m) || strstr(mode, ",ccs="))
		return real(path, mode);
	/* Through the shim's open: "w" on a held file waits like O_TRUNC. */
	fd = lfs ? open64(path, m.oflags, 0666) : open(path, m.oflags, 0666);
	if (fd < 0)
		return NULL;
	fp = stream_on(fd, mode, &m);
	if (!fp) {
		saved = errno;
		close(fd);
		errno = saved;
	}
	return fp;
}

/* ---- the wrappers -------------------------------------------------------- */

WRAP(FILE *, fopen, (const char *path, const char *mode))
{
	return open_stream(path, mode, REAL(fopen), false);
}

WRAP(FILE *, fopen64, (const char *path, const char *mode))
{
	return open_stream(path, mode, REAL(fopen64), true);
}

WRAP(FILE *, fdopen, (int fd, const char *mode))
{
	struct js_mode m;
	int fl;

	if (!parse_mode(mode, &m) || !fd_holdable(fd))
		return REAL(fdopen)(fd, mode);
	/* glibc's checks and its one change to the descriptor: "a" sets
	 * O_APPEND, and seeks to the end only if it had to. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return NULL;
	if (((fl & O_ACCMODE) == O_RDONLY && !(m.io_flags & IO_NO_WRITES)) ||
	    ((fl & O_ACCMODE) == O_WRONLY && !(m.io_flags & IO_NO_READS))) {
		errno = EINVAL;
		return NULL;
	}
	if (!(m.io_flags & IO_IS_APPENDING) || (fl & O_APPEND))
		m.seek_end = false;
	else if (fcntl(fd, F_SETFL, fl | O_APPEND) < 0)
		return NULL;
	if (m.seek_end && lseek64(fd, 0, SEEK_END) < 0 && errno != ESPIPE)
		return NULL;
	return cookie_stream(fd, &m);
}

/*
 * One of our streams, reopened: glibc's freopen, done on the cookie.  The
 * new file takes the old descriptor's number (dup3), as glibc does; the
 * stream's buffer is dropped after the flush and its mode bits are set to
 * the new mode.  On failure the stream is closed and NULL returned.
 */
static FILE *reopen_ours(struct js_stream *s, const char *path, const char *mode, bool lfs)
{
	FILE *fp = s->fp;
	char procpath[32];
	struct js_mode m;
	int fd = -1, saved;

	flockfile(fp);
	fflush(fp);	/* failure ignored, as in glibc */
	if (!parse_mode(mode, &m) || strstr(mode, ",ccs=")) {
		errno = EINVAL;
		goto fail;
	}
	if (!path) {
		snprintf(procpath, sizeof procpath, "/proc/self/fd/%d", s->fd);
		path = procpath;
	}
	fd = lfs ? open64(path, m.oflags, 0666) : open(path, m.oflags, 0666);
	if (fd < 0)
		goto fail;
	if (s->fd < 0) {
		s->fd = fd;
	} else if (dup3(fd, s->fd, m.oflags & O_CLOEXEC) < 0) {
		goto fail;
	} else {
		close(fd);
	}
	fd = -1;
	if (m.seek_end && lseek64(s->fd, 0, SEEK_END) < 0 && errno != ESPIPE)
		goto fail;
	__fpurge(fp);
	clearerr_unlocked(fp);
	fp->_flags = (fp->_flags & ~(IO_NO_READS | IO_NO_WRITES | IO_IS_APPENDING | IO_CURRENTLY_PUTTING)) |
		     m.io_flags;
	funlockfile(fp);
	return fp;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	/* POSIX: the stream is closed; later I/O on it fails with EBADF. */
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	__fpurge(fp);
	funlockfile(fp);
	errno = saved;
	return NULL;
}

static FILE *reopen(const char *path, const char *mode, FILE *fp, js_freopen_fn *real, bool lfs)
{
	struct js_stream *s = fp ? registry_find(fp) : NULL;
	FILE *r;

	if (s)
		return reopen_ours(s, path, mode, lfs);
	r = real(path, mode, fp);
	if (r && path && (r->_flags & IO_NO_WRITES) == 0 && fd_holdable(REAL(fileno)(r)))
		js_log("freopen(\"%s\") of an existing stream: its writes are not held while frozen "
		       "(fopen a new stream instead)", path);
	return r;
}

WRAP(FILE *, freopen, (const char *path, const char *mode, FILE *fp))
{
	return reopen(path, mode, fp, REAL(freopen), false);
}

WRAP(FILE *, freopen64, (const char *path, const char *mode, FILE *fp))
{
	return reopen(path, mode, fp, REAL(freopen64), true);
}

/*
 * The pass-through cost is one load and test before the real call: glibc
 * gives every stream with a descriptor a _fileno >= 0, and only the others
 * (ours, fmemopen's, other cookie streams: _fileno -2) look further.
 */
static int our_fileno(FILE *fp, js_fileno_fn *real)
{
	struct js_stream *s;

	if (__builtin_expect(fp->_fileno >= 0, 1))
		return real(fp);
	s = registry_find(fp);
	return s && s->fd >= 0 ? s->fd : real(fp);
}

WRAP(int, fileno, (FILE *fp))
{
	return our_fileno(fp, REAL(fileno));
}

WRAP(int, fileno_unlocked, (FILE *fp))
{
	return our_fileno(fp, REAL(fileno_unlocked));
}
