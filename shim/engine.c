/*
 * The freeze engine: which descriptors are held, holding writes, serving
 * reads and sizes from held data, making the calls that cannot be held wait,
 * freezing and draining.
 *
 * The instance lock (shared by every process of the instance) serialises
 * everything here.  Only frozen or draining instances take it: the
 * pass-through path never does.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
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
#include "instance.h"
#include "overlay.h"
#include "recover.h"
#include "shim.h"

#define FDMAX     65536
#define HASHSIZE  8192

/* What a freeze knows of a descriptor; valid while epoch == the freeze's. */
struct fdinfo {
	uint32_t epoch;
	bool regular;
	bool holdable;	/* a regular data file in scope: its writes are held */
	bool append;
	bool readable, writable;
	bool sync_writes;	/* O_SYNC / O_DSYNC: each write is durable */
	dev_t dev;
	ino_t ino;
};

/*
 * This process's view of the hold log, caught up from the shared log under
 * the instance lock before every use: which file index a (dev, ino) has,
 * and for each file the overlay of its held bytes.  Private, so reads need
 * no cross-process structure but the log itself.
 */
static struct {
	uint64_t epoch;		/* the freeze it describes */
	uint64_t applied;	/* log offset caught up to */
	struct overlay *ov[JS_MAX_FILES];
	int64_t size[JS_MAX_FILES];	/* set by a held truncate, else -1 */
	int64_t floor[JS_MAX_FILES];	/* disk bytes from here on are gone */
	uint32_t hash[HASHSIZE];	/* file index + 1, 0 = empty */
} view;

static struct fdinfo fds[FDMAX];

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

static void lock(void)
{
	js_instance_lock();
}

static void unlock(void)
{
	js_instance_unlock();
}

/* ---- the view: files and overlays ------------------------------------- */

static uint32_t hash_of(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;

	return (uint32_t)(h >> 32) & (HASHSIZE - 1);
}

static struct js_shared_file *file_at(uint32_t idx)
{
	return &js_sh->files[idx];
}

static const char *path_of(const struct js_shared_file *f)
{
	return js_sh->path_pool + f->path_off;
}

static void view_add_file(uint32_t idx)
{
	const struct js_shared_file *f = file_at(idx);
	uint32_t h;

	for (h = hash_of(f->dev, f->ino); view.hash[h]; h = (h + 1) & (HASHSIZE - 1))
		;
	view.hash[h] = idx + 1;
}

/* Index one record of the log, at offset pos, in this process's view. */
static void view_apply(const struct js_rec *rec, uint64_t pos)
{
	const void *data = js_base + pos + sizeof *rec;

	if (rec->op == JS_REC_FILE) {
		view_add_file(rec->file);
	} else if (rec->op == JS_REC_WRITE || rec->op == JS_REC_TRUNCATE) {
		struct overlay **ov = &view.ov[rec->file];
		int64_t *size = &view.size[rec->file];

		if (!*ov)
			*ov = overlay_new();
		if (!*ov) {
			js_log("cannot index held data: reads may miss it");
		} else if (rec->op == JS_REC_TRUNCATE) {
			overlay_truncate(*ov, rec->off);
			*size = rec->off;
			if ((int64_t)rec->off < view.floor[rec->file])
				view.floor[rec->file] = rec->off;
		} else if (overlay_insert(*ov, rec->off, rec->len, data) < 0) {
			js_log("cannot index %llu held bytes: reads may miss them",
			       (unsigned long long)rec->len);
		} else if (*size >= 0 && (int64_t)(rec->off + rec->len) > *size) {
			*size = rec->off + rec->len;
		}
	}
}

/*
 * This process's own held writes that are not in its overlays yet.  A
 * treap insert costs about as much as the write it indexes, and a file
 * that is only written while frozen (a WAL, a log) is never read back: its
 * writes are indexed only when something reads the view (catch_up), in log
 * order, before any later record.  The entries are copies of the record
 * headers, so indexing them touches no page of the log.
 */
#define PENDING_MAX (1u << 20)
#define PENDING_STEP 8192	/* entries mapped at a time */
struct pending_write {
	uint64_t at, off, len;
	uint32_t file;
};
static struct {
	struct pending_write *w;
	uint32_t n;
	bool file[JS_MAX_FILES];	/* has a pending write */
} pending;

static void apply_pending(void)
{
	for (uint32_t i = 0; i < pending.n; i++) {
		struct js_rec r = { .op = JS_REC_WRITE, .file = pending.w[i].file,
				    .off = pending.w[i].off, .len = pending.w[i].len };

		view_apply(&r, pending.w[i].at);
		pending.file[pending.w[i].file] = false;
	}
	pending.n = 0;
}

/* Keep an own write of the log at `at` for later; false: index it now. */
static bool defer_write(const struct js_rec *rec, uint64_t at)
{
	if (!pending.w) {
		void *p = REAL(mmap)(NULL, PENDING_MAX * sizeof *pending.w, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p == MAP_FAILED)
			return false;
		pending.w = p;
	}
	if (pending.n == PENDING_MAX)
		apply_pending();
	/* Map the list 256 KiB ahead at a time: a page fault every 128
	 * writes showed up in their p99. */
	if (pending.n % PENDING_STEP == 0)
		madvise(pending.w + pending.n, PENDING_STEP * sizeof *pending.w, MADV_POPULATE_WRITE);
	pending.w[pending.n++] = (struct pending_write){ at, rec->off, rec->len, rec->file };
	pending.file[rec->file] = true;
	return true;
}

/* Bring this process's view up to the shared log.  Under the lock. */
static void catch_up(void)
{
	uint64_t tail = js_hold_tail(), next;

	if (view.epoch == atomic_load(&js_sh->epoch)) {
		apply_pending();
	} else {
		pending.n = 0;	/* a drained freeze's: gone with its view */
		memset(pending.file, 0, sizeof pending.file);
		for (uint32_t i = 0; i < JS_MAX_FILES; i++)
			if (view.ov[i])
				overlay_clear(view.ov[i]);
		memset(view.hash, 0, sizeof view.hash);
		for (uint32_t i = 0; i < JS_MAX_FILES; i++) {
			view.size[i] = -1;
			view.floor[i] = INT64_MAX;
		}
		view.epoch = atomic_load(&js_sh->epoch);
		view.applied = js_hold_begin();
	}
	for (uint64_t pos = view.applied; pos < tail; pos = next)
		view_apply(js_hold_at(pos, &next), pos);
	view.applied = tail;
}

/*
 * Before a write or an fsync: only records of other processes need
 * indexing now (a file they registered, a size they changed); our own
 * pending writes can wait.  Under the lock.
 */
static void catch_up_others(void)
{
	if (view.epoch != atomic_load(&js_sh->epoch) || js_hold_tail() != view.applied)
		catch_up();
}

/*
 * Append a record and index it here without reading it back through the
 * mapping (on this paravirtualised kind of machine touching a page costs
 * more than the whole write): a write is deferred (pending); a truncate
 * must follow the pending writes into the overlay, a file or a barrier
 * touches no overlay.  Under the lock, caught up.  False: errno set.
 */
static bool hold_append(const struct js_rec *rec, const struct iovec *iov, int cnt)
{
	uint64_t at = js_hold_append(rec, iov, cnt);

	if (!at)
		return false;
	if (view.applied == at) {
		if (rec->op != JS_REC_WRITE || !defer_write(rec, at)) {
			if (rec->op != JS_REC_FILE && rec->op != JS_REC_BARRIER)
				apply_pending();
			view_apply(rec, at);
		}
		view.applied = js_hold_next(at, rec->len);
	}
	return true;
}

/* The file index of (dev, ino), or -1.  Under the lock, caught up. */
static int find_file(dev_t dev, ino_t ino)
{
	for (uint32_t h = hash_of(dev, ino); view.hash[h]; h = (h + 1) & (HASHSIZE - 1)) {
		const struct js_shared_file *f = file_at(view.hash[h] - 1);

		if (f->dev == dev && f->ino == ino)
			return view.hash[h] - 1;
	}
	return -1;
}

static bool has_held_data(int idx)
{
	return idx >= 0 && view.ov[idx] && (overlay_count(view.ov[idx]) > 0 || view.size[idx] >= 0);
}

/* has_held_data, counting this process's writes not indexed yet. */
static bool has_held_or_pending(int idx)
{
	return idx >= 0 && (pending.file[idx] || has_held_data(idx));
}

static off64_t held_size(int idx)
{
	off64_t end = view.ov[idx] ? (off64_t)overlay_end(view.ov[idx]) : 0;

	if (view.size[idx] >= 0)
		return view.size[idx];
	return end > file_at(idx)->base_size ? end : file_at(idx)->base_size;
}

/* Register a held file for the whole instance.  Under the lock. */
static int register_file(dev_t dev, ino_t ino, const char *path, off64_t size)
{
	uint32_t idx = js_sh->nfiles;
	size_t n = strlen(path) + 1;
	struct js_shared_file *f;
	char dir[PATH_MAX], *slash;
	struct stat64 st;
	struct js_rec rec;

	if (idx == JS_MAX_FILES || js_sh->pool_used + n > JS_PATH_POOL)
		return -1;
	f = file_at(idx);
	memset(f, 0, sizeof *f);
	f->dev = dev;
	f->ino = ino;
	f->base_size = size;
	f->path_off = js_sh->pool_used;
	memcpy(js_sh->path_pool + js_sh->pool_used, path, n);
	snprintf(dir, sizeof dir, "%s", path);
	slash = strrchr(dir, '/');
	*(slash == dir ? slash + 1 : slash) = 0;
	if (REAL(stat64)(dir, &st) == 0) {
		f->dir_dev = st.st_dev;
		f->dir_ino = st.st_ino;
	}
	memset(&rec, 0, sizeof rec);
	rec.op = JS_REC_FILE;
	rec.dev = dev;
	rec.ino = ino;
	rec.file = idx;
	rec.len = n;
	rec.off = size;
	if (!hold_append(&rec, &(struct iovec){ (void *)path, n }, 1))
		return -1;
	js_sh->pool_used += n;
	js_sh->nfiles = idx + 1;
	return idx;
}

/* ---- descriptors ---------------------------------------------------------- */

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

static uint32_t epoch32(void)
{
	uint32_t e = (uint32_t)atomic_load(&js_sh->epoch);

	return e ? e : 1;
}

/* Fill fi for fd; false if fd is not open. */
static bool classify_fd(int fd, struct fdinfo *fi)
{
	struct stat64 st;
	char path[PATH_MAX];
	int fl;

	if (fd >= 0 && fd < FDMAX && fds[fd].epoch == epoch32()) {
		*fi = fds[fd];
		return true;
	}
	if (REAL(fstat64)(fd, &st) < 0)
		return false;
	memset(fi, 0, sizeof *fi);
	fi->epoch = epoch32();
	fi->regular = S_ISREG(st.st_mode);
	fi->dev = st.st_dev;
	fi->ino = st.st_ino;
	if (fi->regular && st.st_nlink > 0 && fd_path(fd, path, sizeof path) == 0)
		fi->holdable = path_holdable(path);
	fl = REAL(fcntl)(fd, F_GETFL);
	fi->append = fl >= 0 && (fl & O_APPEND);
	fi->readable = fl >= 0 && (fl & O_ACCMODE) != O_WRONLY;
	fi->writable = fl >= 0 && (fl & O_ACCMODE) != O_RDONLY;
	fi->sync_writes = fl >= 0 && (fl & O_DSYNC);
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

/* The held file behind a holdable fd, registered on first sight. */
static int file_of(int fd, const struct fdinfo *fi)
{
	int idx = find_file(fi->dev, fi->ino);
	char path[PATH_MAX];
	struct stat64 st;

	if (idx >= 0)
		return idx;
	if (fd_path(fd, path, sizeof path) < 0 || REAL(fstat64)(fd, &st) < 0)
		return -1;
	return register_file(fi->dev, fi->ino, path, st.st_size);
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t n = 0;

	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* ---- the journal: durability of held data ---------------------------- */

/* Where the log ends now, as a durability mark (offsets are < 2^40). */
static uint64_t tail_mark(void)
{
	return (atomic_load(&js_sh->epoch) << 40) | js_hold_tail();
}

/*
 * An fsync of held data (or an O_SYNC write, or sync) is a barrier: the
 * drain may merge and reorder writes between two barriers, never across
 * one (DESIGN: "The drain").  Under the lock, caught up.  One barrier
 * serves any number of syncs with no record between them.
 */
static void append_barrier(void)
{
	struct js_rec rec = { .op = JS_REC_BARRIER };

	if (js_hold_tail() == js_sh->barrier_tail || js_hold_tail() == js_hold_begin())
		return;
	/* No room: the journal is full and the writers wait; the drain then
	 * merges across this sync, which the journal keeps safe anyway. */
	if (hold_append(&rec, NULL, 0))
		js_sh->barrier_tail = js_hold_tail();
}

/*
 * Make the log durable up to mark: the held data an fsync covers is then
 * where recovery finds it, so the fsync may return (SPEC "No data lost").
 * Group commit: one fdatasync of the instance file serves every thread and
 * process waiting for a mark it passed.
 */
static int journal_sync(uint64_t mark)
{
	int ret = 0;

	if (atomic_load(&js_sh->synced) >= mark)
		return 0;
	if (pthread_mutex_lock(&js_sh->sync_lock) == EOWNERDEAD)
		pthread_mutex_consistent(&js_sh->sync_lock);
	if (atomic_load(&js_sh->synced) < mark) {
		uint64_t now = tail_mark();

		if (REAL(fdatasync)(js_instance_fd()) < 0) {
			js_log("cannot make the hold journal durable: %s", strerror(errno));
			ret = -1;
		} else if (now > atomic_load(&js_sh->synced)) {
			atomic_store(&js_sh->synced, now);
		}
	}
	pthread_mutex_unlock(&js_sh->sync_lock);
	return ret;
}

int js_sync_held(int fd)
{
	struct fdinfo fi;
	uint64_t mark = 0;
	int saved = errno;

	if (js_running())
		return JS_NOT_HELD;
	lock();
	if (!js_running() && classify_fd(fd, &fi) && fi.regular) {
		catch_up_others();	/* an fsync need not index our writes */
		if (has_held_or_pending(find_file(fi.dev, fi.ino))) {
			append_barrier();
			mark = tail_mark();
		}
	}
	unlock();
	if (!mark)
		return JS_NOT_HELD;
	if (journal_sync(mark) < 0) {
		errno = EIO;
		return -1;
	}
	errno = saved;
	return 0;
}

void js_sync_all_held(void)
{
	uint64_t mark;

	if (js_running())
		return;
	lock();
	catch_up();
	append_barrier();
	mark = tail_mark();
	unlock();
	journal_sync(mark);
}

/* ---- waiting ---------------------------------------------------------- */

/*
 * Wait, without the lock, until the freeze has ended.  If the freeze has
 * expired and its root is gone (nobody else will drain), drain it here:
 * a control process that died never leaves a database frozen, and neither
 * does a root that died.
 */
static void wait_thawed(void)
{
	while (!js_running()) {
		int state = js_state_now();

		if (js_instance_wait_change(state, 100))
			continue;
		if (js_sh->deadline_us && js_now_us() > js_sh->deadline_us + 1000000 &&
		    !js_pid_alive(js_sh->root_pid)) {
			char reason[JS_REASON_MAX];

			js_engine_drain(reason, sizeof reason);
		}
	}
}

void js_wait_if_any_held(void)
{
	bool wait = false;

	if (js_running())
		return;
	lock();
	catch_up();
	for (uint32_t i = 0; i < js_sh->nfiles && !wait; i++)
		wait = has_held_data(i);
	unlock();
	if (wait)
		wait_thawed();
}

void js_wait_if_held_fd(int fd, bool any_holdable)
{
	struct fdinfo fi;
	bool wait = false;

	if (js_running())
		return;
	lock();
	if (!js_running() && classify_fd(fd, &fi) && fi.regular) {
		catch_up();
		wait = any_holdable ? fi.holdable : has_held_data(find_file(fi.dev, fi.ino));
	}
	unlock();
	if (wait)
		wait_thawed();
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
	for (uint32_t i = 0; i < js_sh->nfiles; i++)
		if (file_at(i)->dir_dev == st.st_dev && file_at(i)->dir_ino == st.st_ino)
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
	bool wait = false;

	if (js_running() || !path)
		return;
	lock();
	if (!js_running() && absolute_path(dirfd, path, abs, sizeof abs) == 0 &&
	    !js_path_is_memory_only(abs) && !js_path_is_volatile(abs) && js_path_in_scope(abs) &&
	    !js_path_is_own(abs)) {
		catch_up();
		wait = dir_is_held(abs);
		if (!wait && REAL(lstat64)(abs, &st) == 0)
			wait = find_file(st.st_dev, st.st_ino) >= 0;
	}
	unlock();
	if (wait)
		wait_thawed();
}

/* Truncating a held file, or creating a file in a held directory, waits. */
void js_wait_for_open(int dirfd, const char *path, int flags)
{
	char abs[PATH_MAX];
	struct stat64 st;
	bool wait = false;

	if (js_running() || !path || !(flags & (O_TRUNC | O_CREAT)))
		return;
	lock();
	if (!js_running() && absolute_path(dirfd, path, abs, sizeof abs) == 0 && path_holdable(abs)) {
		if (REAL(stat64)(abs, &st) == 0)
			wait = (flags & O_TRUNC) && S_ISREG(st.st_mode) && st.st_size > 0;
		else
			wait = (flags & O_CREAT) && dir_is_held(abs);
	}
	unlock();
	if (wait)
		wait_thawed();
}

void js_wait_for_map(int fd, int prot, int flags)
{
	struct fdinfo fi;
	bool wait = false;

	if (js_running() || fd < 0 || !(flags & MAP_SHARED))
		return;
	lock();
	if (!js_running() && classify_fd(fd, &fi) && fi.holdable) {
		catch_up();
		wait = (prot & PROT_WRITE) || has_held_data(find_file(fi.dev, fi.ino));
	}
	unlock();
	if (wait)
		wait_thawed();
}

/*
 * JETSNAP_MAX_PENDING: held bytes kept in memory.  Records go into the
 * log's page cache (js_hold_append); past the bound, the older part of the
 * log is queued for write-back, and the part queued one step earlier —
 * written back by now, or waited for here — is dropped from the page cache
 * and from this process's mapping (reads fault it back in from the file).
 * So at most about 1.5 x the bound stays resident, and writers slow to the
 * disk's pace only when they out-write it.
 */
static uint64_t resident_from;	/* this process's oldest log offset in memory */
static uint64_t queued_to;	/* [resident_from, queued_to) is being written back */

static void bound_resident(void)
{
	uint64_t tail = js_hold_tail(), page = 4096, cut;
	int fd = js_instance_fd();

	if (resident_from < js_hold_begin() || resident_from > tail ||
	    queued_to < resident_from || queued_to > tail)
		resident_from = queued_to = js_hold_begin();
	if (tail - queued_to <= js_cfg.max_pending)
		return;
	/* Queue down to half the bound, so this runs once per many writes. */
	cut = (tail - js_cfg.max_pending / 2) & ~(page - 1);
	if (cut <= queued_to)
		return;
	if (queued_to > resident_from) {
		REAL(sync_file_range)(fd, resident_from, queued_to - resident_from,
				      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				      SYNC_FILE_RANGE_WAIT_AFTER);
		madvise(js_base + resident_from, queued_to - resident_from, MADV_DONTNEED);
		posix_fadvise64(fd, resident_from, queued_to - resident_from, POSIX_FADV_DONTNEED);
		resident_from = queued_to;
	}
	REAL(sync_file_range)(fd, queued_to, cut - queued_to, SYNC_FILE_RANGE_WRITE);
	queued_to = cut;
}

/*
 * Keep the log ready ahead of its tail, from the root's control thread so
 * that no writer pays for it: grow the file before a writer must, and
 * bring the next pages into the page cache (zero pages of a hole, read
 * ahead).  A held write then copies into pages that exist, as a pwrite
 * over a cached file does; without this, every ~30th append allocated a
 * large folio (~20 µs) and every 16 MiB one grew the file, which set the
 * p99 of held writes.
 */
#define PREPARE_AHEAD (4ull << 20)

void js_engine_prepare_log(void)
{
	static uint64_t epoch, ready;
	uint64_t tail, to;

	if (!js_sh)
		return;
	if (epoch != atomic_load(&js_sh->epoch)) {
		epoch = atomic_load(&js_sh->epoch);
		ready = 0;
	}
	tail = js_hold_tail();
	if (ready >= tail + PREPARE_AHEAD / 2)
		return;
	if (js_sh->file_size < tail + PREPARE_AHEAD) {
		lock();
		js_instance_grow(js_hold_tail() + 2 * PREPARE_AHEAD);
		unlock();
	}
	to = tail + PREPARE_AHEAD;
	if (ready < tail)
		ready = tail;
	if (to > js_sh->file_size)
		to = js_sh->file_size;
	if (to > ready)
		posix_fadvise64(js_instance_fd(), ready, to - ready, POSIX_FADV_WILLNEED);
	ready = to;
}

/* ---- holding and overlaying ------------------------------------------- */

ssize_t js_hold_write(int fd, const struct iovec *iov, int cnt, off64_t off, enum js_pos pos)
{
	struct fdinfo fi;
	struct js_rec rec;
	size_t len = iov_total(iov, cnt);
	ssize_t ret = JS_NOT_HELD;
	bool wait = false;
	int saved = errno, idx;
	uint64_t sync_mark = 0;

	lock();
	/* Not held: the real call gives the error a bad fd or offset gets
	 * (EBADF for a read-only descriptor, EINVAL for a negative offset). */
	if (js_running() || !classify_fd(fd, &fi) || !fi.holdable || !fi.writable ||
	    (pos == JS_AT_OFFSET && off < 0))
		goto out;
	catch_up_others();
	if (fi.append && pos == JS_AT_CURSOR)
		pos = JS_AT_END;
	/* Linux appends a pwrite on an O_APPEND descriptor too. */
	if (fi.append && pos == JS_AT_OFFSET)
		off = -1;
	idx = file_of(fd, &fi);
	if (idx < 0) {
		/* No room to hold it: it may not slip through, so it waits. */
		js_log("no room to hold another file; a write waits for the thaw");
		wait = true;
		goto out;
	}
	if (pos == JS_AT_CURSOR) {
		off = REAL(lseek64)(fd, 0, SEEK_CUR);
		if (off < 0) {
			ret = -1;
			goto out_errno;
		}
	} else if (pos == JS_AT_END || off < 0) {
		catch_up();	/* the held size counts the pending writes */
		off = held_size(idx);
	}
	if (len == 0) {
		ret = 0;
		goto out;
	}
	rec = (struct js_rec){ .op = JS_REC_WRITE, .dev = fi.dev, .ino = fi.ino, .file = idx,
			       .off = off, .len = len };
	if (!hold_append(&rec, iov, cnt)) {
		js_log("cannot hold %zu bytes for %s: %s; the write waits", len,
		       path_of(file_at(idx)), strerror(errno));
		wait = true;
		goto out;
	}
	bound_resident();
	if (pos != JS_AT_OFFSET)
		REAL(lseek64)(fd, off + len, SEEK_SET);
	js_sh->held_bytes += len;
	js_sh->held_writes++;
	ret = len;
	if (fi.sync_writes) {
		append_barrier();
		sync_mark = tail_mark();
	}
out:
	errno = saved;
out_errno:
	unlock();
	if (wait)
		wait_thawed();
	/* An O_SYNC/O_DSYNC write returns once it is durable: in the journal. */
	if (sync_mark && journal_sync(sync_mark) < 0) {
		errno = EIO;
		return -1;
	}
	return ret;
}

/*
 * A size change of a held file is held like a write: SQLite's checkpoint
 * ends with one, PostgreSQL truncates relations.  path: truncate(2) by
 * name, opened here so that permissions fail exactly as they would.
 */
int js_hold_truncate(int fd, const char *path, off64_t len)
{
	struct fdinfo fi;
	struct js_rec rec;
	int ret = JS_NOT_HELD, saved = errno, idx, own = -1;
	bool wait = false;

	if (len < 0 || js_running())
		return JS_NOT_HELD;
	if (path) {
		own = own_open(path, O_WRONLY);
		if (own < 0) {
			errno = saved;
			return JS_NOT_HELD;
		}
		fd = own;
	}
	lock();
	if (js_running() || !classify_fd(fd, &fi) || !fi.holdable || !fi.writable)
		goto out;
	catch_up();
	idx = file_of(fd, &fi);
	rec = (struct js_rec){ .op = JS_REC_TRUNCATE, .dev = fi.dev, .ino = fi.ino, .file = idx,
			       .off = len };
	if (idx < 0 || !hold_append(&rec, NULL, 0)) {
		js_log("no room to hold a truncate; it waits for the thaw");
		wait = true;
		goto out;
	}
	js_sh->held_writes++;
	ret = 0;
out:
	unlock();
	if (own >= 0)
		own_close(own);
	if (wait)
		wait_thawed();
	errno = saved;
	return ret;
}

/* Read [off, off+n) of the file as the application would see it. */
static ssize_t read_overlaid(int fd, int idx, const struct iovec *iov, int cnt, off64_t off)
{
	off64_t size = held_size(idx);
	size_t want = iov_total(iov, cnt), done = 0;

	if (off >= size)
		return 0;
	if ((off64_t)want > size - off)
		want = size - off;
	for (int i = 0; i < cnt && done < want; i++) {
		size_t seg = iov[i].iov_len < want - done ? iov[i].iov_len : want - done;
		uint8_t *buf = iov[i].iov_base;
		size_t got = 0, from_disk = seg;

		/* A held truncate hid the disk's bytes past its length. */
		if (off + (off64_t)done >= view.floor[idx])
			from_disk = 0;
		else if (off + (off64_t)(done + seg) > view.floor[idx])
			from_disk = view.floor[idx] - off - done;
		while (got < from_disk) {
			ssize_t r = REAL(pread64)(fd, buf + got, from_disk - got, off + done + got);

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
		overlay_apply(view.ov[idx], off + done, seg, buf);
		done += seg;
	}
	return done;
}

ssize_t js_overlay_read(int fd, const struct iovec *iov, int cnt, off64_t off, enum js_pos pos)
{
	struct fdinfo fi;
	ssize_t ret = JS_NOT_HELD;
	int saved = errno, idx;

	lock();
	if (js_running() || !classify_fd(fd, &fi) || !fi.regular || !fi.readable ||
	    (pos == JS_AT_OFFSET && off < 0))
		goto out;
	catch_up();
	idx = find_file(fi.dev, fi.ino);
	if (!has_held_data(idx))
		goto out;
	if (pos != JS_AT_OFFSET) {
		off = REAL(lseek64)(fd, 0, SEEK_CUR);
		if (off < 0) {
			ret = -1;
			goto out_errno;
		}
	}
	ret = read_overlaid(fd, idx, iov, cnt, off);
	if (ret < 0)
		goto out_errno;
	if (pos != JS_AT_OFFSET)
		REAL(lseek64)(fd, off + ret, SEEK_SET);
out:
	errno = saved;
out_errno:
	unlock();
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
	off64_t ret = JS_NOT_HELD, size, to;
	int saved = errno, idx;

	if (whence != SEEK_END && whence != SEEK_DATA && whence != SEEK_HOLE)
		return JS_NOT_HELD;
	lock();
	if (js_running() || !classify_fd(fd, &fi) || !fi.regular)
		goto out;
	catch_up();
	idx = find_file(fi.dev, fi.ino);
	if (!has_held_data(idx))
		goto out;
	size = held_size(idx);
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
	unlock();
	return ret;
}

uint64_t js_freeze_epoch(void)
{
	return js_sh ? atomic_load(&js_sh->epoch) : 0;
}

bool js_overlay_size(dev_t dev, ino_t ino, uint64_t epoch, off64_t *size, blkcnt64_t *blocks)
{
	int idx;

	if (js_running())
		return false;
	lock();
	/*
	 * The caller's stat ran before the lock: if a drain ended meanwhile
	 * (and maybe a new freeze began), the view no longer holds the
	 * writes that stat did not see on disk yet.
	 */
	if (js_running() || (epoch != JS_ANY_EPOCH && atomic_load(&js_sh->epoch) != epoch)) {
		unlock();
		return true;
	}
	catch_up();
	idx = find_file(dev, ino);
	if (has_held_data(idx)) {
		off64_t held = held_size(idx);

		/* Held truncates can make it smaller than on disk. */
		*size = held;
		if (blocks && *blocks < (held + 511) / 512)
			*blocks = (held + 511) / 512;
	}
	unlock();
	return false;
}

/* ---- members ------------------------------------------------------------ */

/*
 * A member slot's process still belongs to the instance: alive, and still
 * mapping the instance file (one that exec'd with the shim removed from
 * LD_PRELOAD keeps its pid and its slot, but has left).
 */
static bool member_in_instance(pid_t pid)
{
	static char buf[65536];
	const char *inst = js_instance_path();
	char path[64];
	bool found = false;
	size_t have = 0, ilen = strlen(inst);
	ssize_t n;
	int fd;

	if (!pid || !js_pid_alive(pid))
		return false;
	if (pid == getpid())
		return true;
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	fd = own_open(path, O_RDONLY);
	if (fd < 0)
		return true;	/* cannot tell: keep it */
	/* Carry the tail of each chunk over: the path can span two reads. */
	while (!found && (n = REAL(read)(fd, buf + have, sizeof buf - have)) > 0) {
		size_t total = have + n;

		found = memmem(buf, total, inst, ilen) != NULL;
		have = total < ilen ? total : ilen - 1;
		memmove(buf, buf + total - have, have);
	}
	own_close(fd);
	return found;
}

/* ---- freeze ----------------------------------------------------------- */

struct dirent64_raw {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* The open flags of another process's descriptor, from fdinfo. */
static int fd_flags_of(pid_t pid, int fd)
{
	char path[64], buf[256], *p;
	int f, flags = -1;
	ssize_t n;

	snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)pid, fd);
	f = own_open(path, O_RDONLY);
	if (f < 0)
		return -1;
	n = REAL(read)(f, buf, sizeof buf - 1);
	own_close(f);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, "flags:");
	if (p)
		flags = (int)strtol(p + 6, NULL, 8);
	return flags;
}

struct sync_list {
	int fds[256];
	int n;
	pid_t ring_pid;		/* a member with an io_uring, and its fd */
	int ring_fd;
};

/*
 * Every descriptor of a member process open for writing on a holdable file
 * joins the freeze, and is flushed before Freeze returns.  An io_uring
 * found on the way is noted: writes submitted through one reach the kernel
 * without a call the shim sees.
 */
static void enroll_process_files(pid_t pid, struct sync_list *sync)
{
	char dirpath[64], buf[8192], link[96], path[PATH_MAX];
	int dir;
	long n;

	snprintf(dirpath, sizeof dirpath, "/proc/%d/fd", (int)pid);
	dir = own_open(dirpath, O_RDONLY | O_DIRECTORY);
	if (dir < 0)
		return;
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
		for (long pos = 0; pos < n;) {
			struct dirent64_raw *d = (struct dirent64_raw *)(buf + pos);
			int fd = atoi(d->d_name), fl, idx;
			struct stat64 st;
			ssize_t len;

			pos += d->d_reclen;
			if (d->d_name[0] == '.' || (pid == getpid() && (js_is_own_fd(fd) || fd == dir)))
				continue;
			fl = fd_flags_of(pid, fd);
			if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
				continue;
			snprintf(link, sizeof link, "%s/%d", dirpath, fd);
			len = readlink(link, path, sizeof path - 1);
			if (len <= 0)
				continue;
			path[len] = 0;
			if (!sync->ring_pid && strcmp(path, "anon_inode:[io_uring]") == 0) {
				sync->ring_pid = pid;
				sync->ring_fd = fd;
			}
			if (REAL(stat64)(link, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink == 0)
				continue;
			if (!path_holdable(path) || find_file(st.st_dev, st.st_ino) >= 0)
				continue;
			idx = register_file(st.st_dev, st.st_ino, path, st.st_size);
			if (idx >= 0 && sync->n < (int)(sizeof sync->fds / sizeof sync->fds[0])) {
				int f = own_open(link, O_RDONLY);

				if (f >= 0)
					sync->fds[sync->n++] = f;
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
static bool mappings_allow_freeze(pid_t pid, char *reason, size_t len)
{
	static char buf[65536];
	char line[PATH_MAX + 256], path[64];
	size_t ll = 0;
	int fd;
	ssize_t n;
	bool ok = true;

	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	fd = own_open(path, O_RDONLY);
	if (fd < 0)
		return true;
	while (ok && (n = REAL(read)(fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n && ok; i++) {
			unsigned long maj, min, ino;
			char perms[8], file[PATH_MAX];

			if (buf[i] != '\n') {
				if (ll < sizeof line - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = 0;
			ll = 0;
			file[0] = 0;
			if (sscanf(line, "%*x-%*x %7s %*x %lx:%lx %lu %4095[^\n]", perms, &maj, &min, &ino, file) < 4 ||
			    perms[3] != 's' || file[0] != '/' || js_path_is_memory_only(file) ||
			    !js_path_in_scope(file) || js_path_is_own(file) || js_path_is_volatile(file))
				continue;
			if (perms[1] == 'w') {
				snprintf(reason, len, "%s is mapped MAP_SHARED writable (pid %d), so its writes cannot be held; "
					 "list it in JETSNAP_VOLATILE only if it is disposable", file, (int)pid);
				ok = false;
			} else if (find_file(makedev(maj, min), ino) >= 0) {
				snprintf(reason, len, "%s is mapped MAP_SHARED read-only (pid %d) and also written with write calls, "
					 "so reads through the mapping could not see held writes (LMDB-style); it cannot be frozen",
					 file, (int)pid);
				ok = false;
			}
		}
	}
	own_close(fd);
	return ok;
}

static void forget_files(void)
{
	js_sh->drain_pos = 0;
	js_sh->drain_errno = 0;
	js_sh->nfiles = 0;
	js_sh->pool_used = 0;
	js_hold_reset();
	atomic_fetch_add(&js_sh->epoch, 1);
	atomic_store(&js_sh->synced, tail_mark());
	catch_up();
}

JET_ERR js_engine_freeze(uint64_t snap, uint64_t timeout_ms, char *reason, size_t reason_len)
{
	struct sync_list sync = { .n = 0 };
	uint64_t t0;
	bool ok = true;

	(void)snap;
	if (!js_sh) {
		snprintf(reason, reason_len, "this process has no instance file (see JETSNAP_LOG)");
		return JET_errOSSnapshotNotAllowed;
	}
	lock();
	if (!js_running()) {
		unlock();
		snprintf(reason, reason_len, "the instance is already frozen or draining");
		return JET_errOSSnapshotInvalidSequence;
	}
	t0 = js_now_us();
	forget_files();
	js_sh->held_bytes = js_sh->held_writes = js_sh->drained_writes = 0;
	/*
	 * Close the gate while holding the lock: no write can be held before
	 * the checks below pass, so a refusal has nothing to drain.
	 */
	js_gate_close(JS_FROZEN);
	for (int i = 0; i < JS_MAX_MEMBERS; i++) {
		int32_t pid = atomic_load(&js_sh->members[i].pid);

		if (member_in_instance(pid))
			enroll_process_files(pid, &sync);
	}
	/*
	 * Which files a ring writes cannot be seen from outside it, so any
	 * ring in a process with held files refuses the freeze (SPEC
	 * "Refusal"); one in a process that writes no holdable file is
	 * harmless.
	 */
	if (sync.ring_pid && js_sh->nfiles > 0) {
		snprintf(reason, reason_len, "process %d uses an io_uring (fd %d): writes submitted "
			 "through it would bypass the freeze, so it cannot be consistent",
			 (int)sync.ring_pid, sync.ring_fd);
		ok = false;
	}
	for (int i = 0; i < JS_MAX_MEMBERS && ok; i++) {
		int32_t pid = atomic_load(&js_sh->members[i].pid);

		if (member_in_instance(pid))
			ok = mappings_allow_freeze(pid, reason, reason_len);
	}
	if (!ok) {
		forget_files();
		snprintf(js_sh->last_refusal, sizeof js_sh->last_refusal, "%s", reason);
		atomic_store(&js_sh->state, JS_RUNNING);
		js_instance_wake_all();
		unlock();
		for (int i = 0; i < sync.n; i++)
			own_close(sync.fds[i]);
		js_log("freeze refused: %s", reason);
		return JET_errOSSnapshotNotAllowed;
	}
	js_sh->frozen_at_us = js_now_us();
	js_sh->deadline_us = js_sh->frozen_at_us + timeout_ms * 1000;
	js_sh->last_refusal[0] = 0;
	unlock();
	/* Guarantee 1: what returned before Freeze is on stable storage, so
	 * a block-level snapshot sees it too. */
	for (int i = 0; i < sync.n; i++) {
		REAL(fdatasync)(sync.fds[i]);
		own_close(sync.fds[i]);
	}
	js_log("frozen: %u files, gate closed in %llu us", js_sh->nfiles,
	       (unsigned long long)(js_sh->frozen_at_us - t0));
	return JET_errSuccess;
}

/* ---- self-check -------------------------------------------------------- */

static char taint_reason[JS_REASON_MAX];

void js_freeze_taint(const char *fmt, ...)
{
	char buf[JS_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	js_log("freeze not consistent: %s", buf);
	if (!taint_reason[0])
		snprintf(taint_reason, sizeof taint_reason, "%s", buf);
}

const char *js_freeze_taint_reason(void)
{
	return taint_reason;
}

/* ---- drain ------------------------------------------------------------- */

/*
 * The drain applies the log in batches.  A batch is the writes between two
 * barriers: the application's fsyncs (JS_REC_BARRIER, see append_barrier)
 * and held truncates.  Its writes are sorted by file and offset, then
 * written out in offset order, adjacent extents in one pwritev: each byte
 * once, in runs as long as the application's writes allow, whatever order
 * it wrote them in.  The files end as if every record had been applied one
 * by one in order: of two writes of the same range the later wins, and a
 * file whose writes overlap otherwise is resolved through an overlay filled
 * in log order.  Nothing of a batch is written before the batch ahead of it
 * is, so a write never overtakes an fsync the application made after it.
 * A batch that fails is retried record by record (flush_or_stop).
 *
 * Crash safety does not rest on this order: until the drained files are
 * fdatasync'ed, the journal keeps every record and recovery replays them
 * all, in order, over whatever the drain had written.
 *
 * A sorted array, not the overlay, is the common path: inserting 64 Ki
 * random extents into a treap cost ~5 µs each in cache misses, sorting
 * them ~0.2 µs.
 */
#define DRAIN_BATCH_RECORDS (1u << 20)	/* 32 MiB of index at most */
#define DRAIN_IOV 1024			/* IOV_MAX */

struct drain_ext {
	uint64_t off, len;
	const void *data;
	uint32_t file, order;	/* order: position in the log */
};

static struct {
	struct drain_ext *e;
	uint32_t n;
	struct overlay *ov;	/* for files with partly overlapping writes */
} batch;

struct drain_run {
	int fd;
	uint64_t start, next;	/* the run covers [start, next) */
	struct iovec v[DRAIN_IOV];
	int n;
};

static int run_flush(struct drain_run *r)
{
	int ret = r->n ? js_pwritev_all(r->fd, r->v, r->n, r->start) : 0;

	r->n = 0;
	return ret;
}

static int run_add(uint64_t off, uint64_t len, const void *data, void *arg)
{
	struct drain_run *r = arg;

	if (r->n && (off != r->next || r->n == DRAIN_IOV) && run_flush(r) < 0)
		return -1;
	if (!r->n)
		r->start = off;
	r->v[r->n++] = (struct iovec){ (void *)data, len };
	r->next = off + len;
	return 0;
}

static int by_file_off(const void *a, const void *b)
{
	const struct drain_ext *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int by_order(const void *a, const void *b)
{
	const struct drain_ext *x = a, *y = b;

	return x->order < y->order ? -1 : x->order > y->order;
}

/* Write out e[0..n), one file's writes sorted by offset. */
static int write_file_batch(struct drain_run *run, struct drain_ext *e, uint32_t n)
{
	uint32_t kept = 0;
	bool overlap = false;

	/* A write of exactly the range of a later one leaves no trace. */
	for (uint32_t i = 0; i < n; i++) {
		if (kept && e[kept - 1].off == e[i].off && e[kept - 1].len == e[i].len)
			kept--;
		else if (kept && e[i].off < e[kept - 1].off + e[kept - 1].len)
			overlap = true;
		e[kept++] = e[i];
	}
	if (!overlap) {
		for (uint32_t i = 0; i < kept; i++)
			if (run_add(e[i].off, e[i].len, e[i].data, run) < 0)
				return -1;
		return run_flush(run);
	}
	if (!batch.ov && !(batch.ov = overlay_new()))
		return -1;
	qsort(e, kept, sizeof *e, by_order);
	for (uint32_t i = 0; i < kept; i++)
		if (overlay_insert(batch.ov, e[i].off, e[i].len, e[i].data) < 0) {
			overlay_clear(batch.ov);
			return -1;
		}
	n = overlay_walk(batch.ov, run_add, run) == 0 && run_flush(run) == 0;
	overlay_clear(batch.ov);
	return n ? 0 : -1;
}

/* Write out the batch; false (errno set) on the first failure. */
static bool batch_flush(int *drain_fd)
{
	static struct drain_run run;
	uint32_t records = batch.n;
	bool ok = true;

	qsort(batch.e, batch.n, sizeof *batch.e, by_file_off);
	for (uint32_t a = 0, b; a < batch.n && ok; a = b) {
		uint32_t i = batch.e[a].file;

		for (b = a + 1; b < batch.n && batch.e[b].file == i; b++)
			;
		if (drain_fd[i] < 0)
			drain_fd[i] = own_open(path_of(file_at(i)), O_WRONLY);
		run.fd = drain_fd[i];
		run.n = 0;
		ok = drain_fd[i] >= 0 && write_file_batch(&run, batch.e + a, b - a) == 0;
	}
	if (ok)
		__atomic_add_fetch(&js_sh->drained_writes, records, __ATOMIC_RELAXED);
	batch.n = 0;
	return ok;
}

static bool batch_add(const struct js_rec *rec)
{
	if (!batch.e) {
		void *p = REAL(mmap)(NULL, DRAIN_BATCH_RECORDS * sizeof *batch.e, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return false;
		batch.e = p;
	}
	if (batch.n == DRAIN_BATCH_RECORDS)
		return false;
	batch.e[batch.n] = (struct drain_ext){ rec->off, rec->len, rec + 1, rec->file, batch.n };
	batch.n++;
	return true;
}

/* Apply one record as it is; false with reason set. */
static bool apply_one(const struct js_rec *rec, int *drain_fd, char *reason, size_t len)
{
	const char *path = path_of(file_at(rec->file));
	int *fd = &drain_fd[rec->file];

	if (rec->op != JS_REC_WRITE && rec->op != JS_REC_TRUNCATE)
		return true;
	if (*fd < 0)
		*fd = own_open(path, O_WRONLY);
	if (*fd >= 0 && (rec->op == JS_REC_TRUNCATE ? REAL(ftruncate64)(*fd, rec->off) :
			 js_pwrite_all(*fd, (const uint8_t *)(rec + 1), rec->len, rec->off)) == 0) {
		__atomic_add_fetch(&js_sh->drained_writes, 1, __ATOMIC_RELAXED);
		return true;
	}
	js_sh->drain_errno = errno ? errno : EIO;
	snprintf(reason, len, "cannot write %llu held bytes at offset %llu of %s: %s; "
		 "they and the rest stay held and the drain retries every second",
		 (unsigned long long)rec->len, (unsigned long long)rec->off, path,
		 strerror(js_sh->drain_errno));
	js_log("drain: %s", reason);
	return false;
}

/*
 * Write out the batch of records [from, *to).  If that fails, apply them
 * again one by one in order, so the drain stops exactly at the first
 * record that cannot be written (*to), with the reason.
 */
static bool flush_or_stop(uint64_t from, uint64_t *to, int *drain_fd, char *reason, size_t len)
{
	uint64_t pos, next;

	if (batch_flush(drain_fd))
		return true;
	for (pos = from; pos < *to; pos = next)
		if (!apply_one(js_hold_at(pos, &next), drain_fd, reason, len))
			break;
	if (pos == *to)
		return true;
	*to = pos;
	return false;
}

/* Applied records need not stay mapped in the drainer. */
static void unmap_log(uint64_t from, uint64_t to)
{
	madvise(js_base + (from & ~4095ull), (to & ~4095ull) - (from & ~4095ull), MADV_DONTNEED);
}

/* Apply records [from, to); returns how far they were applied. */
static uint64_t apply_records(uint64_t from, uint64_t to, int *drain_fd, char *reason, size_t len)
{
	uint64_t pos, next, done = from, mapped = from & ~4095ull, stop;

	reason[0] = 0;
	for (pos = from; pos < to; pos = next) {
		const struct js_rec *rec;

		/* Map the log 8 MiB at a time in one call rather than a
		 * page fault per record. */
		if (pos + sizeof *rec > mapped) {
			uint64_t upto = (pos + (8u << 20)) & ~4095ull;

			madvise(js_base + mapped, (upto < to ? upto : to) + 4095 - mapped, MADV_POPULATE_READ);
			mapped = upto;
		}
		rec = js_hold_at(pos, &next);
		if (rec->op == JS_REC_FILE || (rec->op == JS_REC_WRITE && !rec->len))
			continue;
		if (rec->op == JS_REC_WRITE && batch_add(rec))
			continue;
		/* A truncate, or a full batch: what is gathered goes first. */
		stop = pos;
		if (!flush_or_stop(done, &stop, drain_fd, reason, len))
			return stop;
		unmap_log(done, pos);
		done = pos;
		if (rec->op == JS_REC_WRITE && batch_add(rec))
			continue;
		if (!apply_one(rec, drain_fd, reason, len))
			return pos;
		done = next;
	}
	stop = to;
	if (!flush_or_stop(done, &stop, drain_fd, reason, len))
		return stop;
	unmap_log(done, to);
	/* The batch index is not needed until the next drain. */
	if (batch.e)
		madvise(batch.e, DRAIN_BATCH_RECORDS * sizeof *batch.e, MADV_DONTNEED);
	return to;
}

/* The files must be durable before the journal that could rebuild them
 * is dropped; a failing flush is a failing drain. */
static bool sync_drained(int *drain_fd, char *reason, size_t len)
{
	for (uint32_t i = 0; i < JS_MAX_FILES; i++) {
		if (drain_fd[i] >= 0 && REAL(fdatasync)(drain_fd[i]) < 0) {
			js_sh->drain_errno = errno;
			snprintf(reason, len, "cannot flush %s after draining: %s; the journal keeps its "
				 "data and the drain retries every second", path_of(file_at(i)), strerror(errno));
			js_log("drain: %s", reason);
			return false;
		}
	}
	return true;
}

/*
 * Once drained, the journal must never be replayed again: later writes go
 * straight to the files, and an old record replayed over them would undo
 * them.  Recovery stops at the first record that is not whole, so clearing
 * the first one, durably, empties the journal.
 */
#define JOURNAL_KEEP (16ull << 20)	/* of the log, kept allocated for the next freeze */

static void invalidate_journal(void)
{
	static const uint32_t no_magic;
	uint64_t keep = JS_HEADER_SIZE + JOURNAL_KEEP;
	int fd = js_instance_fd();

	if (js_hold_tail() == js_hold_begin())
		return;
	/*
	 * Keep the log's first JOURNAL_KEEP bytes: the next freeze's appends
	 * then overwrite blocks already allocated, and a commit's fdatasync
	 * writes no allocation metadata (PostgreSQL's held commits synced ~2x
	 * slower into fresh blocks).  Cut the rest off: a truncate drops its
	 * dirty pages unwritten, where syncing them would write the whole
	 * applied journal.  Clearing the first record's magic keeps what
	 * stays from ever being replayed.  Readers of the log hold the lock.
	 */
	if ((js_sh->file_size > keep && REAL(ftruncate64)(fd, keep) < 0) ||
	    REAL(pwrite64)(fd, &no_magic, sizeof no_magic, JS_HEADER_SIZE) != sizeof no_magic ||
	    REAL(fdatasync)(fd) < 0) {
		js_log("cannot clear the drained hold journal: %s", strerror(errno));
		return;
	}
	if (js_sh->file_size > keep)
		js_sh->file_size = keep;
}

/*
 * Apply the log in order while the application keeps appending; when the
 * drain catches up with the tail, under the lock, the instance switches
 * back to pass-through.  Waiting calls then go on.
 */
int js_engine_drain(char *reason, size_t reason_len)
{
	static int drain_fd[JS_MAX_FILES];
	int32_t none = 0;
	uint64_t pos;
	int ret = 0;

	if (!js_sh || js_running())
		return 0;
	/* One drainer per instance. */
	if (!atomic_compare_exchange_strong(&js_sh->drainer_pid, &none, getpid())) {
		if (!js_pid_alive(none) ||
		    !atomic_compare_exchange_strong(&js_sh->drainer_pid, &none, getpid())) {
			snprintf(reason, reason_len, "another process (pid %d) is draining the instance", (int)none);
			return -1;
		}
	}
	for (uint32_t i = 0; i < JS_MAX_FILES; i++)
		drain_fd[i] = -1;
	lock();
	if (js_running())
		goto done;
	atomic_store(&js_sh->state, JS_DRAINING);
	/* A retry resumes after what an earlier attempt applied. */
	pos = js_sh->drain_pos > js_hold_begin() ? js_sh->drain_pos : js_hold_begin();
	for (int pass = 0;; pass++) {
		uint64_t end = js_hold_tail(), reached;
		bool synced, writers_go_on = pass < 2;

		if (pos == end)
			break;
		/*
		 * Writers keep holding while the drainer catches up; but ones
		 * that write faster than it applies would keep it from ever
		 * reaching the tail.  After two passes the rest is applied
		 * with the lock held: new writes wait one pass at most.
		 */
		if (writers_go_on)
			unlock();
		reached = apply_records(pos, end, drain_fd, reason, reason_len);
		synced = sync_drained(drain_fd, reason, reason_len);
		if (writers_go_on)
			lock();
		js_sh->drain_pos = synced ? reached : pos;
		if (reached != end || !synced) {
			ret = -1;
			goto done;
		}
		pos = end;
	}
	invalidate_journal();
	js_sh->drain_errno = 0;
	js_sh->drain_pos = 0;
	js_sh->frozen_us = js_now_us() - js_sh->frozen_at_us;
	js_sh->deadline_us = 0;
	js_sh->held_bytes = 0;
	atomic_fetch_add(&js_sh->epoch, 1);
	js_hold_reset();
	atomic_store(&js_sh->state, JS_RUNNING);
	js_instance_wake_all();
	js_log("thawed: %llu writes drained after %llu us frozen",
	       (unsigned long long)js_sh->drained_writes, (unsigned long long)js_sh->frozen_us);
done:
	for (uint32_t i = 0; i < JS_MAX_FILES; i++)
		if (drain_fd[i] >= 0)
			own_close(drain_fd[i]);
	atomic_store(&js_sh->drainer_pid, 0);
	unlock();
	return ret;
}

/* ---- status ------------------------------------------------------------ */

void js_engine_status(struct js_status *st)
{
	if (!js_sh)
		return;
	lock();
	st->state = js_state_now();
	st->held_bytes = js_sh->held_bytes;
	st->held_writes = js_sh->held_writes;
	st->drained_writes = js_sh->drained_writes;
	st->frozen_us = st->state == JS_RUNNING ? js_sh->frozen_us : js_now_us() - js_sh->frozen_at_us;
	st->files = js_sh->nfiles;
	snprintf(st->last_refusal, sizeof st->last_refusal, "%s", js_sh->last_refusal);
	st->journal_bytes = js_hold_tail() - js_hold_begin();
	st->drained_bytes = st->state == JS_DRAINING && js_sh->drain_pos > js_hold_begin() ?
			    js_sh->drain_pos - js_hold_begin() : 0;
	unlock();
	st->nprocs = 0;
	for (int i = 0; i < JS_MAX_MEMBERS; i++) {
		int32_t pid = atomic_load(&js_sh->members[i].pid);

		if (member_in_instance(pid)) {
			if (st->nprocs < JS_PIDS_MAX)
				st->pids[st->nprocs] = pid;
			st->nprocs++;
		}
	}
}

size_t js_engine_files(char *buf, size_t cap, uint32_t *count)
{
	size_t used = 0;

	*count = 0;
	if (!js_sh)
		return 0;
	lock();
	for (uint32_t i = 0; i < js_sh->nfiles; i++) {
		const char *p = path_of(file_at(i));
		size_t n = strlen(p) + 1;

		if (used + n > cap)
			break;
		memcpy(buf + used, p, n);
		used += n;
		(*count)++;
	}
	unlock();
	return used;
}

/* ---- fork ---------------------------------------------------------------- */

/*
 * The child's private view must be a consistent copy: no thread of ours may
 * be in the middle of changing it, so fork waits for the instance lock.
 * Only the parent unlocks: the lock word is shared memory, and one unlock
 * releases it for every process.
 */
static void before_fork(void)
{
	if (js_sh)
		lock();
}

static void after_fork_parent(void)
{
	if (js_sh)
		unlock();
}

/*
 * fork copies the descriptor table before memory, so a mark another thread
 * set in between (a drain's or the control thread's descriptor) can reach
 * the child without its descriptor; the child's next open would get that
 * number and could never close it.  The child has none of those threads:
 * only the instance file is still ours.
 */
static void after_fork_child(void)
{
	for (int fd = 0; fd < FDMAX; fd++)
		if (fd != js_instance_fd())
			atomic_store_explicit(&own_fd[fd], 0, memory_order_relaxed);
	overlay_after_fork();
	js_instance_join_child();
}

__attribute__((constructor(200))) static void js_engine_init(void)
{
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}
