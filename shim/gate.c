/*
 * The freeze gate: "may this mutation go straight to the file?"
 *
 * A writer announces itself in one of its process's counters (one of
 * JS_STRIPES, by thread), then reads the instance's state.  The freezer
 * stores the new state, then waits until the counters of every live member
 * process are zero.  Both sides use sequentially consistent operations, so
 * either the writer sees the freeze and takes the hold path, or the freezer
 * sees the writer and waits for it (Dekker).  The state and the counters
 * live in the instance file every member maps, so one Freeze covers the
 * whole process tree.  A pass-through write costs one locked add on a
 * cache line its thread usually owns, a load and a branch, inlined into
 * the wrapper (shim.h): no lock, no syscall, async-signal-safe.  See
 * docs/DESIGN.md for why not membarrier.
 */
#include <sched.h>
#include <stdio.h>
#include <time.h>

#include "instance.h"
#include "shim.h"

/* Before this process has joined an instance: always running. */
static _Atomic int unjoined_state = JS_RUNNING;
static struct js_stripe unjoined_stripes[JS_STRIPES];

_Atomic int *js_state_word = &unjoined_state;
unsigned js_gate_gen = 1;
__thread struct js_thread_gate js_tgate __attribute__((tls_model("initial-exec")));
static struct js_stripe *my_stripes = unjoined_stripes;
static _Atomic unsigned next_stripe;
static __thread int my_stripe __attribute__((tls_model("initial-exec"))) = -1;

/*
 * Joining an instance (at start, or in a fork child) moves the counters:
 * the generation makes every thread look its counter up again.  The
 * thread that joins is the only one there is at either point.
 */
void js_gate_attach(_Atomic int *state, struct js_stripe *stripes)
{
	my_stripes = stripes ? stripes : unjoined_stripes;
	js_state_word = state;
	__atomic_add_fetch(&js_gate_gen, 1, __ATOMIC_SEQ_CST);
}

_Atomic long *js_gate_counter_slow(void)
{
	if (my_stripe < 0)
		my_stripe = atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) % JS_STRIPES;
	js_tgate.inflight = &my_stripes[my_stripe].inflight;
	js_tgate.gen = __atomic_load_n(&js_gate_gen, __ATOMIC_RELAXED);
	return js_tgate.inflight;
}

static void wait_drained(struct js_member *m)
{
	uint64_t start = js_now_us();
	unsigned spins = 0;

	for (int s = 0; s < JS_STRIPES; s++) {
		while (atomic_load_explicit(&m->stripes[s].inflight, memory_order_acquire) > 0) {
			int32_t pid = atomic_load(&m->pid);

			/* A member that died in the middle of a write has
			 * nothing in flight any more. */
			if (pid == 0 || !js_pid_alive(pid))
				return;
			if (js_now_us() - start > 10000000) {
				js_log("gate: pid %d kept a write in flight for 10 s; freezing without it", pid);
				return;
			}
			if (++spins < 1000) {
				sched_yield();
			} else {
				struct timespec ts = { 0, 100000 };
				nanosleep(&ts, NULL);
			}
		}
	}
}

void js_gate_close(int state)
{
	atomic_store_explicit(js_state_word, state, memory_order_seq_cst);
	for (int i = 0; i < JS_MAX_MEMBERS; i++)
		if (atomic_load(&js_sh->members[i].pid) != 0)
			wait_drained(&js_sh->members[i]);
}
