/*
 * Internal interfaces of the preload shim.  Nothing here is exported.
 */
#ifndef JETSNAP_SHIM_H
#define JETSNAP_SHIM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "funcs.h"
#include "jetsnap.h"
#include "protocol.h"

/*
 * An exported wrapper: a private C name bound to the libc symbol with an
 * asm label (firebuild's way), so glibc's own prototypes and fortify
 * inlines never clash with ours.
 */
#define JS_EXPORT __attribute__((visibility("default")))
#define WRAP(ret, name, params) JS_EXPORT ret js_w_##name params __asm__(#name); ret js_w_##name params

/* real.c: pointers to the next definition of every wrapped function. */
#define JS_DECLARE_REAL(ret, name, params, class) \
	typedef ret js_##name##_fn params; \
	extern js_##name##_fn *js_real_##name; \
	js_##name##_fn *js_resolve_##name(void);
JS_FUNCS(JS_DECLARE_REAL)
#undef JS_DECLARE_REAL
/* The real function, resolved on first use (a wrapper may run before our
 * constructor when another library's constructor does I/O). */
#define REAL(name) (js_real_##name ? js_real_##name : js_resolve_##name())
void js_resolve_all(void);

/* config.c: environment values, copied once at start (PostgreSQL
 * overwrites its environ block for its process title). */
struct js_config {
	char runtime_dir[256];
	char state_dir[256];
	char instance[JS_NAME_MAX];
	char paths[4096];	/* JETSNAP_PATHS, colon-separated, "" = all */
	char volatile_globs[1024];	/* JETSNAP_VOLATILE */
	char log_path[256];
	uint64_t max_pending;	/* JETSNAP_MAX_PENDING: held bytes kept mapped */
	uint64_t max_journal;	/* JETSNAP_MAX_JOURNAL: held bytes at all */
};
extern struct js_config js_cfg;
void js_config_load(void);
bool js_path_is_memory_only(const char *path);
bool js_path_in_scope(const char *path);
bool js_path_is_own(const char *path);
bool js_path_is_volatile(const char *path);

/* log.c: JETSNAP_LOG, never the application's stdout/stderr. */
void js_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* gate.c: may a mutation pass straight to the filesystem? */
enum { JS_RUNNING = JS_STATE_RUNNING, JS_FROZEN = JS_STATE_FROZEN, JS_DRAINING = JS_STATE_DRAINING };
extern _Atomic int *js_state_word;	/* the instance's state, shared by its processes */
static inline bool js_running(void)
{
	return atomic_load_explicit(js_state_word, memory_order_acquire) == JS_RUNNING;
}
static inline int js_state_now(void)
{
	return atomic_load_explicit(js_state_word, memory_order_acquire);
}
struct js_stripe;
void js_gate_attach(_Atomic int *state, struct js_stripe *stripes);
void js_gate_close(int state);	/* set state, wait for in-flight mutations */

/*
 * The writer's side of the gate, inlined into every wrapper: this
 * thread's in-flight counter (looked up again when js_gate_gen moves),
 * a locked add, the state.  js_gate_enter true: pass through, then
 * js_gate_exit with the same counter.
 */
struct js_thread_gate {
	_Atomic long *inflight;
	unsigned gen;
};
extern unsigned js_gate_gen;
extern __thread struct js_thread_gate js_tgate __attribute__((tls_model("initial-exec")));
_Atomic long *js_gate_counter_slow(void) __attribute__((cold, noinline));

static inline bool js_gate_enter(_Atomic long **counter)
{
	_Atomic long *c = __builtin_expect(js_tgate.gen == __atomic_load_n(&js_gate_gen, __ATOMIC_RELAXED), 1) ?
			  js_tgate.inflight : js_gate_counter_slow();

	atomic_fetch_add_explicit(c, 1, memory_order_seq_cst);
	if (__builtin_expect(atomic_load_explicit(js_state_word, memory_order_seq_cst) == JS_RUNNING, 1)) {
		*counter = c;
		return true;
	}
	atomic_fetch_sub_explicit(c, 1, memory_order_release);
	return false;
}

static inline void js_gate_exit(_Atomic long *counter)
{
	atomic_fetch_sub_explicit(counter, 1, memory_order_release);
}

/* engine.c: holding, overlaying, waiting, freezing, draining. */
#define JS_NOT_HELD (-2)	/* "do the real call": the fd/path is not held */
enum js_pos { JS_AT_OFFSET, JS_AT_CURSOR, JS_AT_END };
ssize_t js_hold_write(int fd, const struct iovec *iov, int cnt, off64_t off, enum js_pos pos);
int js_hold_truncate(int fd, const char *path, off64_t len);
ssize_t js_overlay_read(int fd, const struct iovec *iov, int cnt, off64_t off, enum js_pos pos);
off64_t js_overlay_seek(int fd, off64_t off, int whence);
/*
 * A stat's size while frozen: the held size of a held file.  epoch: the
 * freeze epoch read before the stat (js_freeze_epoch), or JS_ANY_EPOCH if
 * the instance was running then.  True: the stat may predate a drain that
 * ended since; make it again.
 */
#define JS_ANY_EPOCH UINT64_MAX
uint64_t js_freeze_epoch(void);
bool js_overlay_size(dev_t dev, ino_t ino, uint64_t epoch, off64_t *size, blkcnt64_t *blocks);
/* Wait until the freeze ends if the call would touch held state. */
void js_wait_if_held_fd(int fd, bool any_holdable);
void js_wait_if_held_path(int dirfd, const char *path);
void js_wait_if_any_held(void);
/* fsync of held data: 0/-1 once the journal holds it durably, or JS_NOT_HELD. */
int js_sync_held(int fd);
void js_sync_all_held(void);
void js_wait_for_open(int dirfd, const char *path, int flags);
void js_wait_for_map(int fd, int prot, int flags);
void js_forget_fd(int fd);
void js_forget_fds(unsigned first, unsigned last);
bool js_is_own_fd(int fd);
void js_mark_own_fd(int fd, bool own);

/*
 * The freeze is known not to be consistent: something changed (or may have
 * changed) a file in scope while frozen.  The first reason is kept and
 * reported by Thaw and GetFreezeInfo (SPEC guarantee 4b).
 */
void js_freeze_taint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *js_freeze_taint_reason(void);	/* "" while consistent */

JET_ERR js_engine_freeze(uint64_t snap, uint64_t timeout_ms, char *reason, size_t reason_len);
/* 0 once drained; -1 with reason if a record could not be applied (the
 * rest stays held and journaled; call again to retry). */
int js_engine_drain(char *reason, size_t reason_len);
void js_engine_status(struct js_status *st);
void js_engine_prepare_log(void);	/* the control thread, while frozen */
size_t js_engine_files(char *buf, size_t cap, uint32_t *nfiles);
uint64_t js_now_us(void);

/* control.c */
void js_control_start(void);
int js_control_fd(void);

#endif
