/*
 * The client side of the control protocol: one SOCK_SEQPACKET connection
 * per request to $RUNTIME/<pid>.sock, one js_request out, one js_reply in.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "libjetsnap-int.h"

/*
 * Quick requests must not hang a `jetsnap list` on a stopped process.
 * FREEZE and THAW wait as long as the instance works on them: a drain of a
 * large hold takes as long as it takes, and a dead instance closes the
 * socket, which ends the wait.
 */
#define QUICK_REPLY_MS 5000

static int sock_addr(struct sockaddr_un *sa, const char *rt, pid_t pid)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%d.sock", rt, (int)pid);
	return n < 0 || (size_t)n >= sizeof(sa->sun_path) ? -1 : 0;
}

static bool pid_is_dead(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

/*
 * Nobody listens on the socket.  If its process is gone the socket is a
 * leftover of a crash: remove it, but only if it is still the same file, so
 * that a new instance that reused the pid keeps its socket.
 */
static void forget_stale_socket(const char *path, pid_t pid, const struct stat *before)
{
	struct stat now;

	if (!pid_is_dead(pid) || lstat(path, &now) < 0)
		return;
	if (now.st_ino == before->st_ino && now.st_dev == before->st_dev)
		unlink(path);
}

static void set_timeout(int fd, int opt, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

/* Connect to the instance and send the request; c->fd stays open for the reply. */
static void call_send(const char *rt, struct js_call *c, const struct js_request *req)
{
	struct sockaddr_un sa;
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	struct stat st;
	int rc;

	c->fd = -1;
	c->reply = NULL;
	if (sock_addr(&sa, rt, c->pid) < 0) {
		c->err = fail(JET_errNotInitialized,
			      "runtime directory path %s is too long for a socket: set JETSNAP_RUNTIME_DIR to a short path",
			      rt);
		return;
	}
	if (lstat(sa.sun_path, &st) < 0) {
		c->err = JS_NO_INSTANCE;
		return;
	}
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		c->err = fail(JET_errOutOfMemory, "cannot create a socket: %s", strerror(errno));
		return;
	}
	/* A connect to a full backlog blocks; bound it like any quick request. */
	set_timeout(c->fd, SO_SNDTIMEO, QUICK_REPLY_MS);
	do
		rc = connect(c->fd, (struct sockaddr *)&sa, sizeof(sa));
	while (rc < 0 && errno == EINTR);
	if (rc < 0 && errno != EISCONN) {
		if (errno == ECONNREFUSED || errno == ENOENT) {
			forget_stale_socket(sa.sun_path, c->pid, &st);
			c->err = JS_NO_INSTANCE;
		} else {
			c->err = fail(JET_errOSSnapshotNotAllowed, "cannot connect to instance %d: %s",
				      (int)c->pid, strerror(errno));
		}
		goto fail;
	}
	/* The directory is private, but a root-owned or foreign peer is no instance of ours. */
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) < 0 ||
	    (cred.uid != geteuid() && cred.uid != 0)) {
		c->err = fail(JET_errOSSnapshotNotAllowed,
			      "socket %s is served by another user: remove it", sa.sun_path);
		goto fail;
	}
	/* MSG_NOSIGNAL: an instance dying mid-request must not kill the caller with SIGPIPE. */
	if (send(c->fd, req, sizeof(*req), MSG_NOSIGNAL) != (ssize_t)sizeof(*req)) {
		if (pid_is_dead(c->pid))
			c->err = JS_NO_INSTANCE;
		else
			c->err = fail(JET_errOSSnapshotNotAllowed, "cannot send to instance %d: %s",
				      (int)c->pid, strerror(errno));
		goto fail;
	}
	c->err = JET_errSuccess;
	return;
fail:
	close(c->fd);
	c->fd = -1;
}

/* A reply the shim could not have sent is refused rather than trusted. */
static bool reply_is_sane(const struct js_reply *r, size_t len)
{
	const char *paths = (const char *)(r + 1);
	uint32_t nuls = 0;

	if (len < sizeof(*r) || r->magic != JS_PROTO_MAGIC)
		return false;
	if (r->paths_len != len - sizeof(*r))
		return false;
	if (r->paths_len && paths[r->paths_len - 1] != '\0')
		return false;
	for (uint32_t i = 0; i < r->paths_len; i++)
		nuls += paths[i] == '\0';
	return nuls == r->nfiles;
}

static void call_recv(struct js_call *c, int timeout_ms)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	struct js_reply *r;
	ssize_t len;
	int rc;

	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc == 0) {
		c->err = fail(JET_errOSSnapshotNotAllowed,
			      "instance %d did not answer within %d ms: is it stopped?",
			      (int)c->pid, timeout_ms);
		return;
	}
	r = malloc(JS_REPLY_MAX + 1);
	if (!r) {
		c->err = fail(JET_errOutOfMemory, "out of memory for a reply of instance %d", (int)c->pid);
		return;
	}
	do
		len = recv(c->fd, r, JS_REPLY_MAX + 1, MSG_TRUNC);
	while (len < 0 && errno == EINTR);
	if (len <= 0) {
		/* The instance closed without answering: it died, or it refused us. */
		if (pid_is_dead(c->pid))
			c->err = JS_NO_INSTANCE;
		else
			c->err = fail(JET_errOSSnapshotNotAllowed,
				      "instance %d closed the connection without answering%s%s",
				      (int)c->pid, len < 0 ? ": " : "", len < 0 ? strerror(errno) : "");
		free(r);
		return;
	}
	if ((size_t)len > JS_REPLY_MAX || !reply_is_sane(r, (size_t)len)) {
		c->err = fail(JET_errOSSnapshotNotAllowed,
			      "instance %d sent a malformed reply: is its shim the same version as this library?",
			      (int)c->pid);
		free(r);
		return;
	}
	r->reason[JS_REASON_MAX - 1] = '\0';
	r->status.name[JS_NAME_MAX - 1] = '\0';
	c->reply = realloc(r, (size_t)len) ?: r;
}

/* Several calls may fail: each keeps its own reason. */
static void keep_reason(struct js_call *c)
{
	if (c->err && c->err != JS_NO_INSTANCE)
		snprintf(c->why, sizeof(c->why), "%s", reason_get());
	else
		c->why[0] = '\0';
}

void js_call_all(const char *rt, struct js_call *calls, size_t n, uint32_t op,
		 uint64_t snap_id, uint64_t timeout_ms)
{
	struct js_request req = {
		.magic = JS_PROTO_MAGIC,
		.version = JS_PROTO_VERSION,
		.op = op,
		.snap_id = snap_id,
		.timeout_ms = timeout_ms,
	};
	int wait_ms = op == JS_OP_FREEZE || op == JS_OP_THAW ? -1 : QUICK_REPLY_MS;

	for (size_t i = 0; i < n; i++) {
		call_send(rt, &calls[i], &req);
		keep_reason(&calls[i]);
	}
	for (size_t i = 0; i < n; i++) {
		if (!calls[i].err) {
			call_recv(&calls[i], wait_ms);
			keep_reason(&calls[i]);
		}
		if (calls[i].fd >= 0)
			close(calls[i].fd);
		calls[i].fd = -1;
	}
}

void js_call_release(struct js_call *calls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(calls[i].reply);
		calls[i].reply = NULL;
	}
}

const char *js_reply_path(const struct js_reply *reply, uint32_t i)
{
	const char *p = (const char *)(reply + 1);

	while (i--)
		p += strlen(p) + 1;
	return p;
}

/* "<pid>.sock" with a positive decimal pid and nothing else. */
static pid_t socket_name_pid(const char *name)
{
	char *end;
	long pid;

	if (name[0] < '1' || name[0] > '9')
		return 0;
	errno = 0;
	pid = strtol(name, &end, 10);
	if (errno || pid <= 0 || pid > INT_MAX || strcmp(end, ".sock") != 0)
		return 0;
	return (pid_t)pid;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

JET_ERR js_list_pids(const char *rt, pid_t **pids, size_t *n)
{
	size_t cap = 0;
	struct dirent *de;
	DIR *dir;

	*pids = NULL;
	*n = 0;
	dir = opendir(rt);
	if (!dir)
		return fail(JET_errNotInitialized, "cannot list runtime directory %s: %s",
			    rt, strerror(errno));
	while ((de = readdir(dir))) {
		pid_t pid = socket_name_pid(de->d_name);

		if (!pid)
			continue;
		if (*n == cap) {
			pid_t *more = reallocarray(*pids, cap ? cap * 2 : 16, sizeof(**pids));

			if (!more) {
				closedir(dir);
				free(*pids);
				*pids = NULL;
				*n = 0;
				return fail(JET_errOutOfMemory, "out of memory listing instances");
			}
			*pids = more;
			cap = cap ? cap * 2 : 16;
		}
		(*pids)[(*n)++] = pid;
	}
	closedir(dir);
	/* Listings and instance info come out in a stable order. */
	if (*n > 1)
		qsort(*pids, *n, sizeof(**pids), cmp_pid);
	return JET_errSuccess;
}
