/*
 * The control server: one thread per instance answering the control
 * library on $JETSNAP_RUNTIME_DIR/<pid>.sock (api/protocol.h), and the
 * freeze timeout, enforced here so that a control process that dies never
 * leaves the database frozen.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "instance.h"
#include "shim.h"

static int listen_fd = -1;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static pid_t owner_pid;

/*
 * Touched only by the root's control thread, but kept in the shared header
 * (with the deadline): a member can expire the freeze if the root dies,
 * and a root that execs while frozen still knows its session.  A drain
 * that stopped on an error retries every second; a session whose thaw a
 * retry completed answers its next Thaw with success.
 */
#define enrolled_snap (js_sh->ctl_enrolled)
#define frozen_snap (js_sh->ctl_frozen)
#define timed_out_snap (js_sh->ctl_timed_out)
#define drained_snap (js_sh->ctl_drained)
#define drain_pending (js_sh->ctl_drain_pending)

/*
 * A Thaw drains on its own thread while this one keeps answering: jetsnap
 * list and the CLI's progress line ask for status during a long drain.
 * The client waits on its socket for the deferred reply.
 */
#define JS_DEFERRED 1	/* handle(): the reply comes later */
static struct {
	pthread_t thread;
	int fd;			/* the waiting client, -1 when no thaw runs */
	int done[2];		/* the drain thread writes a byte here */
	JET_ERR err;
	char reason[JS_REASON_MAX];
} thaw = { .fd = -1, .done = { -1, -1 } };

int js_control_fd(void)
{
	return listen_fd;
}

static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof cred;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == getuid();
}

/* Drain; on failure say why (the file and the cause) and keep retrying. */
static JET_ERR drain_now(char *reason, size_t len)
{
	char ignored[JS_REASON_MAX];

	if (!reason) {
		reason = ignored;
		len = sizeof ignored;
	}
	js_sh->deadline_us = 0;
	if (js_engine_drain(reason, len) == 0) {
		drain_pending = false;
		return JET_errSuccess;
	}
	drain_pending = true;
	return js_sh->drain_errno == ENOSPC || js_sh->drain_errno == EDQUOT ? JET_errDiskFull : JET_errDiskIO;
}

/*
 * Event 2004 (ESE's "timed out") in the system log, from the control thread
 * that enforces the timeout, after the drain.  No openlog(): the ident and
 * facility the application chose stay its own; LOG_USER goes with the message.
 */
static void syslog_timed_out(uint64_t snap)
{
	syslog(LOG_USER | LOG_WARNING,
	       "2004 freeze of snapshot %llu timed out in instance %s (pid %d): held writes drained, the snapshot is not valid",
	       (unsigned long long)snap, js_cfg.instance, (int)owner_pid);
}

static void expire_freeze(void)
{
	js_log("freeze of session %llu timed out; draining", (unsigned long long)frozen_snap);
	drain_now(NULL, 0);
	syslog_timed_out(frozen_snap);
	timed_out_snap = frozen_snap;
	frozen_snap = 0;
	enrolled_snap = 0;
}

static JET_ERR handle(const struct js_request *rq, struct js_reply *rp, char *paths, size_t cap)
{
	JET_ERR err;

	switch (rq->op) {
	case JS_OP_STATUS:
		return JET_errSuccess;
	case JS_OP_ENROLL:
		if (rq->snap_id == 0)
			return JET_errInvalidParameter;
		if (enrolled_snap && enrolled_snap != rq->snap_id) {
			snprintf(rp->reason, sizeof rp->reason, "instance %s is already in snapshot session %llu",
				 js_cfg.instance, (unsigned long long)enrolled_snap);
			return JET_errOSSnapshotNotAllowed;
		}
		enrolled_snap = rq->snap_id;
		return JET_errSuccess;
	case JS_OP_UNENROLL:
		if (enrolled_snap == rq->snap_id && frozen_snap != rq->snap_id)
			enrolled_snap = 0;
		return JET_errSuccess;
	case JS_OP_FREEZE:
		if (rq->snap_id == 0 || enrolled_snap != rq->snap_id || frozen_snap)
			return JET_errOSSnapshotInvalidSequence;
		err = js_engine_freeze(rq->snap_id, rq->timeout_ms, rp->reason, sizeof rp->reason);
		if (err != JET_errSuccess)
			return err;
		frozen_snap = rq->snap_id;
		if (timed_out_snap == rq->snap_id)
			timed_out_snap = 0;
		js_log("frozen for session %llu, timeout %llu ms", (unsigned long long)rq->snap_id,
		       (unsigned long long)rq->timeout_ms);
		rp->paths_len = js_engine_files(paths, cap, &rp->nfiles);
		return JET_errSuccess;
	case JS_OP_THAW:
		if (rq->snap_id && rq->snap_id == timed_out_snap)
			return JET_errOSSnapshotTimeOut;
		if (rq->snap_id && rq->snap_id == drained_snap)
			return JET_errSuccess;
		if (rq->snap_id == 0 || frozen_snap != rq->snap_id)
			return JET_errOSSnapshotInvalidSequence;
		if (thaw.fd >= 0) {
			snprintf(rp->reason, sizeof rp->reason, "a thaw of this instance is already draining");
			return JET_errOSSnapshotInvalidSequence;
		}
		return JS_DEFERRED;
	case JS_OP_FILES:
		rp->paths_len = js_engine_files(paths, cap, &rp->nfiles);
		return JET_errSuccess;
	default:
		snprintf(rp->reason, sizeof rp->reason, "unknown request %u", rq->op);
		return JET_errInvalidParameter;
	}
}

/* Who we are and what state we are in, in every reply. */
static void fill_status(struct js_reply *rp)
{
	rp->status.pid = owner_pid;
	snprintf(rp->status.name, sizeof rp->status.name, "%s", js_cfg.instance);
	js_engine_status(&rp->status);
	rp->status.snap_id = enrolled_snap;
	rp->status.timed_out_snap_id = timed_out_snap;
}

static void *thaw_thread(void *arg)
{
	(void)arg;
	thaw.err = drain_now(thaw.reason, sizeof thaw.reason);
	(void)!REAL(write)(thaw.done[1], "", 1);
	return NULL;
}

/* The drain thread is done: answer the client that asked for the thaw. */
static void finish_thaw(void)
{
	struct js_reply rp;
	char byte;

	(void)!REAL(read)(thaw.done[0], &byte, 1);
	pthread_join(thaw.thread, NULL);
	if (thaw.err == JET_errSuccess)
		frozen_snap = 0;
	memset(&rp, 0, sizeof rp);
	rp.magic = JS_PROTO_MAGIC;
	rp.err = thaw.err;
	snprintf(rp.reason, sizeof rp.reason, "%s", thaw.err ? thaw.reason : "");
	fill_status(&rp);
	send(thaw.fd, &rp, sizeof rp, MSG_NOSIGNAL);
	js_mark_own_fd(thaw.fd, false);
	REAL(close)(thaw.fd);
	thaw.fd = -1;
}

/* Answer one request; false if the reply is deferred (fd stays open). */
static bool serve_one(int fd)
{
	static char out[JS_REPLY_MAX];
	struct js_reply *rp = (struct js_reply *)out;
	struct js_request rq;
	ssize_t n;

	memset(rp, 0, sizeof *rp);
	rp->magic = JS_PROTO_MAGIC;
	if (!peer_allowed(fd))
		return true;
	/* A slow or silent client must not hold the instance hostage. */
	struct timeval tv = { 2, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	n = recv(fd, &rq, sizeof rq, 0);
	if (n != (ssize_t)sizeof rq || rq.magic != JS_PROTO_MAGIC || rq.version != JS_PROTO_VERSION) {
		rp->err = JET_errInvalidParameter;
		snprintf(rp->reason, sizeof rp->reason, "malformed request (%zd bytes)", n);
	} else {
		rp->err = handle(&rq, rp, out + sizeof *rp, sizeof out - sizeof *rp);
	}
	if (rp->err == JS_DEFERRED) {
		thaw.fd = fd;
		if (thaw.done[0] >= 0 && pthread_create(&thaw.thread, NULL, thaw_thread, NULL) == 0)
			return false;
		/* No thread: drain here, as a plain request. */
		thaw.fd = -1;
		rp->err = drain_now(rp->reason, sizeof rp->reason);
		if (rp->err == JET_errSuccess)
			frozen_snap = 0;
	}
	fill_status(rp);
	send(fd, out, sizeof *rp + rp->paths_len, MSG_NOSIGNAL);
	return true;
}

#define PREPARE_MS 10	/* how often the log is prepared ahead while frozen */

static void *control_loop(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = listen_fd, .events = POLLIN },
				       { .fd = thaw.done[0], .events = POLLIN } };
		int timeout = -1;
		uint64_t deadline = frozen_snap ? js_sh->deadline_us : 0;

		if (thaw.fd >= 0) {
			/* The thaw's drain owns the freeze until it reports. */
		} else if (drain_pending) {
			if (drain_now(NULL, 0) == JET_errSuccess && frozen_snap) {
				drained_snap = frozen_snap;
				frozen_snap = 0;
			}
			timeout = 1000;
		} else if (frozen_snap && js_running()) {
			/* Drained without us (a member expired it after we
			 * were stopped): the session timed out. */
			timed_out_snap = frozen_snap;
			frozen_snap = enrolled_snap = 0;
		} else if (deadline) {
			uint64_t now = js_now_us();

			if (now >= deadline) {
				expire_freeze();
				continue;
			}
			timeout = (int)((deadline - now + 999) / 1000);
			if (timeout > 1000)
				timeout = 1000;
		}
		/* While writes are held, keep the log's next pages ready for them. */
		if (!js_running()) {
			js_engine_prepare_log();
			if (timeout < 0 || timeout > PREPARE_MS)
				timeout = PREPARE_MS;
		}
		if (poll(p, thaw.fd >= 0 ? 2 : 1, timeout) <= 0)
			continue;
		if (thaw.fd >= 0 && (p[1].revents & POLLIN)) {
			finish_thaw();
			continue;
		}
		if (!(p[0].revents & POLLIN))
			continue;
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			continue;
		js_mark_own_fd(fd, true);
		if (serve_one(fd)) {
			js_mark_own_fd(fd, false);
			REAL(close)(fd);
		}
	}
	return NULL;
}

static int make_runtime_dir(void)
{
	struct stat st;

	if (REAL(mkdir)(js_cfg.runtime_dir, 0700) < 0 && errno != EEXIST)
		return -1;
	if (REAL(stat)(js_cfg.runtime_dir, &st) < 0)
		return -1;
	/* Someone else's directory, or one others can enter, is not ours. */
	if (st.st_uid != getuid() || (st.st_mode & 077)) {
		js_log("refusing runtime dir %s: must be owned by uid %u with mode 0700",
		       js_cfg.runtime_dir, (unsigned)getuid());
		return -1;
	}
	return 0;
}

static void remove_socket(void)
{
	if (owner_pid == getpid() && sock_path[0])
		REAL(unlink)(sock_path);
}

void js_control_start(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	sigset_t all, old;
	pthread_t tid;
	int fd;

	owner_pid = getpid();
	if (make_runtime_dir() < 0)
		return;
	if (snprintf(sock_path, sizeof sock_path, "%s/%d.sock", js_cfg.runtime_dir, (int)owner_pid) >=
	    (int)sizeof sock_path) {
		js_log("runtime dir path too long for a socket: %s", js_cfg.runtime_dir);
		sock_path[0] = 0;
		return;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	memcpy(addr.sun_path, sock_path, sizeof sock_path);
	/* A process that exec'd keeps its pid: its old socket is ours now. */
	REAL(unlink)(sock_path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 16) < 0) {
		js_log("cannot serve %s: %s", sock_path, strerror(errno));
		REAL(close)(fd);
		return;
	}
	listen_fd = fd;
	js_mark_own_fd(fd, true);
	if (pipe2(thaw.done, O_CLOEXEC) < 0) {
		js_log("cannot make the thaw pipe: %s", strerror(errno));
		thaw.done[0] = thaw.done[1] = -1;
	} else {
		js_mark_own_fd(thaw.done[0], true);
		js_mark_own_fd(thaw.done[1], true);
	}
	atexit(remove_socket);
	/* The control thread takes no signal meant for the application. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&tid, NULL, control_loop, NULL) == 0)
		pthread_detach(tid);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	js_log("instance %s serving %s", js_cfg.instance, sock_path);
}
