/*
 * kill_drain — kill -9 a process in the middle of its instance's drain, for
 * tests/kill_recovery.sh.  From the shell, a kill a few ms after `jetsnap
 * thaw` mostly lands before or after a drain that takes ~10 ms; this helper
 * watches the instance file's shared header instead (read-only, white box:
 * shim/instance.h) and kills once the drain has applied the given share of
 * the held writes.  It starts CMD (the thaw) itself once it is watching, so
 * a slow start on a loaded machine cannot miss the drain.
 *
 *   kill_drain INSTANCE_FILE PID PERMILLE TIMEOUT_MS CMD [ARG]...
 *
 * PID 0 kills every process of the instance (its member table: a database
 * server's children may each be in a process group of their own).
 * CMD's output goes to stderr.  Prints "mid DRAINED HELD" when it killed
 * during the drain, "after" when the drain ended first (it then kills
 * anyway), waits for CMD and exits 0; 1 when the drain did not begin within
 * TIMEOUT_MS (PID is killed then too, so the test never leaves a process
 * behind); 2 on usage or setup errors.
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"
#include "instance.h"

static void kill_target(const struct js_shared *sh, pid_t pid)
{
	if (pid) {
		kill(pid, SIGKILL);
		return;
	}
	kill(sh->root_pid, SIGKILL);
	for (int i = 0; i < JS_MAX_MEMBERS; i++) {
		int32_t m = atomic_load(&sh->members[i].pid);

		if (m > 0)
			kill(m, SIGKILL);
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	const struct js_shared *sh;
	uint64_t deadline, held, drained;
	long permille;
	pid_t pid, cmd;
	int fd, state;
	bool seen_draining = false;

	if (argc < 6) {
		fputs("usage: kill_drain INSTANCE_FILE PID PERMILLE TIMEOUT_MS CMD [ARG]...\n", stderr);
		return 2;
	}
	pid = atoi(argv[2]);
	permille = atol(argv[3]);
	deadline = now_ms() + strtoull(argv[4], NULL, 10);
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	sh = fd < 0 ? MAP_FAILED : mmap(NULL, JS_HEADER_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (sh == MAP_FAILED) {
		fprintf(stderr, "kill_drain: cannot map %s: %s\n", argv[1], strerror(errno));
		if (pid)
			kill(pid, SIGKILL);
		return 2;
	}
	/*
	 * A drain takes a few ms; on a loaded machine a watcher in the normal
	 * class can be off the CPU for all of it.  Real-time priority (as root)
	 * with short sleeps, not a spin, sees it without starving the drain;
	 * the thaw command gets the normal class back.
	 */
	sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &(struct sched_param){ .sched_priority = 1 });
	fflush(stdout);
	cmd = fork();
	if (cmd == 0) {
		dup2(2, 1);
		execvp(argv[5], argv + 5);
		fprintf(stderr, "kill_drain: cannot run %s: %s\n", argv[5], strerror(errno));
		_exit(127);
	}
	if (cmd < 0) {
		kill_target(sh, pid);
		fprintf(stderr, "kill_drain: cannot fork: %s\n", strerror(errno));
		return 2;
	}
	for (;;) {
		state = atomic_load(&sh->state);
		held = __atomic_load_n(&sh->held_writes, __ATOMIC_RELAXED);
		drained = __atomic_load_n(&sh->drained_writes, __ATOMIC_RELAXED);
		if (state == JS_STATE_DRAINING) {
			seen_draining = true;
			if (drained * 1000 >= held * (uint64_t)permille)
				break;
		} else if (state == JS_STATE_RUNNING && (seen_draining || drained)) {
			break;
		}
		if (now_ms() > deadline) {
			kill_target(sh, pid);
			waitpid(cmd, NULL, 0);
			fprintf(stderr, "kill_drain: no drain began in %s ms (state %d)\n", argv[4], state);
			return 1;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 20000 }, NULL);
	}
	kill_target(sh, pid);
	if (state == JS_STATE_DRAINING)
		printf("mid %llu %llu\n", (unsigned long long)drained, (unsigned long long)held);
	else
		printf("after\n");
	waitpid(cmd, NULL, 0);
	return 0;
}
