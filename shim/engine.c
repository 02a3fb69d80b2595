/*
 * The freeze engine: which descriptors are held, holding writes, serving
 * reads and sizes from held data, making the calls that cannot be held wait,
 * freezing and draining.
 *
 * One lock (hold_lock) serialises everything here.  Only frozen or draining
 * processes take it: the pass-through path never does.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "holdlog.h"
#include "overlay.h"
#include "shim.h"

#define FDMAX     65536
#define MAXFILES  4096
#define HASHSIZE  8192
#define POOLSIZE  (1u << 20)

/* What a freeze knows of a descriptor; valid while epoch == freeze_epoch. */
struct fdinfo {
	uint32_t epoch;
	bool regular;
	bool holdable;	/* a regular data file in scope: its writes are held */
	bool append;
	bool readable, writable;
	dev_t dev;
	ino_t ino;
};

struct held_file {
	dev_t dev;
	ino_t ino;
	dev_t dir_dev;
	ino_t dir_ino;
	const char *path;
	struct overlay *ov;	/* NULL until the first held write */
	off64_t base_size;	/* size on disk when first held */
};

static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t thawed = PTHREAD_COND_INITIALIZER;

static uint32_t freeze_epoch;
static struct fdinfo fds[FDMAX];
static struct held_file files[MAXFILES];
static uint32_t nfiles;
static uint32_t file_hash[HASHSIZE];	/* index + 1, 0 = empty */
static char path_pool[POOLSIZE];
static size_t pool_used;

static struct {
	uint64_t held_bytes, held_writes, drained_writes;
	uint64_t frozen_at_us, frozen_us;
} stats;

/* Descriptors the shim owns: the application may not close them. */
static _Atomic uint8_t own_fd[FDMAX];

uint64_t js_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

bool js_is_own_fd(int fd)
{
	return fd >= 0 && fd < FDMAX && atomic_load_explicit(&own_fd[fd], memory_order_relaxed);
}

void js_mark_own_fd(int fd, bool own)
{
	if (fd >= 0 && fd < FDMAX)
		atomic_store(&own_fd[fd], own);
}

static int own_open(const char *path, int flags)
{
	int fd = REAL(open)(path, flags | O_CLOEXEC, 0600);

	js_mark_own_fd(fd, true);
	return fd;
}

static void own_close(int fd)
{
	js_mark_own_fd(fd, false);
	REAL(close)(fd);
}

/* ---- descriptors and files ------------------------------------------ */

static int fd_path(int fd, char *buf, size_t cap)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, buf, cap - 1);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

static bool path_holdable(const char *path)
{
	return !js_path_is_memory_only(path) && js_path_in_scope(path) &&
	       !js_path_is_volatile(path) && !js_path_is_own(path);
}

/* Fill fi for fd; false if fd is not open. */
static bool classify_fd(int fd, struct fdinfo *fi)
{
	struct stat64 st;
	char path[PATH_MAX];
	int fl;

	if (fd >= 0 && fd < FDMAX && fds[fd].epoch == freeze_epoch) {
		*fi = fds[fd];
		return true;
	}
	if (REAL(fstat64)(fd, &st) < 0)
		return false;
	memset(fi, 0, sizeof *fi);
	fi->epoch = freeze_epoch;
	fi->regular = S_ISREG(st.st_mode);
	fi->dev = st.st_dev;
	fi->ino = st.st_ino;
	if (fi->regular && st.st_nlink > 0 && fd_path(fd, path, sizeof path) == 0)
		fi->holdable = path_holdable(path);
	fl = REAL(fcntl)(fd, F_GETFL);
	fi->append = fl >= 0 && (fl & O_APPEND);
	fi->readable = fl >= 0 && (fl & O_ACCMODE) != O_WRONLY;
	fi->writable = fl >= 0 && (fl & O_ACCMODE) != O_RDONLY;
	if (fd >= 0 && fd < FDMAX && !js_is_own_fd(fd))
		fds[fd] = *fi;
	return true;
}

void js_forget_fd(int fd)
{
	if (fd >= 0 && fd < FDMAX)
		__atomic_store_n(&fds[fd].epoch, 0, __ATOMIC_RELAXED);
}

void js_forget_fds(unsigned first, unsigned last)
{
	for (unsigned fd = first; fd <= last && fd < FDMAX; fd++)
		js_forget_fd(fd);
}

static uint32_t hash_of(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;

	return (uint32_t)(h >> 32) & (HASHSIZE - 1);
}

static struct held_file *find_file(dev_t dev, ino_t ino)
{
	for (uint32_t h = hash_of(dev, ino); file_hash[h]; h = (h + 1) & (HASHSIZE - 1)) {
		struct held_file *f = &files[file_hash[h] - 1];

		if (f->dev == dev && f->ino == ino)
			return f;
	}
	return NULL;
}

static const char *pool_copy(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	if (pool_used + n > POOLSIZE)
		return NULL;
	p = memcpy(path_pool + pool_used, s, n);
	pool_used += n;
	return p;
}

/* The held file behind fd (holdable), registered on first sight. */
static struct held_file *file_of(int fd, const struct fdinfo *fi)
{
	struct held_file *f = find_file(fi->dev, fi->ino);
	char path[PATH_MAX], *slash;
	struct stat64 st;
	uint32_t h;

	if (f || nfiles == MAXFILES)
		return f;
	if (fd_path(fd, path, sizeof path) < 0 || REAL(fstat64)(fd, &st) < 0)
		return NULL;
	f = &files[nfiles];
	memset(f, 0, sizeof *f);
	f->dev = fi->dev;
	f->ino = fi->ino;
	f->base_size = st.st_size;
	f->path = pool_copy(path);
	if (!f->path)
		return NULL;
	slash = strrchr(path, '/');
	*(slash == path ? slash + 1 : slash) = 0;
	if (REAL(stat64)(path, &st) == 0) {
		f->dir_dev = st.st_dev;
		f->dir_ino = st.st_ino;
	}
	for (h = hash_of(f->dev, f->ino); file_hash[h]; h = (h + 1) & (HASHSIZE - 1))
		;
	file_hash[h] = ++nfiles;
	return f;
}

static off64_t held_size(const struct held_file *f)
{
	off64_t end = f->ov ? (off64_t)overlay_end(f->ov) : 0;

	return end > f->base_size ? end : f->base_size;
}

static bool has_held_data(const struct held_file *f)
{
	return f && f->ov && overlay_count(f->ov) > 0;
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t n = 0;

	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* ---- waiting ---------------------------------------------------------- */

/* Called with hold_lock held; returns with it held, the freeze over. */
static void wait_thawed_locked(void)
{
	while (!js_running())
		pthread_cond_wait(&thawed, &hold_lock);
}

void js_wait_if_any_held(void)
{
	if (js_running())
		return;
	pthread_mutex_lock(&hold_lock);
	for (uint32_t i = 0; i < nfiles; i++)
		if (has_held_data(&files[i])) {
			wait_thawed_locked();
			break;
		}
	pthread_mutex_unlock(&hold_lock);
}

void js_wait_if_held_fd(int fd, bool any_holdable)
{
	struct fdinfo fi;

	if (js_running())
		return;
	pthread_mutex_lock(&hold_lock);
	if (!js_running() && classify_fd(fd, &fi) && fi.regular) {
		if (any_holdable ? fi.holdable : has_held_data(find_file(fi.dev, fi.ino)))
			wait_thawed_locked();
	}
	pthread_mutex_unlock(&hold_lock);
}

/* dirfd/path made absolute, without following the last component. */
static int absolute_path(int dirfd, const char *path, char *out, size_t cap)
{
	char dir[PATH_MAX];

	if (path[0] == '/')
		return snprintf(out, cap, "%s", path) < (int)cap ? 0 : -1;
	if (dirfd == AT_FDCWD) {
		if (!getcwd(dir, sizeof dir))
			return -1;
	} else if (fd_path(dirfd, dir, sizeof dir) < 0) {
		return -1;
	}
	return snprintf(out, cap, "%s/%s", dir, path) < (int)cap ? 0 : -1;
}

static bool dir_is_held(const char *abs)
{
	char dir[PATH_MAX], *slash;
	struct stat64 st;

	snprintf(dir, sizeof dir, "%s", abs);
	slash = strrchr(dir, '/');
	if (!slash)
		return false;
	*(slash == dir ? slash + 1 : slash) = 0;
	if (REAL(stat64)(dir, &st) < 0)
		return false;
	for (uint32_t i = 0; i < nfiles; i++)
		if (files[i].dir_dev == st.st_dev && files[i].dir_ino == st.st_ino)
			return true;
	return false;
}

/*
 * A change of names in a held directory waits: renaming over, unlinking or
 * creating entries beside held files would change what a copy sees.
 */
void js_wait_if_held_path(int dirfd, const char *path)
{
	char abs[PATH_MAX];
	struct stat64 st;

	if (js_running() || !path)
		return;
	pthread_mutex_lock(&hold_lock);
	if (!js_running() && absolute_path(dirfd, path, abs, sizeof abs) == 0 &&
	    !js_path_is_memory_only(abs) && !js_path_is_volatile(abs) && js_path_in_scope(abs) &&
	    !js_path_is_own(abs)) {
		bool held = dir_is_held(abs);

		if (!held && REAL(lstat64)(abs, &st) == 0)
			held = find_file(st.st_dev, st.st_ino) != NULL;
		if (held)
			wait_thawed_locked();
	}
	pthread_mutex_unlock(&hold_lock);
}

/* Truncating a held file, or creating a file in a held directory, waits. */
void js_wait_for_open(int dirfd, const char *path, int flags)
{
	char abs[PATH_MAX];
	struct stat64 st;

	if (js_running() || !path || !(flags & (O_TRUNC | O_CREAT)))
		return;
	pthread_mutex_lock(&hold_lock);
	if (!js_running() && absolute_path(dirfd, path, abs, sizeof abs) == 0 && path_holdable(abs)) {
		bool wait;

		if (REAL(stat64)(abs, &st) == 0)
			wait = (flags & O_TRUNC) && S_ISREG(st.st_mode) && st.st_size > 0;
		else
			wait = (flags & O_CREAT) && dir_is_held(abs);
		if (wait)
			wait_thawed_locked();
	}
	pthread_mutex_unlock(&hold_lock);
}

void js_wait_for_map(int fd, int prot, int flags)
{
	struct fdinfo fi;

	if (js_running() || fd < 0 || !(flags & MAP_SHARED))
		return;
	pthread_mutex_lock(&hold_lock);
	if (!js_running() && classify_fd(fd, &fi) && fi.holdable &&
	    ((prot & PROT_WRITE) || has_held_data(find_file(fi.dev, fi.ino))))
		wait_thawed_locked();
	pthread_mutex_unlock(&hold_lock);
}

/* ---- holding and overlaying ------------------------------------------- */

ssize_t js_hold_write(int fd, const struct iovec *iov, int cnt, off64_t off, enum js_pos pos)
{
	struct fdinfo fi;
	struct held_file *f;
	struct js_rec rec;
	const void *data;
	size_t len = iov_total(iov, cnt);
	ssize_t ret = JS_NOT_HELD;
	int saved = errno;

	pthread_mutex_lock(&hold_lock);
	/* Not held: the real call gives the error a bad fd or offset gets
	 * (EBADF for a read-only descriptor, EINVAL for a negative offset). */
	if (js_running() || !classify_fd(fd, &fi) || !fi.holdable || !fi.writable ||
	    (pos == JS_AT_OFFSET && off < 0))
		goto out;
	if (fi.append && pos == JS_AT_CURSOR)
		pos = JS_AT_END;
	/* Linux appends a pwrite on an O_APPEND descriptor too. */
	if (fi.append && pos == JS_AT_OFFSET)
		off = -1;
	f = file_of(fd, &fi);
	if (!f || (!f->ov && !(f->ov = overlay_new()))) {
		/* No room to hold it: it may not slip through, so it waits. */
		wait_thawed_locked();
		goto out;
	}
	if (pos == JS_AT_CURSOR) {
		off = REAL(lseek64)(fd, 0, SEEK_CUR);
		if (off < 0) {
			ret = -1;
			goto out_errno;
		}
	} else if (pos == JS_AT_END || off < 0) {
		off = held_size(f);
	}
	if (len == 0) {
		ret = 0;
		goto out;
	}
	memset(&rec, 0, sizeof rec);
	rec.op = JS_REC_WRITE;
	rec.dev = f->dev;
	rec.ino = f->ino;
	rec.file = f - files;
	rec.off = off;
	rec.len = len;
	data = js_hold_append(&rec, iov, cnt);
	if (!data || overlay_insert(f->ov, off, len, data) < 0) {
		js_log("cannot hold %zu bytes for %s: %s; the write waits", len, f->path, strerror(errno));
		wait_thawed_locked();
		goto out;
	}
	if (pos != JS_AT_OFFSET)
		REAL(lseek64)(fd, off + len, SEEK_SET);
	stats.held_bytes += len;
	stats.held_writes++;
	ret = len;
out:
	errno = saved;
out_errno:
	pthread_mutex_unlock(&hold_lock);
	return ret;
}

/* Read [off, off+n) of the file as the application would see it. */
static ssize_t read_overlaid(int fd, struct held_file *f, const struct iovec *iov, int cnt, off64_t off)
{
	off64_t size = held_size(f);
	size_t want = iov_total(iov, cnt), done = 0;

	if (off >= size)
		return 0;
	if ((off64_t)want > size - off)
		want = size - off;
	for (int i = 0; i < cnt && done < want; i++) {
		size_t seg = iov[i].iov_len < want - done ? iov[i].iov_len : want - done;
		uint8_t *buf = iov[i].iov_base;
		size_t got = 0;

		while (got < seg) {
			ssize_t r = REAL(pread64)(fd, buf + got, seg - got, off + done + got);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return done + got ? (ssize_t)(done + got) : -1;
			if (r == 0)
				break;
			got += r;
		}
		/* Past the end on disk but inside the held size: zeros, then
		 * held bytes on top. */
		memset(buf + got, 0, seg - got);
		overlay_apply(f->ov, off + done, seg, buf);
		done += seg;
	}
	return done;
}

ssize_t js_overlay_read(int fd, const struct iovec *iov, int cnt, off64_t off, enum js_pos pos)
{
	struct fdinfo fi;
	struct held_file *f;
	ssize_t ret = JS_NOT_HELD;
	int saved = errno;

	pthread_mutex_lock(&hold_lock);
	if (js_running() || !classify_fd(fd, &fi) || !fi.regular || !fi.readable ||
	    (pos == JS_AT_OFFSET && off < 0))
		goto out;
	f = find_file(fi.dev, fi.ino);
	if (!has_held_data(f))
		goto out;
	if (pos != JS_AT_OFFSET) {
		off = REAL(lseek64)(fd, 0, SEEK_CUR);
		if (off < 0) {
			ret = -1;
			goto out_errno;
		}
	}
	ret = read_overlaid(fd, f, iov, cnt, off);
	if (ret < 0)
		goto out_errno;
	if (pos != JS_AT_OFFSET)
		REAL(lseek64)(fd, off + ret, SEEK_SET);
out:
	errno = saved;
out_errno:
	pthread_mutex_unlock(&hold_lock);
	return ret;
}

/*
 * Positions relative to the end, and data/hole queries, use the held size.
 * A held file reports no holes but the one at its end: POSIX allows a file
 * system to treat any hole as data.
 */
off64_t js_overlay_seek(int fd, off64_t off, int whence)
{
	struct fdinfo fi;
	struct held_file *f;
	off64_t ret = JS_NOT_HELD, size, to;
	int saved = errno;

	if (whence != SEEK_END && whence != SEEK_DATA && whence != SEEK_HOLE)
		return JS_NOT_HELD;
	pthread_mutex_lock(&hold_lock);
	if (js_running() || !classify_fd(fd, &fi) || !fi.regular)
		goto out;
	f = find_file(fi.dev, fi.ino);
	if (!has_held_data(f))
		goto out;
	size = held_size(f);
	if (whence == SEEK_END) {
		to = size + off;
	} else if (off < 0 || off >= size) {
		errno = off < 0 ? EINVAL : ENXIO;
		ret = -1;
		goto out_errno;
	} else {
		to = whence == SEEK_DATA ? off : size;
	}
	if (to < 0) {
		errno = EINVAL;
		ret = -1;
		goto out_errno;
	}
	ret = REAL(lseek64)(fd, to, SEEK_SET);
	if (ret < 0)
		goto out_errno;
out:
	errno = saved;
out_errno:
	pthread_mutex_unlock(&hold_lock);
	return ret;
}

void js_overlay_size(dev_t dev, ino_t ino, off64_t *size, blkcnt64_t *blocks)
{
	struct held_file *f;

	if (js_running())
		return;
	pthread_mutex_lock(&hold_lock);
	f = find_file(dev, ino);
	if (has_held_data(f)) {
		off64_t held = held_size(f);

		if (held > *size)
			*size = held;
		if (blocks && *blocks < (held + 511) / 512)
			*blocks = (held + 511) / 512;
	}
	pthread_mutex_unlock(&hold_lock);
}

/* ---- freeze ----------------------------------------------------------- */

struct dirent64_raw {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Every descriptor open for writing on a holdable file joins the freeze. */
static void enroll_open_files(int *sync_fds, int *nsync, int max)
{
	char buf[8192];
	int dir = own_open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
	long n;

	if (dir < 0)
		return;
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
		for (long pos = 0; pos < n;) {
			struct dirent64_raw *d = (struct dirent64_raw *)(buf + pos);
			int fd = atoi(d->d_name);
			struct fdinfo fi;
			int fl;

			pos += d->d_reclen;
			if (d->d_name[0] == '.' || js_is_own_fd(fd) || fd == dir)
				continue;
			fl = REAL(fcntl)(fd, F_GETFL);
			if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
				continue;
			if (!classify_fd(fd, &fi) || !fi.holdable || !file_of(fd, &fi))
				continue;
			if (*nsync < max) {
				int dup = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, 3);

				if (dup >= 0) {
					js_mark_own_fd(dup, true);
					sync_fds[(*nsync)++] = dup;
				}
			}
		}
	}
	own_close(dir);
}

/*
 * A shared mapping can be read or written behind the shim's back, so a
 * freeze with one on a held file could not be consistent (SPEC "Files
 * mapped with MAP_SHARED").
 */
static bool mappings_allow_freeze(char *reason, size_t len)
{
	static char buf[65536];
	char line[PATH_MAX + 256];
	size_t fill = 0, ll = 0;
	int fd = own_open("/proc/self/maps", O_RDONLY);
	ssize_t n;
	bool ok = true;

	if (fd < 0)
		return true;
	while (ok && (n = REAL(read)(fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n && ok; i++) {
			unsigned long maj, min, ino;
			char perms[8], path[PATH_MAX];

			if (buf[i] != '\n') {
				if (ll < sizeof line - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = 0;
			ll = 0;
			path[0] = 0;
			if (sscanf(line, "%*x-%*x %7s %*x %lx:%lx %lu %4095[^\n]", perms, &maj, &min, &ino, path) < 4 ||
			    perms[3] != 's' || path[0] != '/' || js_path_is_memory_only(path) ||
			    !js_path_in_scope(path) || js_path_is_own(path))
				continue;
			if (perms[1] == 'w' && !js_path_is_volatile(path)) {
				snprintf(reason, len, "%s is mapped MAP_SHARED writable, so its writes cannot be held; "
					 "list it in JETSNAP_VOLATILE only if it is disposable", path);
				ok = false;
			} else if (perms[1] != 'w' && !js_path_is_volatile(path) &&
				   find_file(makedev(maj, min), ino)) {
				snprintf(reason, len, "%s is mapped MAP_SHARED read-only and also written with write calls, "
					 "so reads through the mapping could not see held writes (LMDB-style); it cannot be frozen",
					 path);
				ok = false;
			}
		}
	}
	(void)fill;
	own_close(fd);
	return ok;
}

static void forget_files(void)
{
	for (uint32_t i = 0; i < nfiles; i++)
		if (files[i].ov)
			overlay_free(files[i].ov);
	memset(file_hash, 0, sizeof file_hash);
	nfiles = 0;
	pool_used = 0;
}

JET_ERR js_engine_freeze(uint64_t snap, char *reason, size_t reason_len)
{
	int sync_fds[256], nsync = 0;
	uint64_t t0;

	(void)snap;
	pthread_mutex_lock(&hold_lock);
	if (!js_running()) {
		pthread_mutex_unlock(&hold_lock);
		snprintf(reason, reason_len, "the instance is already frozen or draining");
		return JET_errOSSnapshotInvalidSequence;
	}
	if (js_hold_open(reason, reason_len) < 0) {
		pthread_mutex_unlock(&hold_lock);
		return JET_errOSSnapshotNotAllowed;
	}
	js_mark_own_fd(js_hold_fd(), true);
	t0 = js_now_us();
	forget_files();
	if (++freeze_epoch == 0)
		freeze_epoch = 1;
	memset(&stats, 0, sizeof stats);
	/*
	 * Close the gate while holding the lock: no write can be held before
	 * the checks below pass, so a refusal has nothing to drain.
	 */
	js_gate_close(JS_FROZEN);
	enroll_open_files(sync_fds, &nsync, 256);
	if (!mappings_allow_freeze(reason, reason_len)) {
		forget_files();
		atomic_store(&js_state, JS_RUNNING);
		pthread_cond_broadcast(&thawed);
		pthread_mutex_unlock(&hold_lock);
		for (int i = 0; i < nsync; i++)
			own_close(sync_fds[i]);
		js_log("freeze refused: %s", reason);
		return JET_errOSSnapshotNotAllowed;
	}
	stats.frozen_at_us = js_now_us();
	pthread_mutex_unlock(&hold_lock);
	/* Guarantee 1: what returned before Freeze is on stable storage, so
	 * a block-level snapshot sees it too. */
	for (int i = 0; i < nsync; i++) {
		REAL(fdatasync)(sync_fds[i]);
		own_close(sync_fds[i]);
	}
	js_log("frozen: %u files, gate closed in %llu us", nfiles,
	       (unsigned long long)(stats.frozen_at_us - t0));
	return JET_errSuccess;
}

/* ---- drain ------------------------------------------------------------- */

static int pwrite_all(int fd, const uint8_t *p, uint64_t len, uint64_t off)
{
	while (len) {
		ssize_t r = REAL(pwrite64)(fd, p, len, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		len -= r;
		off += r;
	}
	return 0;
}

static void apply_records(uint64_t from, uint64_t to, int *drain_fd)
{
	uint64_t pos = from, next;

	for (; pos < to; pos = next) {
		const struct js_rec *rec = js_hold_at(pos, &next);
		struct held_file *f = &files[rec->file];

		if (rec->op != JS_REC_WRITE)
			continue;
		if (drain_fd[rec->file] < 0)
			drain_fd[rec->file] = own_open(f->path, O_WRONLY);
		if (drain_fd[rec->file] < 0 ||
		    pwrite_all(drain_fd[rec->file], (const uint8_t *)(rec + 1), rec->len, rec->off) < 0)
			/* Issue 5 keeps the remainder held and retries; until
			 * then the failure is at least on record. */
			js_log("drain: cannot write %llu bytes at %llu of %s: %s",
			       (unsigned long long)rec->len, (unsigned long long)rec->off, f->path,
			       strerror(errno));
		stats.drained_writes++;
	}
}

/*
 * Apply the log in order while the application keeps appending; when the
 * drain catches up with the tail, under the lock, the instance switches
 * back to pass-through.  Waiting calls then go on.
 */
void js_engine_drain(void)
{
	static int drain_fd[MAXFILES];
	uint64_t pos = js_hold_begin();

	pthread_mutex_lock(&hold_lock);
	if (js_running()) {
		pthread_mutex_unlock(&hold_lock);
		return;
	}
	atomic_store(&js_state, JS_DRAINING);
	for (uint32_t i = 0; i < MAXFILES; i++)
		drain_fd[i] = -1;
	for (;;) {
		uint64_t end = js_hold_tail();

		if (pos == end)
			break;
		pthread_mutex_unlock(&hold_lock);
		apply_records(pos, end, drain_fd);
		pos = end;
		pthread_mutex_lock(&hold_lock);
	}
	stats.frozen_us = js_now_us() - stats.frozen_at_us;
	for (uint32_t i = 0; i < nfiles; i++)
		if (files[i].ov)
			overlay_clear(files[i].ov);
	js_hold_reset();
	stats.held_bytes = 0;
	atomic_store(&js_state, JS_RUNNING);
	pthread_cond_broadcast(&thawed);
	pthread_mutex_unlock(&hold_lock);
	for (uint32_t i = 0; i < MAXFILES; i++)
		if (drain_fd[i] >= 0)
			own_close(drain_fd[i]);
	js_log("thawed: %llu writes drained after %llu us frozen",
	       (unsigned long long)stats.drained_writes, (unsigned long long)stats.frozen_us);
}

/* ---- status ------------------------------------------------------------ */

void js_engine_status(struct js_status *st)
{
	pthread_mutex_lock(&hold_lock);
	st->state = atomic_load(&js_state);
	st->held_bytes = stats.held_bytes;
	st->held_writes = stats.held_writes;
	st->drained_writes = stats.drained_writes;
	st->frozen_us = st->state == JS_RUNNING ? stats.frozen_us : js_now_us() - stats.frozen_at_us;
	st->files = nfiles;
	pthread_mutex_unlock(&hold_lock);
}

size_t js_engine_files(char *buf, size_t cap, uint32_t *count)
{
	size_t used = 0;

	*count = 0;
	pthread_mutex_lock(&hold_lock);
	for (uint32_t i = 0; i < nfiles; i++) {
		size_t n = strlen(files[i].path) + 1;

		if (used + n > cap)
			break;
		memcpy(buf + used, files[i].path, n);
		used += n;
		(*count)++;
	}
	pthread_mutex_unlock(&hold_lock);
	return used;
}

/* ---- fork ---------------------------------------------------------------- */

static void before_fork(void)
{
	pthread_mutex_lock(&hold_lock);
}

static void after_fork_parent(void)
{
	pthread_mutex_unlock(&hold_lock);
}

/*
 * The child has no control thread and no drainer, and the hold log's tail
 * lives in a mapping it shares with the parent: until process trees share
 * one instance, a child simply writes through.
 */
static void after_fork_child(void)
{
	pthread_mutex_init(&hold_lock, NULL);
	pthread_cond_init(&thawed, NULL);
	atomic_store(&js_state, JS_RUNNING);
}

__attribute__((constructor(200))) static void js_engine_init(void)
{
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}
