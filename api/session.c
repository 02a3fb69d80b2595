/*
 * Sessions outlive the control process that made them (`jetsnap freeze` and
 * `jetsnap thaw ID` are separate commands), so each one is a small text file
 * $RUNTIME/sessions/<id>, read and rewritten under a write lock for the
 * whole of a call: two control processes working on one session take turns.
 *
 *   jetsnap-session 1
 *   state frozen
 *   grbit 4
 *   expired 0
 *   member 1234 1
 *   end
 *
 * An ended session becomes a tombstone ("ended aborted"), so its id keeps
 * answering InvalidSnapId and the file is never created again.  Ids are
 * (uid << 40) | counter, the counter kept in $RUNTIME/next-id under a lock:
 * unique across every control process and user of the machine.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libjetsnap-int.h"

#define SESSION_MAGIC "jetsnap-session 1"
#define SESSION_FILE_MAX (1u << 20)
#define ID_COUNTER_BITS 40

static const char *const state_names[] = {
	[SS_PREPARING] = "preparing",
	[SS_PREPARED] = "prepared",
	[SS_FROZEN] = "frozen",
	[SS_TIMEDOUT] = "timedout",
	[SS_THAWED] = "thawed",
	[SS_LOGTRUNCATED] = "logtruncated",
};

static const char *const outcome_names[] = {
	[SO_COMPLETED] = "completed",
	[SO_ABORTED] = "aborted",
	[SO_TIMEDOUT] = "timedout",
};

/*
 * Across processes, a POSIX record lock on the whole file.  Unlike flock,
 * a forked child does not inherit it: an application that calls the API
 * while another of its threads forks would otherwise leave the lock with a
 * child that may be waiting for the very thaw this lock guards (seen in
 * tests/tree_stress).  Record locks do not exclude the threads of one
 * process from each other, so a process-wide mutex does that; closing any
 * descriptor of a locked file drops the lock, so only unlock_close closes
 * a locked file.
 */
static pthread_mutex_t store_mutex = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static int lock_fd(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int rc;

	pthread_mutex_lock(&store_mutex);
	do
		rc = fcntl(fd, F_SETLKW, &fl);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		pthread_mutex_unlock(&store_mutex);
	return rc;
}

static void unlock_close(int fd)
{
	close(fd);
	pthread_mutex_unlock(&store_mutex);
}

static JET_ERR store_error(const char *what, const char *path)
{
	return fail(JET_errNotInitialized, "cannot %s %s: %s", what, path, strerror(errno));
}

static void session_path(char *buf, size_t len, const char *rt, uint64_t id)
{
	snprintf(buf, len, "%s/sessions/%" PRIu64, rt, id);
}

/* Read a whole small file into a NUL-terminated malloc'd buffer. */
static char *read_all(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;

	while (buf) {
		if (len + 1 == cap) {
			char *more = cap < SESSION_FILE_MAX ? realloc(buf, cap * 2) : NULL;

			if (!more) {
				free(buf);
				return NULL;
			}
			buf = more;
			cap *= 2;
		}
		n = pread(fd, buf + len, cap - len - 1, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* Rewrite the whole file: content then length, so a reader under the lock sees one version. */
static int write_all(int fd, const char *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pwrite(fd, buf + done, len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return ftruncate(fd, (off_t)len);
}

static JET_ERR next_id(const char *rt, uint64_t *id)
{
	char path[4200], buf[32];
	unsigned long long counter = 1;
	JET_ERR err = JET_errSuccess;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/next-id", rt);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return store_error("open the session id counter", path);
	if (lock_fd(fd) < 0) {
		err = store_error("lock", path);
		close(fd);
		return err;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0) {
		err = store_error("read", path);
		goto out;
	}
	buf[n] = '\0';
	if (n > 0 && sscanf(buf, "%llu", &counter) != 1) {
		/* Restarting at 1 could reissue ids: refuse instead. */
		err = fail(JET_errNotInitialized, "session id counter %s is corrupt: remove it only if no session is live",
			   path);
		goto out;
	}
	if (counter == 0 || counter >= (1ull << ID_COUNTER_BITS)) {
		err = fail(JET_errNotInitialized, "session id counter %s is exhausted or corrupt", path);
		goto out;
	}
	n = snprintf(buf, sizeof(buf), "%llu\n", counter + 1);
	if (write_all(fd, buf, (size_t)n) < 0) {
		err = store_error("update", path);
		goto out;
	}
	*id = ((uint64_t)geteuid() << ID_COUNTER_BITS) | counter;
out:
	unlock_close(fd);
	return err;
}

static void session_init(struct session *s)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

JET_ERR session_add(struct session *s, pid_t pid)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct member *m = reallocarray(s->m, cap, sizeof(*m));

		if (!m)
			return fail(JET_errOutOfMemory, "out of memory for the session's instances");
		s->m = m;
		s->cap = cap;
	}
	s->m[s->n++] = (struct member){ .pid = pid };
	return JET_errSuccess;
}

struct member *session_find(struct session *s, pid_t pid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->m[i].pid == pid)
			return &s->m[i];
	return NULL;
}

static int state_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (strcmp(name, state_names[i]) == 0)
			return (int)i;
	return -1;
}

/*
 * Parse the file into s.  Returns 1 for a live session, 0 for a tombstone
 * or a half-prepared one, -1 for a file this library did not write.
 */
static int session_parse(struct session *s, char *text)
{
	char *save = NULL, *line;
	bool magic = false, end = false;
	int state = -1;

	for (line = strtok_r(text, "\n", &save); line && !end; line = strtok_r(NULL, "\n", &save)) {
		char word[32];
		unsigned long a, b;

		if (!magic) {
			magic = strcmp(line, SESSION_MAGIC) == 0;
			if (!magic)
				return -1;
		} else if (strncmp(line, "ended ", 6) == 0) {
			return 0;
		} else if (sscanf(line, "state %31s", word) == 1) {
			state = state_from_name(word);
		} else if (sscanf(line, "grbit %lu", &a) == 1) {
			s->grbit = (uint32_t)a;
		} else if (sscanf(line, "expired %lu", &a) == 1) {
			s->expired = a != 0;
		} else if (sscanf(line, "member %lu %lu", &a, &b) == 2) {
			if (session_add(s, (pid_t)a) != JET_errSuccess)
				return -1;
			s->m[s->n - 1].frozen = b != 0;
		} else if (strcmp(line, "end") == 0) {
			end = true;
		}
	}
	/* No "end": a writer died mid-rewrite; no state: not ours. */
	if (!end || state < 0)
		return -1;
	s->state = (enum session_state)state;
	return s->state == SS_PREPARING ? 0 : 1;
}

JET_ERR session_create(struct session *s, uint32_t grbit)
{
	char path[4200];
	JET_ERR err;

	session_init(s);
	err = runtime_dir(s->rt, sizeof(s->rt));
	if (!err)
		err = next_id(s->rt, &s->id);
	if (err)
		return err;
	s->grbit = grbit;
	s->state = SS_PREPARING;
	session_path(path, sizeof(path), s->rt, s->id);
	/* O_EXCL: an id is handed out once; a file already there means a bug or tampering. */
	s->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->fd < 0)
		return store_error("create session file", path);
	if (lock_fd(s->fd) < 0) {
		err = store_error("lock", path);
		session_discard(s);
		return err;
	}
	s->locked = true;
	err = session_save(s);
	if (err)
		session_discard(s);
	return err;
}

JET_ERR session_open(struct session *s, uint64_t id)
{
	char path[4200], *text;
	struct stat st;
	JET_ERR err;
	int live;

	session_init(s);
	err = runtime_dir(s->rt, sizeof(s->rt));
	if (err)
		return err;
	s->id = id;
	session_path(path, sizeof(path), s->rt, id);
	s->fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (s->fd < 0 && errno == ENOENT)
		return fail(JET_errOSSnapshotInvalidSnapId, "no snapshot session %" PRIu64 " was ever made", id);
	if (s->fd < 0)
		return store_error("open session file", path);
	if (lock_fd(s->fd) < 0) {
		err = store_error("lock", path);
		goto fail;
	}
	s->locked = true;
	/* Prepare may have removed the file while we waited for its lock. */
	if (fstat(s->fd, &st) < 0 || st.st_nlink == 0) {
		err = fail(JET_errOSSnapshotInvalidSnapId, "snapshot session %" PRIu64 " was never made", id);
		goto fail;
	}
	text = read_all(s->fd);
	if (!text) {
		err = store_error("read session file", path);
		goto fail;
	}
	live = session_parse(s, text);
	free(text);
	if (live > 0)
		return JET_errSuccess;
	if (live == 0)
		err = fail(JET_errOSSnapshotInvalidSnapId, "snapshot session %" PRIu64 " has ended", id);
	else
		err = fail(JET_errOSSnapshotInvalidSnapId,
			   "session file %s is damaged: end the snapshot again with a new session", path);
fail:
	session_close(s);
	return err;
}

static JET_ERR session_write(struct session *s, const char *text, size_t len)
{
	char path[4200];

	if (write_all(s->fd, text, len) == 0)
		return JET_errSuccess;
	session_path(path, sizeof(path), s->rt, s->id);
	return store_error("write session file", path);
}

JET_ERR session_save(struct session *s)
{
	size_t cap = 128 + s->n * 32, len;
	char *text = malloc(cap);
	JET_ERR err;
	FILE *f;

	if (!text)
		return fail(JET_errOutOfMemory, "out of memory saving a session");
	f = fmemopen(text, cap, "w");
	if (!f) {
		free(text);
		return fail(JET_errOutOfMemory, "out of memory saving a session");
	}
	fprintf(f, SESSION_MAGIC "\nstate %s\ngrbit %" PRIu32 "\nexpired %d\n",
		state_names[s->state], s->grbit, s->expired);
	for (size_t i = 0; i < s->n; i++)
		fprintf(f, "member %d %d\n", (int)s->m[i].pid, s->m[i].frozen);
	fputs("end\n", f);
	len = (size_t)ftell(f);
	fclose(f);
	err = session_write(s, text, len);
	free(text);
	return err;
}

JET_ERR session_end(struct session *s, enum session_outcome how)
{
	char text[128];
	int len = snprintf(text, sizeof(text), SESSION_MAGIC "\nended %s\nend\n", outcome_names[how]);

	return session_write(s, text, (size_t)len);
}

void session_discard(struct session *s)
{
	char path[4200];

	session_path(path, sizeof(path), s->rt, s->id);
	unlink(path);
	session_close(s);
}

void session_close(struct session *s)
{
	if (s->fd >= 0 && s->locked)
		unlock_close(s->fd);
	else if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->locked = false;
	free(s->m);
	s->m = NULL;
	s->n = s->cap = 0;
}

bool session_is_dead(const char *rt, uint64_t id)
{
	struct session other;
	char path[4200], *text;
	bool dead = false;
	int fd;

	session_path(path, sizeof(path), rt, id);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT;
	/*
	 * Never wait here: the caller holds its own session's lock, and the
	 * other session's holder may be waiting for ours.  Busy means alive.
	 */
	if (fcntl(fd, F_SETLK, &(struct flock){ .l_type = F_RDLCK, .l_whence = SEEK_SET }) == 0) {
		text = read_all(fd);
		session_init(&other);
		dead = text && session_parse(&other, text) == 0;
		free(text);
		session_close(&other);
	}
	close(fd);
	return dead;
}
