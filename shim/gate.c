/*
 * The freeze gate: "may this mutation go straight to the file?"
 *
 * A writer announces itself in one of 64 padded counters (its thread's
 * stripe), then reads the state.  The freezer stores the new state, then
 * waits until every counter is zero.  Both sides use sequentially
 * consistent operations, so either the writer sees the freeze and takes the
 * hold path, or the freezer sees the writer and waits for it (Dekker).
 * Stripes keep the counter's cache line private to a thread in the common
 * case, so a pass-through write costs one uncontended locked add and a load
 * — no lock, no syscall, async-signal-safe.  See docs/DESIGN.md for why not
 * membarrier (it needs registration and costs every thread an IPI).
 */
#include <sched.h>
#include <time.h>

#include "shim.h"

#define STRIPES 64

struct stripe {
	_Atomic long inflight;
	char pad[64 - sizeof(long)];
};

_Atomic int js_state = JS_RUNNING;
static struct stripe stripes[STRIPES] __attribute__((aligned(64)));
static _Atomic unsigned next_stripe;
static __thread int my_stripe __attribute__((tls_model("initial-exec"))) = -1;

static struct stripe *stripe_of_thread(void)
{
	if (__builtin_expect(my_stripe < 0, 0))
		my_stripe = atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) % STRIPES;
	return &stripes[my_stripe];
}

bool js_gate_enter(void)
{
	struct stripe *s = stripe_of_thread();

	atomic_fetch_add_explicit(&s->inflight, 1, memory_order_seq_cst);
	if (__builtin_expect(atomic_load_explicit(&js_state, memory_order_seq_cst) == JS_RUNNING, 1))
		return true;
	atomic_fetch_sub_explicit(&s->inflight, 1, memory_order_release);
	return false;
}

void js_gate_exit(void)
{
	atomic_fetch_sub_explicit(&stripes[my_stripe].inflight, 1, memory_order_release);
}

void js_gate_close(int state)
{
	atomic_store_explicit(&js_state, state, memory_order_seq_cst);
	for (int i = 0; i < STRIPES; i++) {
		unsigned spins = 0;

		while (atomic_load_explicit(&stripes[i].inflight, memory_order_acquire) != 0) {
			/* A pass-through write in flight: usually a page-cache
			 * copy of microseconds; yield, then sleep if it is slow. */
			if (++spins < 1000) {
				sched_yield();
			} else {
				struct timespec ts = { 0, 100000 };
				nanosleep(&ts, NULL);
			}
		}
	}
}
