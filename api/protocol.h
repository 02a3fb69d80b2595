/*
 * The control protocol between the control library (api/) and the shim's
 * control thread (shim/control.c).  One definition, included by both sides.
 *
 * Each instance listens on a SOCK_SEQPACKET Unix socket
 *   $JETSNAP_RUNTIME_DIR/<pid>.sock
 * (default runtime dir: $XDG_RUNTIME_DIR/jetsnap, else /tmp/jetsnap-$UID,
 * mode 0700).  A client sends one js_request and reads one message: a
 * js_reply followed by reply.paths_len bytes of NUL-terminated paths (the
 * held files).  Peers of another uid (except root) are refused.
 */
#ifndef JETSNAP_PROTOCOL_H
#define JETSNAP_PROTOCOL_H

#include <stdint.h>

#define JS_PROTO_MAGIC   0x4a534e50u	/* "JSNP" */
#define JS_PROTO_VERSION 1u
#define JS_REASON_MAX    512
#define JS_NAME_MAX      128
#define JS_REPLY_MAX     (1u << 20)	/* reply + paths never exceed this */
#define JS_PIDS_MAX      64

enum js_op {
	JS_OP_STATUS = 1,	/* who are you, what state: never fails */
	JS_OP_ENROLL,		/* join session snap_id; NotAllowed if in another */
	JS_OP_UNENROLL,		/* leave session snap_id (no-op if not in it) */
	JS_OP_FREEZE,		/* freeze for snap_id, expiring after timeout_ms */
	JS_OP_THAW,		/* drain and resume; TimeOut if the freeze expired */
	JS_OP_FILES,		/* the files held by the current/last freeze */
};

enum js_state {
	JS_STATE_RUNNING = 0,
	JS_STATE_FROZEN,
	JS_STATE_DRAINING,
};

struct js_request {
	uint32_t magic;
	uint32_t version;
	uint32_t op;		/* enum js_op */
	uint32_t reserved;
	uint64_t snap_id;
	uint64_t timeout_ms;
};

struct js_status {
	uint64_t pid;		/* the instance root's pid: its JET_INSTANCE */
	char name[JS_NAME_MAX];
	uint32_t state;		/* enum js_state */
	uint32_t nprocs;	/* live processes of the instance */
	uint64_t snap_id;	/* enrolled session, 0 if none */
	uint64_t timed_out_snap_id;	/* last session whose freeze expired */
	uint64_t held_bytes;
	uint64_t held_writes;
	uint64_t drained_writes;
	uint64_t frozen_us;
	uint64_t files;
	uint64_t journal_bytes;	/* the hold journal's records, in bytes */
	uint64_t drained_bytes;	/* of those, applied by the current drain */
	int32_t pids[JS_PIDS_MAX];	/* the first nprocs (at most JS_PIDS_MAX) */
	char last_refusal[256];	/* why the last Freeze was refused, "" if it was not */
};

struct js_reply {
	uint32_t magic;
	int32_t err;		/* JET_ERR */
	struct js_status status;
	char reason[JS_REASON_MAX];	/* one line, "" if none */
	uint32_t nfiles;
	uint32_t paths_len;
	/* followed by paths_len bytes: nfiles NUL-terminated absolute paths */
};

#endif
