/*
 * tree_spawn — starts two tree_writer processes the ways that do not run
 * pthread_atfork handlers: posix_spawn (writer "spawn") and system()
 * (writer "sys", through /bin/sh).  Both must join the instance of the
 * process tree they are started in (tests/tree_join.sh).
 *
 *   tree_spawn WRITER DATADIR CTLDIR
 *
 * Waits for both; exits 0 if both exited 0, else writes CTLDIR/spawn.err.
 */
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char **args;
static int system_status = -1;

static void *run_system(void *arg)
{
	char cmd[8192];

	(void)arg;
	/* Paths from mktemp: no single quotes in them. */
	snprintf(cmd, sizeof(cmd), "exec '%s' sys '%s/sys' '%s'", args[1], args[2], args[3]);
	system_status = system(cmd);
	return NULL;
}

static void report(const char *ctl, const char *what, int status)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tree_spawn.err", ctl);
	f = fopen(path, "a");
	if (f) {
		fprintf(f, "%s ended with status %#x\n", what, status);
		fclose(f);
	}
}

int main(int argc, char **argv)
{
	char data[4096];
	char *child_argv[5];
	pthread_t thread;
	pid_t pid;
	int status = -1, err;
	FILE *f;

	if (argc != 4) {
		fprintf(stderr, "usage: tree_spawn WRITER DATADIR CTLDIR\n");
		return 2;
	}
	args = argv;
	snprintf(data, sizeof(data), "%s/tree_spawn.pid", argv[3]);
	f = fopen(data, "w");
	if (f) {
		fprintf(f, "%ld\n", (long)getpid());
		fclose(f);
	}
	snprintf(data, sizeof(data), "%s/spawn", argv[2]);
	child_argv[0] = argv[1];
	child_argv[1] = "spawn";
	child_argv[2] = data;
	child_argv[3] = argv[3];
	child_argv[4] = NULL;
	err = posix_spawn(&pid, argv[1], NULL, NULL, child_argv, environ);
	if (err) {
		fprintf(stderr, "tree_spawn: posix_spawn %s: %s\n", argv[1], strerror(err));
		report(argv[3], "posix_spawn", err);
		return 1;
	}
	if (pthread_create(&thread, NULL, run_system, NULL) != 0) {
		report(argv[3], "pthread_create", -1);
		return 1;
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		report(argv[3], "the posix_spawn writer", status);
	pthread_join(thread, NULL);
	if (system_status == -1 || !WIFEXITED(system_status) || WEXITSTATUS(system_status) != 0)
		report(argv[3], "the system() writer", system_status);
	return status == 0 && system_status == 0 ? 0 : 1;
}
