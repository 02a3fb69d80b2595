/*
 * The public entry points: the ESE OS-snapshot state machine over sessions
 * (session.c) and instances (client.c).  SPEC "The C API" is the contract.
 *
 * Every entry point checks, in order, and changes nothing when a check
 * fails: the grbit, the out-pointers (zeroing the outputs), the snapshot id,
 * the session's state.  Only then does it talk to instances.
 *
 * Where SPEC is silent:
 * - Prepare without ExplicitPrepare that finds instances running but every
 *   one in another session enrolls none: NotInitialized, with a reason that
 *   says so, rather than a session with nothing to freeze.
 * - An instance that no longer runs is left out: Freeze skips it, Thaw and
 *   Abort have nothing to drain there (its journal holds what it wrote).
 * - An instance that does not answer, or answers garbage, fails the call
 *   with NotAllowed and a reason; a runtime directory or session store we
 *   cannot use gives NotInitialized and a reason.
 * - A THAW that finds the instance no longer frozen for the session counts
 *   as an expired freeze: Thaw returns TimeOut, Abort succeeds.
 * - An instance still enrolled in a session that is gone for good (ended,
 *   or never finished by a control process that died) is released and
 *   enrolled by Prepare / PrepareInstance.
 * - szDatabaseDisplayName[i] is the path itself; SLV names are NULL.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "libjetsnap-int.h"

#define PREPARE_GRBITS (JET_bitIncrementalSnapshot | JET_bitCopySnapshot | \
			JET_bitContinueAfterThaw | JET_bitExplicitPrepare)
#define TIMEOUT_DEFAULT_MS 70000
#define TIMEOUT_MAX_MS 2147483647

/* JET_paramOSSnapshotTimeout: process-global, as in ESE; -1 until first used. */
static _Atomic int64_t snapshot_timeout_ms = -1;

static int64_t timeout_from_env(void)
{
	const char *env = getenv("JETSNAP_TIMEOUT_MS");
	char *end;
	long long v;

	if (!env || !*env)
		return TIMEOUT_DEFAULT_MS;
	errno = 0;
	v = strtoll(env, &end, 10);
	if (errno || *end || v < 0 || v > TIMEOUT_MAX_MS)
		return TIMEOUT_DEFAULT_MS;
	return v;
}

static uint64_t timeout_in_force(void)
{
	int64_t v = atomic_load(&snapshot_timeout_ms);
	int64_t unset = -1;

	if (v >= 0)
		return (uint64_t)v;
	v = timeout_from_env();
	/* Another thread may have set the parameter meanwhile: its value wins. */
	if (!atomic_compare_exchange_strong(&snapshot_timeout_ms, &unset, v))
		v = unset;
	return (uint64_t)v;
}

/*
 * Session events go to the system log with ESE's event ids first in the
 * message (research/ese-snapshot.md section 5), so that monitoring written for
 * ESE can match them.  No openlog(): a library must not take over its
 * caller's ident (the jetsnap tool opens the log as "jetsnap"); the
 * facility is LOG_USER, given with every message.
 */
enum {
	EV_FREEZE_STARTED = 2001,
	EV_FREEZE_ENDED = 2003,
	EV_TIMED_OUT = 2004,
	EV_COMPLETED = 2006,
	EV_ABORTED = 2007,
};

__attribute__((format(printf, 3, 4)))
static void log_event(int prio, int id, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	syslog(LOG_USER | prio, "%d %s", id, text);
}

/* Once per session: the first call that sees the freeze expired says so. */
static void note_expired(struct session *s)
{
	if (!s->expired)
		log_event(LOG_WARNING, EV_TIMED_OUT,
			  "freeze of snapshot %llu timed out: the instances resumed on their own, the snapshot is not valid",
			  (unsigned long long)s->id);
	s->expired = true;
}

static struct js_call *calls_for(const pid_t *pids, size_t n)
{
	struct js_call *calls = calloc(n ? n : 1, sizeof(*calls));

	if (!calls) {
		fail(JET_errOutOfMemory, "out of memory talking to %zu instances", n);
		return NULL;
	}
	for (size_t i = 0; pids && i < n; i++)
		calls[i].pid = pids[i];
	return calls;
}

/*
 * Ask op of the session's members (only the frozen ones if frozen_only).
 * *n is the number of calls; NULL means out of memory.
 */
static struct js_call *ask_members(struct session *s, uint32_t op, bool frozen_only,
				   uint64_t timeout_ms, size_t *n)
{
	struct js_call *calls = calls_for(NULL, s->n);

	*n = 0;
	if (!calls)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (!frozen_only || s->m[i].frozen)
			calls[(*n)++].pid = s->m[i].pid;
	js_call_all(s->rt, calls, *n, op, s->id, timeout_ms);
	return calls;
}

static void free_calls(struct js_call *calls, size_t n)
{
	if (calls)
		js_call_release(calls, n);
	free(calls);
}

/*
 * The outcome of one call as a JET_ERR with its reason recorded: 0,
 * JS_NO_INSTANCE, a transport failure, or the error the shim answered.
 */
static JET_ERR call_result(const struct js_call *c)
{
	const struct js_reply *r = c->reply;
	const char *name;

	if (c->err == JS_NO_INSTANCE)
		return c->err;
	if (c->err)
		return fail(c->err, "%s", c->why);
	if (!r->err)
		return JET_errSuccess;
	if (r->reason[0])
		return fail(r->err, "%s", r->reason);
	name = JetsnapErrorName(r->err);
	return fail(r->err, "instance %d (%s) answered %s", (int)c->pid, r->status.name,
		    name ? name : "an unknown error");
}

/* A later, lesser failure must not replace the reason of the one we report. */
struct saved_reason {
	JET_ERR err;
	char text[JS_REASON_MAX + 256];
};

static void keep_first(struct saved_reason *first, JET_ERR err)
{
	if (first->err)
		return;
	first->err = err;
	snprintf(first->text, sizeof(first->text), "%s", reason_get());
}

static JET_ERR report(const struct saved_reason *first)
{
	if (!first->err)
		return JET_errSuccess;
	return fail(first->err, "%s", first->text);
}

static void reason_save(struct saved_reason *r)
{
	snprintf(r->text, sizeof(r->text), "%s", reason_get());
}

static void reason_restore(const struct saved_reason *r)
{
	fail(JET_errSuccess, "%s", r->text);
}

/*
 * THAW every member this session froze.  0 when all drained; TimeOut when
 * some freeze had expired (now or earlier); another error when some member
 * could not be thawed: it stays marked frozen, so Thaw or Abort retries it.
 */
static JET_ERR thaw_members(struct session *s)
{
	struct saved_reason failure = { 0 }, expiry = { 0 };
	struct js_call *calls;
	size_t n;

	calls = ask_members(s, JS_OP_THAW, true, 0, &n);
	if (!calls)
		return JET_errOutOfMemory;
	for (size_t i = 0; i < n; i++) {
		struct member *m = session_find(s, calls[i].pid);
		JET_ERR err = call_result(&calls[i]);

		/* A member that died holds nothing: its journal has what it wrote. */
		if (err == JET_errSuccess || err == JS_NO_INSTANCE) {
			m->frozen = false;
		} else if (err == JET_errOSSnapshotTimeOut || err == JET_errOSSnapshotInvalidSequence) {
			/* Not frozen for us any more: the image cannot be vouched for. */
			m->frozen = false;
			note_expired(s);
			fail(err, "the freeze of instance %d ended before Thaw (it expired): the snapshot is not valid",
			     (int)m->pid);
			keep_first(&expiry, JET_errOSSnapshotTimeOut);
		} else {
			keep_first(&failure, err);
		}
	}
	free_calls(calls, n);
	if (failure.err)
		return report(&failure);
	if (s->expired && !expiry.err)
		return fail(JET_errOSSnapshotTimeOut,
			    "the freeze of snapshot %llu expired before Thaw: the snapshot is not valid",
			    (unsigned long long)s->id);
	return report(&expiry);
}

/*
 * Did a member's freeze expire inside its shim, with nobody watching?
 * Members that died are no longer frozen.
 */
static bool saw_expiry(struct session *s, const struct js_call *calls, size_t n)
{
	bool expired = false;

	for (size_t i = 0; i < n; i++) {
		struct member *m = session_find(s, calls[i].pid);
		const struct js_reply *r = calls[i].reply;

		if (!m || !m->frozen)
			continue;
		if (calls[i].err == JS_NO_INSTANCE) {
			m->frozen = false;
		} else if (r && (r->status.timed_out_snap_id == s->id ||
				 r->status.state == JS_STATE_RUNNING)) {
			m->frozen = false;
			expired = true;
		}
	}
	return expired;
}

/* The session is TimedOut: the other members must not stay frozen for nothing. */
static JET_ERR expire_session(struct session *s)
{
	note_expired(s);
	thaw_members(s);
	s->state = SS_TIMEDOUT;
	return session_save(s);
}

/* Look for an expired freeze before a decision that depends on it. */
static JET_ERR refresh_frozen(struct session *s)
{
	struct js_call *calls;
	bool expired;
	size_t n;

	if (s->state != SS_FROZEN)
		return JET_errSuccess;
	calls = ask_members(s, JS_OP_STATUS, true, 0, &n);
	if (!calls)
		return JET_errOutOfMemory;
	expired = saw_expiry(s, calls, n);
	free_calls(calls, n);
	return expired ? expire_session(s) : JET_errSuccess;
}

static void unenroll_all(struct session *s)
{
	struct js_call *calls;
	size_t n;

	calls = ask_members(s, JS_OP_UNENROLL, false, 0, &n);
	free_calls(calls, n);
}

/* Leave every instance free for other sessions, then bury the session. */
static JET_ERR finish(struct session *s, enum session_outcome how)
{
	struct saved_reason outcome;
	JET_ERR err;

	reason_save(&outcome);
	if (how == SO_COMPLETED)
		log_event(LOG_INFO, EV_COMPLETED, "snapshot %llu completed", (unsigned long long)s->id);
	else
		log_event(LOG_NOTICE, EV_ABORTED, "snapshot %llu aborted%s", (unsigned long long)s->id,
			  how == SO_TIMEDOUT ? " (its freeze timed out)" : "");
	/* UNENROLL cannot fail in the shim; a dead or stuck instance does not hold the session. */
	unenroll_all(s);
	err = session_end(s, how);
	if (!err)
		reason_restore(&outcome);
	return err;
}

/* Abort, or End(AbortSnapshot): drain what is frozen, then end as aborted. */
static JET_ERR abort_session(struct session *s)
{
	bool was_frozen = s->state == SS_FROZEN;
	JET_ERR err = thaw_members(s);

	if (err && err != JET_errOSSnapshotTimeOut) {
		session_save(s);
		return err;
	}
	if (was_frozen && !err)
		log_event(LOG_INFO, EV_FREEZE_ENDED, "freeze of snapshot %llu ended: held writes drained",
			  (unsigned long long)s->id);
	reason_clear();
	return finish(s, SO_ABORTED);
}

static JET_ERR zero_outputs(unsigned long *pc, JET_INSTANCE_INFO **pa)
{
	if (pc)
		*pc = 0;
	if (pa)
		*pa = NULL;
	if (!pc || !pa)
		return fail(JET_errInvalidParameter, "the count and array pointers must not be NULL");
	return JET_errSuccess;
}

static JET_ERR check_grbit(const char *call, JET_GRBIT grbit, JET_GRBIT allowed)
{
	if (!(grbit & ~allowed))
		return JET_errSuccess;
	if (!allowed)
		return fail(JET_errInvalidParameter, "%s takes no grbit (got 0x%x)", call, grbit);
	return fail(JET_errInvalidParameter, "%s takes only grbit bits 0x%x (got 0x%x)", call, allowed, grbit);
}

/*
 * The checks every session call starts with, in SPEC order: the grbit, the
 * out-pointers (only Freeze and GetFreezeInfo have them: pass NULL pc and pa
 * with has_outputs false otherwise), the id.  On success s is open and locked.
 */
static JET_ERR enter(const char *call, JET_GRBIT grbit, JET_GRBIT allowed, bool has_outputs,
		     unsigned long *pc, JET_INSTANCE_INFO **pa, JET_OSSNAPID id, struct session *s)
{
	JET_ERR err;

	reason_clear();
	err = check_grbit(call, grbit, allowed);
	if (!err && has_outputs)
		err = zero_outputs(pc, pa);
	if (err)
		return err;
	if (id == 0)
		return fail(JET_errInvalidParameter, "snapshot id 0 is never valid");
	return session_open(s, (uint64_t)id);
}

enum paths_wanted { PATHS_NONE, PATHS_ALL, PATHS_IF_HELD };

static bool wants_paths(const struct js_reply *r, enum paths_wanted want)
{
	return want == PATHS_ALL || (want == PATHS_IF_HELD && r->status.state != JS_STATE_RUNNING);
}

/*
 * One malloc block, freed by JetFreeBuffer: the array, then the file name
 * and display name pointer arrays, then the strings.
 */
static JET_ERR build_info(const struct js_call *calls, size_t n, enum paths_wanted want,
			  unsigned long *pc, JET_INSTANCE_INFO **pa)
{
	size_t ninst = 0, npaths = 0, nbytes = 0;
	JET_INSTANCE_INFO *info;
	char **slot, *str;

	for (size_t i = 0; i < n; i++) {
		const struct js_reply *r = calls[i].reply;

		if (calls[i].err || r->err)
			continue;
		ninst++;
		nbytes += strlen(r->status.name) + 1;
		if (wants_paths(r, want)) {
			npaths += r->nfiles;
			nbytes += r->paths_len;
		}
	}
	if (!ninst)
		return JET_errSuccess;
	info = malloc(ninst * sizeof(*info) + 2 * npaths * sizeof(char *) + nbytes);
	if (!info)
		return fail(JET_errOutOfMemory, "out of memory for the instance info");
	slot = (char **)(info + ninst);
	str = (char *)(slot + 2 * npaths);
	*pa = info;
	for (size_t i = 0; i < n; i++) {
		const struct js_reply *r = calls[i].reply;
		uint32_t nfiles;

		if (calls[i].err || r->err)
			continue;
		nfiles = wants_paths(r, want) ? r->nfiles : 0;
		*info = (JET_INSTANCE_INFO){
			.hInstanceId = (JET_INSTANCE)calls[i].pid,
			.szInstanceName = strcpy(str, r->status.name),
			.cDatabases = nfiles,
			.szDatabaseFileName = nfiles ? slot : NULL,
			/* There is no other name for a file than its path. */
			.szDatabaseDisplayName = nfiles ? slot + nfiles : NULL,
		};
		str += strlen(str) + 1;
		if (nfiles) {
			memcpy(str, js_reply_path(r, 0), r->paths_len);
			for (uint32_t f = 0; f < nfiles; f++) {
				slot[f] = slot[nfiles + f] = str;
				str += strlen(str) + 1;
			}
			slot += 2 * nfiles;
		}
		info++;
	}
	*pc = ninst;
	return JET_errSuccess;
}

/*
 * An instance enrolled in a session that is gone for good (its control
 * process died, or its UNENROLL never arrived) is released and enrolled
 * here; one enrolled in a live session is not ours to take.
 */
static JET_ERR enroll(struct session *s, pid_t pid)
{
	struct js_call c = { .pid = pid };
	uint64_t other;
	JET_ERR err;

	js_call_all(s->rt, &c, 1, JS_OP_ENROLL, s->id, 0);
	err = call_result(&c);
	other = c.reply ? c.reply->status.snap_id : 0;
	if (err == JET_errOSSnapshotNotAllowed && c.reply && !c.reply->reason[0])
		fail(err, "instance %d (%s) is already in snapshot session %llu",
		     (int)pid, c.reply->status.name, (unsigned long long)other);
	js_call_release(&c, 1);
	if (err != JET_errOSSnapshotNotAllowed || !other || other == s->id ||
	    !session_is_dead(s->rt, other))
		return err;
	c = (struct js_call){ .pid = pid };
	js_call_all(s->rt, &c, 1, JS_OP_UNENROLL, other, 0);
	js_call_release(&c, 1);
	js_call_all(s->rt, &c, 1, JS_OP_ENROLL, s->id, 0);
	err = call_result(&c);
	js_call_release(&c, 1);
	return err;
}

/* Prepare without ExplicitPrepare: every running instance in no session. */
static JET_ERR enroll_all(struct session *s)
{
	struct saved_reason failure = { 0 };
	size_t n, running = 0;
	pid_t *pids;
	JET_ERR err;

	err = js_list_pids(s->rt, &pids, &n);
	if (err)
		return err;
	for (size_t i = 0; i < n && !failure.err; i++) {
		err = enroll(s, pids[i]);
		if (err == JS_NO_INSTANCE)
			continue;
		running++;
		if (err == JET_errSuccess)
			err = session_add(s, pids[i]);
		if (err && err != JET_errOSSnapshotNotAllowed)
			keep_first(&failure, err);
	}
	free(pids);
	if (failure.err)
		return report(&failure);
	if (!running)
		return fail(JET_errNotInitialized,
			    "no jetsnap instance is running in %s: start one with 'jetsnap exec -- CMD'", s->rt);
	if (!s->n)
		return fail(JET_errNotInitialized,
			    "every running instance (%zu) is already in another snapshot session", running);
	return JET_errSuccess;
}

JET_ERR JetOSSnapshotPrepare(JET_OSSNAPID *psnapId, JET_GRBIT grbit)
{
	struct saved_reason failure = { 0 };
	struct session s;
	JET_ERR err;

	reason_clear();
	err = check_grbit("Prepare", grbit, PREPARE_GRBITS);
	if (err)
		return err;
	if (psnapId)
		*psnapId = 0;
	if (!psnapId)
		return fail(JET_errInvalidParameter, "the snapshot id pointer must not be NULL");
	err = session_create(&s, grbit);
	if (err)
		return err;
	if (!(grbit & JET_bitExplicitPrepare))
		err = enroll_all(&s);
	if (!err) {
		s.state = SS_PREPARED;
		err = session_save(&s);
	}
	if (err) {
		keep_first(&failure, err);
		unenroll_all(&s);
		session_discard(&s);
		return report(&failure);
	}
	*psnapId = (JET_OSSNAPID)s.id;
	session_close(&s);
	return JET_errSuccess;
}

static bool valid_pid(JET_INSTANCE instance)
{
	return instance > 0 && instance <= INT_MAX;
}

JET_ERR JetOSSnapshotPrepareInstance(JET_OSSNAPID snapId, JET_INSTANCE instance, JET_GRBIT grbit)
{
	pid_t pid = (pid_t)instance;
	struct session s;
	JET_ERR err;

	err = enter("PrepareInstance", grbit, 0, false, NULL, NULL, snapId, &s);
	if (err)
		return err;
	if (s.state != SS_PREPARED) {
		err = fail(JET_errOSSnapshotInvalidSequence, "PrepareInstance is only allowed before Freeze");
		goto out;
	}
	if (!valid_pid(instance)) {
		err = fail(JET_errInvalidParameter, "%lu is not an instance id", (unsigned long)instance);
		goto out;
	}
	if (session_find(&s, pid)) {
		err = fail(JET_errOSSnapshotNotAllowed, "instance %d is already in this snapshot session", pid);
		goto out;
	}
	err = enroll(&s, pid);
	if (err == JS_NO_INSTANCE)
		err = fail(JET_errInvalidParameter,
			   "no jetsnap instance has id %d: see 'jetsnap list'", pid);
	if (err)
		goto out;
	err = session_add(&s, pid);
	if (!err)
		err = session_save(&s);
	if (err) {
		struct js_call c = { .pid = pid };

		js_call_all(s.rt, &c, 1, JS_OP_UNENROLL, s.id, 0);
		js_call_release(&c, 1);
	}
out:
	session_close(&s);
	return err;
}

/* 2001, naming the frozen instances: "NAME (pid PID)", ... */
static void log_freeze_started(const struct session *s, const struct js_call *calls, size_t n)
{
	char list[400] = "";
	size_t used = 0;

	for (size_t i = 0; i < n && used < sizeof list; i++) {
		if (!s->m[i].frozen || !calls[i].reply)
			continue;
		used += snprintf(list + used, sizeof list - used, "%s%.*s (pid %d)", used ? ", " : "",
				 (int)sizeof calls[i].reply->status.name, calls[i].reply->status.name,
				 (int)calls[i].pid);
	}
	log_event(LOG_INFO, EV_FREEZE_STARTED, "freeze of snapshot %llu started: instances %s",
		  (unsigned long long)s->id, used ? list : "none");
}

/* Freeze all or none: a failure thaws those that froze and keeps the session Prepared. */
static JET_ERR freeze_members(struct session *s, unsigned long *pc, JET_INSTANCE_INFO **pa)
{
	struct saved_reason failure = { 0 };
	struct js_call *calls;
	size_t n;

	calls = ask_members(s, JS_OP_FREEZE, false, timeout_in_force(), &n);
	if (!calls)
		return JET_errOutOfMemory;
	for (size_t i = 0; i < n; i++) {
		JET_ERR err = call_result(&calls[i]);

		if (err == JET_errSuccess)
			s->m[i].frozen = true;
		else if (err != JS_NO_INSTANCE)
			keep_first(&failure, err);
	}
	if (!failure.err)
		keep_first(&failure, build_info(calls, n, PATHS_ALL, pc, pa));
	if (!failure.err) {
		s->state = SS_FROZEN;
		keep_first(&failure, session_save(s));
	}
	if (!failure.err)
		log_freeze_started(s, calls, n);
	free_calls(calls, n);
	if (failure.err) {
		JetFreeBuffer((char *)*pa);
		*pa = NULL;
		*pc = 0;
		thaw_members(s);
		s->state = SS_PREPARED;
		s->expired = false;
		session_save(s);
	}
	return report(&failure);
}

JET_ERR JetOSSnapshotFreeze(JET_OSSNAPID snapId, unsigned long *pcInstanceInfo,
			    JET_INSTANCE_INFO **paInstanceInfo, JET_GRBIT grbit)
{
	struct session s;
	JET_ERR err;

	err = enter("Freeze", grbit, 0, true, pcInstanceInfo, paInstanceInfo, snapId, &s);
	if (err)
		return err;
	if (s.state == SS_PREPARED)
		err = freeze_members(&s, pcInstanceInfo, paInstanceInfo);
	else
		err = fail(JET_errOSSnapshotInvalidSequence, "Freeze is only allowed once, right after Prepare");
	session_close(&s);
	return err;
}

JET_ERR JetOSSnapshotGetFreezeInfo(JET_OSSNAPID snapId, unsigned long *pcInstanceInfo,
				   JET_INSTANCE_INFO **paInstanceInfo, JET_GRBIT grbit)
{
	struct js_call *calls;
	struct session s;
	JET_ERR err;
	size_t n;

	err = enter("GetFreezeInfo", grbit, 0, true, pcInstanceInfo, paInstanceInfo, snapId, &s);
	if (err)
		return err;
	calls = ask_members(&s, JS_OP_FILES, false, 0, &n);
	if (!calls) {
		err = JET_errOutOfMemory;
		goto out;
	}
	if (s.state == SS_FROZEN && saw_expiry(&s, calls, n))
		err = expire_session(&s);
	/* After a timeout no instance is frozen for the session: none to list. */
	if (!err && s.state != SS_TIMEDOUT)
		err = build_info(calls, n, s.state == SS_PREPARED ? PATHS_NONE : PATHS_ALL,
				 pcInstanceInfo, paInstanceInfo);
	free_calls(calls, n);
out:
	session_close(&s);
	return err;
}

JET_ERR JetOSSnapshotThaw(JET_OSSNAPID snapId, JET_GRBIT grbit)
{
	struct saved_reason outcome = { 0 };
	struct session s;
	JET_ERR err;

	err = enter("Thaw", grbit, 0, false, NULL, NULL, snapId, &s);
	if (err)
		return err;
	if (s.state != SS_FROZEN && s.state != SS_TIMEDOUT) {
		err = fail(JET_errOSSnapshotInvalidSequence, "Thaw is only allowed while frozen");
		goto out;
	}
	err = thaw_members(&s);
	if (err && err != JET_errOSSnapshotTimeOut) {
		/* What could not be thawed stays frozen: a retry, or Abort, goes on from here. */
		session_save(&s);
		goto out;
	}
	keep_first(&outcome, err);
	if (!err)
		log_event(LOG_INFO, EV_FREEZE_ENDED, "freeze of snapshot %llu ended: held writes drained",
			  (unsigned long long)s.id);
	if (s.grbit & JET_bitContinueAfterThaw) {
		s.state = err ? SS_TIMEDOUT : SS_THAWED;
		err = session_save(&s);
	} else {
		err = finish(&s, err ? SO_TIMEDOUT : SO_COMPLETED);
	}
	if (!err)
		err = report(&outcome);
out:
	session_close(&s);
	return err;
}

JET_ERR JetOSSnapshotAbort(JET_OSSNAPID snapId, JET_GRBIT grbit)
{
	struct session s;
	JET_ERR err;

	err = enter("Abort", grbit, 0, false, NULL, NULL, snapId, &s);
	if (err)
		return err;
	err = abort_session(&s);
	session_close(&s);
	return err;
}

JET_ERR JetOSSnapshotEnd(JET_OSSNAPID snapId, JET_GRBIT grbit)
{
	struct session s;
	JET_ERR err;

	err = enter("End", grbit, JET_bitAbortSnapshot, false, NULL, NULL, snapId, &s);
	if (err)
		return err;
	if (grbit & JET_bitAbortSnapshot) {
		err = abort_session(&s);
		goto out;
	}
	err = refresh_frozen(&s);
	if (err)
		goto out;
	if (s.state == SS_FROZEN)
		err = fail(JET_errOSSnapshotInvalidSequence,
			   "End while frozen: Thaw first, or End with JET_bitAbortSnapshot");
	else if (s.state == SS_TIMEDOUT)
		err = fail(JET_errOSSnapshotTimeOut,
			   "the freeze expired, so the snapshot is not valid: End with JET_bitAbortSnapshot");
	else
		err = finish(&s, SO_COMPLETED);
out:
	session_close(&s);
	return err;
}

static JET_ERR truncate_log(JET_OSSNAPID snapId, bool one, JET_INSTANCE instance, JET_GRBIT grbit)
{
	struct session s;
	JET_ERR err;

	err = enter("TruncateLog", grbit, JET_bitAllDatabasesSnapshot, false, NULL, NULL, snapId, &s);
	if (err)
		return err;
	if (s.grbit & JET_bitCopySnapshot)
		err = fail(JET_errOSSnapshotInvalidSequence, "a copy snapshot does not truncate logs");
	else if (s.state != SS_THAWED && s.state != SS_LOGTRUNCATED)
		err = fail(JET_errOSSnapshotInvalidSequence,
			   "TruncateLog is only allowed after a successful Thaw of a ContinueAfterThaw session");
	else if (one && (!valid_pid(instance) || !session_find(&s, (pid_t)instance)))
		err = fail(JET_errInvalidParameter, "instance %lu is not in this snapshot session",
			   (unsigned long)instance);
	if (err)
		goto out;
	/* Generic files have no logs to delete: the step is only recorded. */
	s.state = SS_LOGTRUNCATED;
	err = session_save(&s);
out:
	session_close(&s);
	return err;
}

JET_ERR JetOSSnapshotTruncateLog(JET_OSSNAPID snapId, JET_GRBIT grbit)
{
	return truncate_log(snapId, false, 0, grbit);
}

JET_ERR JetOSSnapshotTruncateLogInstance(JET_OSSNAPID snapId, JET_INSTANCE instance, JET_GRBIT grbit)
{
	return truncate_log(snapId, true, instance, grbit);
}

/* Ask op of every running instance of the runtime directory. */
static JET_ERR ask_everyone(uint32_t op, struct js_call **calls, size_t *n)
{
	char rt[4096];
	pid_t *pids;
	JET_ERR err;

	*calls = NULL;
	err = runtime_dir(rt, sizeof(rt));
	if (!err)
		err = js_list_pids(rt, &pids, n);
	if (err)
		return err;
	*calls = calls_for(pids, *n);
	free(pids);
	if (!*calls)
		return JET_errOutOfMemory;
	js_call_all(rt, *calls, *n, op, 0, 0);
	return JET_errSuccess;
}

JET_ERR JetGetInstanceInfo(unsigned long *pcInstanceInfo, JET_INSTANCE_INFO **paInstanceInfo)
{
	struct js_call *calls;
	JET_ERR err;
	size_t n;

	reason_clear();
	err = zero_outputs(pcInstanceInfo, paInstanceInfo);
	if (!err)
		err = ask_everyone(JS_OP_FILES, &calls, &n);
	if (err)
		return err;
	/* A running instance holds nothing: its databases are known from its freeze on. */
	err = build_info(calls, n, PATHS_IF_HELD, pcInstanceInfo, paInstanceInfo);
	free_calls(calls, n);
	return err;
}

JET_ERR JetFreeBuffer(char *pbBuf)
{
	free(pbBuf);
	return JET_errSuccess;
}

JET_ERR JetSetSystemParameter(JET_INSTANCE *pinstance, JET_SESID sesid, unsigned long paramid,
			      JET_API_PTR lParam, const char *szParam)
{
	reason_clear();
	if (paramid != JET_paramOSSnapshotTimeout)
		return fail(JET_errInvalidParameter, "unknown system parameter %lu: jetsnap knows only %d (OSSnapshotTimeout)",
			    paramid, JET_paramOSSnapshotTimeout);
	if (lParam > TIMEOUT_MAX_MS)
		return fail(JET_errInvalidParameter, "OSSnapshotTimeout must be 0..%d ms", TIMEOUT_MAX_MS);
	atomic_store(&snapshot_timeout_ms, (int64_t)lParam);
	return JET_errSuccess;
}

JET_ERR JetGetSystemParameter(JET_INSTANCE instance, JET_SESID sesid, unsigned long paramid,
			      JET_API_PTR *plParam, char *szParam, unsigned long cbMax)
{
	reason_clear();
	if (paramid != JET_paramOSSnapshotTimeout)
		return fail(JET_errInvalidParameter, "unknown system parameter %lu: jetsnap knows only %d (OSSnapshotTimeout)",
			    paramid, JET_paramOSSnapshotTimeout);
	if (!plParam)
		return fail(JET_errInvalidParameter, "the value pointer must not be NULL");
	*plParam = (JET_API_PTR)timeout_in_force();
	return JET_errSuccess;
}

const char *JetsnapErrorName(JET_ERR err)
{
	switch (err) {
#define NAME(e) case e: return #e
	NAME(JET_errSuccess);
	NAME(JET_errInvalidGrbit);
	NAME(JET_errInvalidParameter);
	NAME(JET_errOutOfMemory);
	NAME(JET_errNotInitialized);
	NAME(JET_errOSSnapshotInvalidSequence);
	NAME(JET_errOSSnapshotTimeOut);
	NAME(JET_errOSSnapshotNotAllowed);
	NAME(JET_errOSSnapshotInvalidSnapId);
	NAME(JET_errDiskIO);
	NAME(JET_errDiskFull);
#undef NAME
	}
	return NULL;
}

const char *JetsnapLastReason(void)
{
	return reason_get();
}

static void copy_status(JETSNAP_INSTANCE_STATUS *out, const struct js_call *c)
{
	static const char *const states[] = {
		[JS_STATE_RUNNING] = "running",
		[JS_STATE_FROZEN] = "frozen",
		[JS_STATE_DRAINING] = "draining",
	};
	const struct js_status *st = &c->reply->status;

	memset(out, 0, sizeof(*out));
	out->hInstanceId = (JET_INSTANCE)c->pid;
	snprintf(out->szInstanceName, sizeof(out->szInstanceName), "%s", st->name);
	snprintf(out->szState, sizeof(out->szState), "%s",
		 st->state < sizeof(states) / sizeof(states[0]) ? states[st->state] : "unknown");
	out->snapId = (JET_OSSNAPID)st->snap_id;
	out->cbHeld = st->held_bytes;
	out->cHeldWrites = st->held_writes;
	out->cDrainedWrites = st->drained_writes;
	out->usFrozenFor = st->frozen_us;
	out->cFiles = st->files;
	out->cbJournal = st->journal_bytes;
	out->cbDrained = st->drained_bytes;
	out->cProcesses = st->nprocs;
	for (uint32_t i = 0; i < st->nprocs && i < JS_PIDS_MAX; i++)
		out->rgProcessIds[i] = (uint32_t)st->pids[i];
	snprintf(out->szLastRefusal, sizeof(out->szLastRefusal), "%.*s",
		 (int)sizeof(st->last_refusal), st->last_refusal);
}

JET_ERR JetsnapListInstances(unsigned long *pc, JETSNAP_INSTANCE_STATUS **pa)
{
	JETSNAP_INSTANCE_STATUS *out = NULL;
	struct js_call *calls;
	size_t n, k = 0;
	JET_ERR err;

	reason_clear();
	if (pc)
		*pc = 0;
	if (pa)
		*pa = NULL;
	if (!pc || !pa)
		return fail(JET_errInvalidParameter, "the count and array pointers must not be NULL");
	err = ask_everyone(JS_OP_STATUS, &calls, &n);
	if (err)
		return err;
	if (n && !(out = calloc(n, sizeof(*out))))
		err = fail(JET_errOutOfMemory, "out of memory listing instances");
	for (size_t i = 0; out && i < n; i++)
		if (!calls[i].err && !calls[i].reply->err)
			copy_status(&out[k++], &calls[i]);
	free_calls(calls, n);
	if (!k) {
		free(out);
		return err;
	}
	*pc = k;
	*pa = out;
	return JET_errSuccess;
}
