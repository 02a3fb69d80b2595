/*
 * tap.h — for the test programs that print TAP themselves and run their
 * checks again under the shim (tests/errno_ebadf.c, tests/stdio_test.c):
 * one line per check, "ok N - LABEL: what" or "not ok N - …", LABEL being
 * the phase or mode the check ran in; and the re-execution.
 */
#ifndef JETSNAP_TESTS_TAP_H
#define JETSNAP_TESTS_TAP_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int tap_n;		/* checks so far */
static int tap_failed;		/* and how many of them failed */
static const char *tap_label = "";

static inline void __attribute__((format(printf, 2, 3))) tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - %s: ", ok ? "ok" : "not ok", ++tap_n, tap_label);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	/* Before any fork or exec: a child must not print our buffer again. */
	fflush(stdout);
	tap_failed += !ok;
}

/* $JETSNAP_SHIM, or bail out: the test runs through make check. */
static inline const char *tap_shim(void)
{
	const char *shim = getenv("JETSNAP_SHIM");

	if (!shim || access(shim, R_OK) != 0) {
		printf("Bail out! JETSNAP_SHIM is not set or not built: run this test with make check\n");
		exit(1);
	}
	return shim;
}

/*
 * Run this program again with the shim preloaded, the runtime directory
 * rundir and child_env=dir (which tells the new run it is the one under
 * the shim); it numbers its checks on from ours (tap_continue()).
 * Returns its wait status, or -1.
 */
static inline int tap_rerun_under_shim(char **argv, const char *shim, const char *rundir,
				       const char *child_env, const char *dir)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char n[16];

		snprintf(n, sizeof(n), "%d", tap_n);
		setenv("LD_PRELOAD", shim, 1);
		setenv("JETSNAP_RUNTIME_DIR", rundir, 1);
		setenv(child_env, dir, 1);
		setenv("JETSNAP_TAP_N", n, 1);
		execv("/proc/self/exe", argv);
		printf("Bail out! cannot re-execute under the shim: %s\n", strerror(errno));
		_exit(1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

/* In the run under the shim: go on from the checks of the first run. */
static inline void tap_continue(void)
{
	tap_n = getenv("JETSNAP_TAP_N") ? atoi(getenv("JETSNAP_TAP_N")) : 0;
}

#endif
