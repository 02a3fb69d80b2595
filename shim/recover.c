/*
 * Crash recovery: replay the hold journals that dead instances left in the
 * state directory.  Run by the shim when a process starts (before the
 * application's first open) and by `jetsnap recover`; so it uses raw
 * system calls only, never the wrappers.
 *
 * A journal is replayed only when every process of its instance is gone.
 * Records are applied in order up to the first one that is not whole (bad
 * magic, a sequence gap, a bad checksum, past the end of the file): a torn
 * last record was never acknowledged.  Each write lands at its absolute
 * offset, so replaying twice gives the same files as once.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "holdlog.h"
#include "instance.h"
#include "recover.h"

static int sys_open(const char *path, int flags)
{
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0600);
}

static void sys_close(int fd)
{
	syscall(SYS_close, fd);
}

static bool alive(int32_t pid)
{
	return pid > 0 && (syscall(SYS_kill, pid, 0) == 0 || errno == EPERM);
}

static bool instance_alive(const struct js_shared *sh)
{
	if (alive(sh->root_pid))
		return true;
	for (int i = 0; i < JS_MAX_MEMBERS; i++)
		if (alive(sh->members[i].pid))
			return true;
	return false;
}

int js_pwrite_all(int fd, const uint8_t *p, uint64_t len, uint64_t off)
{
	while (len) {
		long r = syscall(SYS_pwrite64, fd, p, len, off);

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

/* Replay one journal's whole records; the count applied, or -1. */
static long replay(const uint8_t *base, uint64_t size, uint64_t version, js_recover_log_fn *log)
{
	static uint64_t path_at[JS_MAX_FILES];
	static int fds[JS_MAX_FILES];
	uint64_t pos = JS_HEADER_SIZE, prev_seq = 0;
	long applied = 0, failed = 0;

	memset(path_at, 0, sizeof path_at);
	for (int i = 0; i < JS_MAX_FILES; i++)
		fds[i] = -1;
	while (pos + sizeof(struct js_rec) <= size) {
		const struct js_rec *rec = (const struct js_rec *)(base + pos);
		uint64_t next = pos + sizeof *rec + ((rec->len + 7) & ~7ull);

		if (rec->magic != JS_REC_MAGIC || (prev_seq && rec->seq != prev_seq + 1) ||
		    next > size || next < pos || rec->file >= JS_MAX_FILES ||
		    rec->checksum != (version == 1 ? js_rec_checksum_v1(rec, rec + 1) :
					     js_rec_checksum(rec, rec + 1)))
			break;
		if (rec->op == JS_REC_FILE && rec->len > 1 && ((const char *)(rec + 1))[rec->len - 1] == 0) {
			path_at[rec->file] = pos + sizeof *rec;
		} else if ((rec->op == JS_REC_WRITE || rec->op == JS_REC_TRUNCATE) && path_at[rec->file]) {
			const char *path = (const char *)base + path_at[rec->file];

			if (fds[rec->file] < 0)
				fds[rec->file] = sys_open(path, O_WRONLY);
			if (fds[rec->file] < 0 ||
			    (rec->op == JS_REC_TRUNCATE ? syscall(SYS_ftruncate, fds[rec->file], rec->off) :
			     js_pwrite_all(fds[rec->file], (const uint8_t *)(rec + 1), rec->len, rec->off)) < 0) {
				log("cannot replay %llu bytes at %llu of %s: %s", (unsigned long long)rec->len,
				    (unsigned long long)rec->off, path, strerror(errno));
				failed++;
			} else {
				applied++;
			}
		}
		prev_seq = rec->seq;
		pos = next;
	}
	for (int i = 0; i < JS_MAX_FILES; i++) {
		if (fds[i] < 0)
			continue;
		if (syscall(SYS_fdatasync, fds[i]) < 0)
			failed++;
		sys_close(fds[i]);
	}
	return failed ? -1 : applied;
}

static int recover_file(const char *path, js_recover_log_fn *log)
{
	struct stat st;
	uint64_t version;
	void *map;
	long n;
	int fd = sys_open(path, O_RDWR);

	if (fd < 0)
		return 0;
	/* Two processes starting at once: one replays, the other moves on. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || syscall(SYS_fstat, fd, &st) < 0 ||
	    st.st_uid != getuid() || st.st_size < (off_t)JS_HEADER_SIZE) {
		sys_close(fd);
		return 0;
	}
	map = (void *)syscall(SYS_mmap, NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		sys_close(fd);
		return 0;
	}
	if (((struct js_shared *)map)->magic != JS_INSTANCE_MAGIC || instance_alive(map)) {
		syscall(SYS_munmap, map, st.st_size);
		sys_close(fd);
		return 0;
	}
	version = ((struct js_shared *)map)->version;
	if (version < 1 || version > JS_INSTANCE_VERSION) {
		log("journal %s was written by a newer jetsnap (version %llu): kept; "
		    "run that version's 'jetsnap recover'", path, (unsigned long long)version);
		syscall(SYS_munmap, map, st.st_size);
		sys_close(fd);
		return -1;
	}
	n = replay(map, st.st_size, version, log);
	syscall(SYS_munmap, map, st.st_size);
	if (n < 0) {
		/* Keep it: nothing may be dropped; the next start retries. */
		log("journal %s kept: some records could not be replayed", path);
		sys_close(fd);
		return -1;
	}
	if (n > 0)
		log("replayed %ld held writes from %s", n, path);
	syscall(SYS_unlinkat, AT_FDCWD, path, 0);
	sys_close(fd);
	return n > 0;
}

int js_recover_dir(const char *dir, js_recover_log_fn *log)
{
	char buf[4096], path[4096 + 256];
	int dfd = sys_open(dir, O_RDONLY | O_DIRECTORY), replayed = 0, failed = 0;
	long n;

	if (dfd < 0)
		return errno == ENOENT ? 0 : -1;
	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0) {
		for (long off = 0; off < n;) {
			const char *name = buf + off + 19;	/* d_ino, d_off, d_reclen, d_type */
			unsigned short reclen;
			size_t len = strlen(name);

			memcpy(&reclen, buf + off + 16, sizeof reclen);
			off += reclen;
			if (len < 6 || strcmp(name + len - 5, ".inst") != 0)
				continue;
			snprintf(path, sizeof path, "%s/%s", dir, name);
			switch (recover_file(path, log)) {
			case 1:
				replayed++;
				break;
			case -1:
				failed++;
				break;
			}
		}
	}
	sys_close(dfd);
	return failed ? -1 : replayed;
}

/* mkdir -p, mode 0700, with raw calls. */
static int make_dirs(char *path)
{
	for (char *p = path + 1;; p++) {
		if (*p == '/' || *p == 0) {
			char c = *p;

			*p = 0;
			if (syscall(SYS_mkdirat, AT_FDCWD, path, 0700) < 0 && errno != EEXIST)
				return -1;
			*p = c;
			if (!c)
				return 0;
		}
	}
}

void js_state_dir_from_env(char *buf, size_t cap)
{
	const char *state = getenv("JETSNAP_STATE_DIR"), *rt = getenv("JETSNAP_RUNTIME_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char runtime[512];

	if (state && *state) {
		snprintf(buf, cap, "%s", state);
		return;
	}
	if (rt && *rt)
		snprintf(runtime, sizeof runtime, "%s", rt);
	else if (xdg && *xdg)
		snprintf(runtime, sizeof runtime, "%s/jetsnap", xdg);
	else
		snprintf(runtime, sizeof runtime, "/tmp/jetsnap-%u", (unsigned)getuid());
	js_default_state_dir(buf, cap, runtime);
}

void js_default_state_dir(char *buf, size_t cap, const char *runtime_dir)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int n = -1;

	/* Persistent storage: the journal must outlive a reboot. */
	if (xdg && *xdg == '/')
		n = snprintf(buf, cap, "%s/jetsnap", xdg);
	else if (home && *home == '/' && strcmp(home, "/") != 0)
		n = snprintf(buf, cap, "%s/.local/state/jetsnap", home);
	if (n > 0 && (size_t)n < cap && make_dirs(buf) == 0 && access(buf, W_OK) == 0)
		return;
	snprintf(buf, cap, "%s", runtime_dir);
}
