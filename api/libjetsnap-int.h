/*
 * Internal interfaces of the control library (libjetsnap.so), shared by its
 * sources and never installed:
 *   runtime.c   the runtime directory and the per-thread failure reason
 *   client.c    the client side of the control protocol (protocol.h)
 *   session.c   sessions kept as small locked files, so that any control
 *               process of the user can continue a session
 *   libjetsnap.c  the public entry points and the ESE state machine
 */
#ifndef JETSNAP_LIBJETSNAP_INT_H
#define JETSNAP_LIBJETSNAP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Built with -fvisibility=hidden: exactly the functions jetsnap.h declares
 * are exported, whichever source defines them.
 */
#pragma GCC visibility push(default)
#include "jetsnap.h"
#pragma GCC visibility pop
#include "protocol.h"

/* runtime.c */

/* Forget the reason of the previous call: each entry point starts here. */
void reason_clear(void);
/* Record why the current call fails (one line); returns err for `return fail(...)`. */
JET_ERR fail(JET_ERR err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool reason_is_set(void);
const char *reason_get(void);

/*
 * The runtime directory ($JETSNAP_RUNTIME_DIR, else $XDG_RUNTIME_DIR/jetsnap,
 * else /tmp/jetsnap-$UID), created with mode 0700 if missing and refused if
 * another user owns it or others may enter it.  Also makes sure its
 * sessions/ subdirectory exists.  0 or JET_errNotInitialized with a reason.
 */
JET_ERR runtime_dir(char *buf, size_t len);

/* client.c */

/*
 * One request to one instance.  Fill pid, then js_call_all(); afterwards
 * err is 0 and reply points at the reply (paths follow it), or err is
 * JS_NO_INSTANCE (nothing listens for that pid; a stale socket was
 * removed), or a JET_ERR for a transport failure (with a reason).
 */
#define JS_NO_INSTANCE 1

struct js_call {
	pid_t pid;
	int fd;
	JET_ERR err;
	struct js_reply *reply;
	char why[JS_REASON_MAX];	/* the transport failure's reason */
};

/*
 * Send op to every instance first and only then collect the replies, so
 * that a FREEZE or THAW reaches all instances at (almost) the same moment.
 */
void js_call_all(const char *rt, struct js_call *calls, size_t n, uint32_t op,
		 uint64_t snap_id, uint64_t timeout_ms);
void js_call_release(struct js_call *calls, size_t n);
/* The i-th held path of a reply (i < reply->nfiles). */
const char *js_reply_path(const struct js_reply *reply, uint32_t i);

/* The pids of every socket in the runtime directory; *pids is malloc'd. */
JET_ERR js_list_pids(const char *rt, pid_t **pids, size_t *n);

/* session.c */

enum session_state {
	SS_PREPARING = 0,	/* Prepare has not finished yet (or died) */
	SS_PREPARED,
	SS_FROZEN,
	SS_TIMEDOUT,
	SS_THAWED,		/* ESE's AllowLogTruncate */
	SS_LOGTRUNCATED,
};

enum session_outcome {
	SO_COMPLETED,
	SO_ABORTED,
	SO_TIMEDOUT,
};

struct member {
	pid_t pid;
	bool frozen;		/* frozen by this session, not yet thawed */
};

struct session {
	uint64_t id;
	int fd;			/* the session file, locked while we work */
	bool locked;		/* we hold its lock (and the store mutex) */
	char rt[4096];
	enum session_state state;
	uint32_t grbit;		/* the grbit given to Prepare */
	bool expired;		/* some instance's freeze expired (or ended without us) */
	size_t n, cap;
	struct member *m;
};

/*
 * A new session in state SS_PREPARING with a fresh id, its file created and
 * locked.  Call session_save() to publish it or session_discard() to drop it.
 */
JET_ERR session_create(struct session *s, uint32_t grbit);
/* Open and lock a live session: InvalidSnapId if never issued or ended. */
JET_ERR session_open(struct session *s, uint64_t id);
JET_ERR session_save(struct session *s);
/* Replace the session by a tombstone, so that its id stays "ended". */
JET_ERR session_end(struct session *s, enum session_outcome how);
/* Remove a session that Prepare could not finish (its id was never handed out). */
void session_discard(struct session *s);
void session_close(struct session *s);
JET_ERR session_add(struct session *s, pid_t pid);
struct member *session_find(struct session *s, pid_t pid);
/*
 * Whether session id certainly no longer holds its instances: ended, never
 * created, or left half-prepared by a control process that died.
 */
bool session_is_dead(const char *rt, uint64_t id);

#endif
