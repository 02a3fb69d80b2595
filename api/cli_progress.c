/*
 * cli_progress.c — "draining: X of Y bytes" on the terminal while a thaw
 * or an abort drains a large journal, so that an operator can tell a slow
 * drain from a hung one.  A helper thread polls JetsnapListInstances while
 * the API call runs in the caller's thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define PROGRESS_DELAY_MS 1000	/* quick drains show nothing */
#define PROGRESS_EVERY_MS 200

struct progress {
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	bool done;
	JET_OSSNAPID id;
};

/* Waits until the call is done or ms passed; true if it is done. */
static bool wait_done(struct progress *p, long ms)
{
	struct timespec until;
	bool done;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->lock);
	while (!p->done && pthread_cond_timedwait(&p->done_cond, &p->lock, &until) != ETIMEDOUT)
		;
	done = p->done;
	pthread_mutex_unlock(&p->lock);
	return done;
}

/* The journal and drained bytes of the instances of snapshot id; false if none drains. */
static bool drain_totals(JET_OSSNAPID id, uint64_t *drained, uint64_t *journal)
{
	unsigned long n = 0;
	JETSNAP_INSTANCE_STATUS *st = NULL;
	bool any = false;

	*drained = *journal = 0;
	if (JetsnapListInstances(&n, &st))
		return false;
	for (unsigned long i = 0; i < n; i++) {
		if (st[i].snapId != id || strcmp(st[i].szState, "draining"))
			continue;
		any = true;
		*drained += st[i].cbDrained;
		*journal += st[i].cbJournal;
	}
	JetFreeBuffer((char *)st);
	return any;
}

static void *show_progress(void *arg)
{
	struct progress *p = arg;
	bool shown = false;
	uint64_t drained, journal;

	if (wait_done(p, PROGRESS_DELAY_MS))
		return NULL;
	do {
		/*
		 * An instance answers between drain steps; the answer may come
		 * after the call ended, and is then stale.
		 */
		if (drain_totals(p->id, &drained, &journal) && !wait_done(p, 0)) {
			fprintf(stderr, "\rdraining: %" PRIu64 " of %" PRIu64 " bytes\033[K",
				drained, journal);
			shown = true;
		}
	} while (!wait_done(p, PROGRESS_EVERY_MS));
	if (shown)
		fputs("\r\033[K", stderr);
	return NULL;
}

JET_ERR cli_drain_with_progress(JET_ERR (*call)(JET_OSSNAPID, JET_GRBIT), JET_OSSNAPID id)
{
	struct progress p = { .lock = PTHREAD_MUTEX_INITIALIZER, .id = id };
	pthread_condattr_t attr;
	pthread_t tid;
	JET_ERR err;
	bool started;

	if (!isatty(STDERR_FILENO))
		return call(id, 0);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p.done_cond, &attr);
	pthread_condattr_destroy(&attr);
	/* No thread, no progress: the call itself matters more. */
	started = pthread_create(&tid, NULL, show_progress, &p) == 0;
	err = call(id, 0);
	pthread_mutex_lock(&p.lock);
	p.done = true;
	pthread_cond_signal(&p.done_cond);
	pthread_mutex_unlock(&p.lock);
	if (started)
		pthread_join(tid, NULL);
	pthread_cond_destroy(&p.done_cond);
	return err;
}
