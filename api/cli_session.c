/*
 * cli_session.c — the commands that drive a snapshot session: freeze,
 * thaw, abort, end, and snapshot (freeze, run a command, thaw).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

struct freeze_opts {
	char **names;		/* --instance values */
	size_t nnames;
	long long timeout_ms;	/* -1: the library's default */
	const char *copy_to;	/* snapshot --copy-to DIR */
	bool verbose;
	bool help;		/* --help was given and answered */
};

struct frozen {
	JET_OSSNAPID id;
	unsigned long ninfo;
	JET_INSTANCE_INFO *info;
};

/*
 * Parses freeze's options (and snapshot's, which adds -v); leaves optind
 * at the first operand.
 */
static int parse_freeze_opts(const struct cli_command *cmd, int argc, char **argv,
			     bool allow_verbose, struct freeze_opts *o)
{
	static const struct option longopts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "copy-to", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	unsigned long long ms;
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = -1;
	o->names = calloc(argc, sizeof(*o->names));
	if (!o->names)
		return cli_fail(cmd, "out of memory");
	/* '+': snapshot's CMD keeps its own options. */
	while ((c = getopt_long(argc, argv, allow_verbose ? "+:hv" : "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (!*optarg)
				return cli_usage_error(cmd, "the instance name is empty");
			o->names[o->nnames++] = optarg;
			break;
		case 't':
			rc = cli_parse_count(cmd, "timeout", optarg, UINT32_MAX, &ms);
			if (rc)
				return rc;
			o->timeout_ms = (long long)ms;
			break;
		case 'v':
		case 'c':
			/* snapshot's own options */
			if (!allow_verbose)
				return cli_bad_option(cmd, '?', argv);
			if (c == 'v')
				o->verbose = true;
			else
				o->copy_to = optarg;
			break;
		case 'h':
			o->help = true;
			return cli_help(cmd);
		default:
			return cli_bad_option(cmd, c, argv);
		}
	}
	return CLI_OK;
}

/*
 * Prepares a session (ContinueAfterThaw, so that thaw can tell a valid
 * image from an expired one and still end the session itself), enrolls the
 * named instances or, with none named, every free one, and freezes it.  A
 * failure ends the session as aborted: a half-made session would keep its
 * instances from joining the next one.
 */
static int freeze_session(const struct cli_command *cmd, const struct freeze_opts *o,
			  struct frozen *f)
{
	JET_GRBIT grbit = JET_bitContinueAfterThaw;
	JET_INSTANCE *handles = NULL;
	size_t nhandles = 0;
	char fn[64];
	JET_ERR err;
	int rc;

	memset(f, 0, sizeof(*f));
	if (o->nnames) {
		rc = cli_resolve_instances(cmd, o->names, o->nnames, &handles, &nhandles);
		if (rc)
			return rc;
		grbit |= JET_bitExplicitPrepare;
	}
	if (o->timeout_ms >= 0) {
		err = JetSetSystemParameter(NULL, 0, JET_paramOSSnapshotTimeout,
					    (JET_API_PTR)o->timeout_ms, NULL);
		if (err) {
			rc = cli_jet_failure(cmd, "JetSetSystemParameter(JET_paramOSSnapshotTimeout)", err);
			goto out;
		}
	}
	err = JetOSSnapshotPrepare(&f->id, grbit);
	if (err) {
		rc = cli_jet_failure(cmd, "JetOSSnapshotPrepare", err);
		goto out;
	}
	for (size_t i = 0; i < nhandles; i++) {
		err = JetOSSnapshotPrepareInstance(f->id, handles[i], 0);
		if (err) {
			snprintf(fn, sizeof(fn), "JetOSSnapshotPrepareInstance(pid %" PRIuPTR ")",
				 handles[i]);
			rc = cli_jet_failure(cmd, fn, err);
			goto abort;
		}
	}
	err = JetOSSnapshotFreeze(f->id, &f->ninfo, &f->info, 0);
	if (err) {
		rc = cli_jet_failure(cmd, "JetOSSnapshotFreeze", err);
		goto abort;
	}
	rc = CLI_OK;
	goto out;
abort:
	JetOSSnapshotEnd(f->id, JET_bitAbortSnapshot);
out:
	free(handles);
	return rc;
}

/*
 * The frozen files, each once (the instances of one snapshot may hold the
 * same file), pointing into f->info.
 */
struct file_list {
	const char **paths;
	size_t n;
};

static int collect_files(const struct cli_command *cmd, const struct frozen *f,
			 struct file_list *l)
{
	size_t max = 0;

	for (unsigned long i = 0; i < f->ninfo; i++)
		max += f->info[i].cDatabases;
	l->n = 0;
	l->paths = calloc(max ? max : 1, sizeof(*l->paths));
	if (!l->paths)
		return cli_fail(cmd, "out of memory");
	for (unsigned long i = 0; i < f->ninfo; i++) {
		for (JET_API_PTR j = 0; j < f->info[i].cDatabases; j++) {
			const char *path = f->info[i].szDatabaseFileName[j];
			size_t k = 0;

			while (k < l->n && strcmp(l->paths[k], path))
				k++;
			if (k == l->n)
				l->paths[l->n++] = path;
		}
	}
	return CLI_OK;
}

static void print_files(FILE *out, const char *prefix, const struct file_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		fprintf(out, "%s%s\n", prefix, l->paths[i]);
}

int cmd_freeze(const struct cli_command *cmd, int argc, char **argv)
{
	struct freeze_opts o;
	struct frozen f;
	struct file_list files = { 0 };
	int rc;

	rc = parse_freeze_opts(cmd, argc, argv, false, &o);
	if (rc || o.help)
		goto out;
	if (optind < argc) {
		rc = cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	rc = freeze_session(cmd, &o, &f);
	if (rc)
		goto out;
	rc = collect_files(cmd, &f, &files);
	/*
	 * Frozen whatever happens next: print the id even then, so that the
	 * user can thaw it.
	 */
	printf("%" PRIuPTR "\n", f.id);
	print_files(stdout, "", &files);
	JetFreeBuffer((char *)f.info);
out:
	free(files.paths);
	free(o.names);
	return rc;
}

/*
 * Thaws and, since jetsnap's sessions continue after a thaw, ends the
 * session: "jetsnap thaw" finishes what "jetsnap freeze" began.
 */
static int thaw_session(const struct cli_command *cmd, JET_OSSNAPID id)
{
	JET_ERR err = cli_drain_with_progress(JetOSSnapshotThaw, id);
	int rc;

	if (err) {
		rc = cli_jet_failure(cmd, "JetOSSnapshotThaw", err);
		/*
		 * An expired freeze has resumed on its own and its image is void:
		 * nothing is left to retry, so release the session.  Other
		 * failures (a drain that could not write) keep it for a retry.
		 */
		if (err == JET_errOSSnapshotTimeOut)
			JetOSSnapshotEnd(id, JET_bitAbortSnapshot);
		return rc;
	}
	err = JetOSSnapshotEnd(id, 0);
	/* A session prepared without ContinueAfterThaw (by "call") ended at the thaw. */
	if (err && err != JET_errOSSnapshotInvalidSnapId)
		return cli_jet_failure(cmd, "JetOSSnapshotEnd", err);
	return CLI_OK;
}

/*
 * Parses "CMD [--abort] ID": allow_abort only for end.  Returns CLI_OK with
 * *id set, or an exit code; *help when --help was answered.
 */
static int parse_id_command(const struct cli_command *cmd, int argc, char **argv,
			    bool allow_abort, bool *abort, bool *help, JET_OSSNAPID *id)
{
	static const struct option longopts[] = {
		{ "abort", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	*help = false;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (!allow_abort)
				return cli_bad_option(cmd, '?', argv);
			*abort = true;
			break;
		case 'h':
			*help = true;
			return cli_help(cmd);
		default:
			return cli_bad_option(cmd, c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error(cmd, "no snapshot id given");
	if (optind + 1 < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	return cli_parse_snap_id(cmd, argv[optind], id);
}

int cmd_thaw(const struct cli_command *cmd, int argc, char **argv)
{
	JET_OSSNAPID id;
	bool help;
	int rc = parse_id_command(cmd, argc, argv, false, NULL, &help, &id);

	return rc || help ? rc : thaw_session(cmd, id);
}

int cmd_abort(const struct cli_command *cmd, int argc, char **argv)
{
	JET_OSSNAPID id;
	JET_ERR err;
	bool help;
	int rc = parse_id_command(cmd, argc, argv, false, NULL, &help, &id);

	if (rc || help)
		return rc;
	err = cli_drain_with_progress(JetOSSnapshotAbort, id);
	return err ? cli_jet_failure(cmd, "JetOSSnapshotAbort", err) : CLI_OK;
}

int cmd_end(const struct cli_command *cmd, int argc, char **argv)
{
	JET_OSSNAPID id;
	JET_ERR err;
	bool abort = false, help;
	int rc = parse_id_command(cmd, argc, argv, true, &abort, &help, &id);

	if (rc || help)
		return rc;
	err = JetOSSnapshotEnd(id, abort ? JET_bitAbortSnapshot : 0);
	return err ? cli_jet_failure(cmd, "JetOSSnapshotEnd", err) : CLI_OK;
}

/* The child of "snapshot", so that a SIGTERM or SIGHUP for us reaches it too. */
static volatile pid_t snapshot_child;

static void forward_signal(int sig)
{
	if (snapshot_child > 0)
		kill(snapshot_child, sig);
}

/*
 * Runs argv and returns its exit status as a shell would: 0-255, 128+N if
 * killed by signal N, 127/126 if it could not be started.  While it runs,
 * Ctrl-C and Ctrl-\ reach it (same process group) but not us, as in
 * system(3): we must live to abort the snapshot.
 */
static int run_command(const struct cli_command *cmd, char **argv, char *what, size_t size)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, fwd = { .sa_handler = forward_signal };
	struct sigaction old_int, old_quit, old_term, old_hup;
	sigset_t fwd_set, old_mask;
	int status, rc;
	pid_t pid;

	sigemptyset(&ign.sa_mask);
	sigemptyset(&fwd.sa_mask);
	sigemptyset(&fwd_set);
	sigaddset(&fwd_set, SIGTERM);
	sigaddset(&fwd_set, SIGHUP);
	/*
	 * A SIGTERM that comes before the child's pid is known would find
	 * nobody to forward to, and the command would run to its end: hold
	 * it back until then (it was seen losing one in CI).
	 */
	sigprocmask(SIG_BLOCK, &fwd_set, &old_mask);
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	sigaction(SIGTERM, &fwd, &old_term);
	sigaction(SIGHUP, &fwd, &old_hup);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		/* An ignored signal stays ignored across exec: give CMD the defaults back. */
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGHUP, &old_hup, NULL);
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
		execvp(argv[0], argv);
		rc = errno == ENOENT ? 127 : 126;
		cli_fail(cmd, "cannot run '%s': %s", argv[0], strerror(errno));
		_exit(rc);
	}
	if (pid < 0) {
		rc = 126;
		snprintf(what, size, "could not be started (%s)", strerror(errno));
		goto out;
	}
	snapshot_child = pid;
	sigprocmask(SIG_SETMASK, &old_mask, NULL);	/* a held-back signal is forwarded now */
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			rc = 126;
			snprintf(what, size, "could not be waited for (%s)", strerror(errno));
			goto out;
		}
	}
	if (WIFSIGNALED(status)) {
		rc = 128 + WTERMSIG(status);
		snprintf(what, size, "was killed by signal %d", WTERMSIG(status));
	} else {
		rc = WEXITSTATUS(status);
		snprintf(what, size, "exited with status %d", rc);
	}
out:
	sigprocmask(SIG_BLOCK, &fwd_set, NULL);
	snapshot_child = 0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	return rc;
}

/* JETSNAP_SNAPSHOT_ID and JETSNAP_SNAPSHOT_FILES for the command. */
static int export_snapshot(const struct cli_command *cmd, JET_OSSNAPID id,
			   const struct file_list *l)
{
	char *files = NULL, idtext[32];
	size_t size = 0;
	FILE *out = open_memstream(&files, &size);
	int failed;

	if (!out)
		return cli_fail(cmd, "out of memory");
	for (size_t i = 0; i < l->n; i++)
		fprintf(out, "%s%s", i ? "\n" : "", l->paths[i]);
	if (fclose(out)) {
		free(files);
		return cli_fail(cmd, "out of memory");
	}
	snprintf(idtext, sizeof(idtext), "%" PRIuPTR, id);
	failed = setenv("JETSNAP_SNAPSHOT_ID", idtext, 1) ||
		 setenv("JETSNAP_SNAPSHOT_FILES", files ? files : "", 1);
	free(files);
	return failed ? cli_fail(cmd, "cannot set the environment: %s", strerror(errno)) : CLI_OK;
}

static long long elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000LL + (now.tv_nsec - since->tv_nsec) / 1000000;
}

int cmd_snapshot(const struct cli_command *cmd, int argc, char **argv)
{
	struct freeze_opts o;
	struct frozen f;
	struct file_list files = { 0 };
	struct timespec frozen_at;
	struct copy_job copy = { 0 };
	char what[128], failed_cmd[256] = "";
	const char *outcome;
	JET_ERR err;
	int rc, status;

	rc = parse_freeze_opts(cmd, argc, argv, true, &o);
	if (rc || o.help)
		goto out;
	if (o.copy_to && optind < argc) {
		rc = cli_usage_error(cmd, "--copy-to runs no command (got '%s'): run it after "
				     "the snapshot, on the copy", argv[optind]);
		goto out;
	}
	if (!o.copy_to && optind >= argc) {
		rc = cli_usage_error(cmd, "no command to run while frozen");
		goto out;
	}
	if (o.copy_to && (rc = cli_copy_prepare(cmd, o.copy_to, &copy)))
		goto out;
	rc = freeze_session(cmd, &o, &f);
	if (rc)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &frozen_at);
	rc = collect_files(cmd, &f, &files);
	if (!rc)
		rc = export_snapshot(cmd, f.id, &files);
	if (rc) {
		/* Without the list, CMD could not know what to copy. */
		JetOSSnapshotAbort(f.id, 0);
		goto out_info;
	}
	if (o.verbose)
		print_files(stderr, "jetsnap snapshot: frozen ", &files);
	if (o.copy_to)
		status = cli_copy_run(cmd, &copy, files.paths, files.n);
	else
		status = run_command(cmd, argv + optind, what, sizeof(what));
	if (status == 0) {
		rc = thaw_session(cmd, f.id);
		outcome = rc ? "thawed, but is not valid" : "thawed";
	} else {
		rc = status;
		err = cli_drain_with_progress(JetOSSnapshotAbort, f.id);
		if (err)
			cli_jet_failure(cmd, "JetOSSnapshotAbort", err);
		outcome = "aborted";
	}
	if (status && o.copy_to)
		snprintf(failed_cmd, sizeof(failed_cmd), "the copy to '%s' failed; ", copy.dir);
	else if (status)
		snprintf(failed_cmd, sizeof(failed_cmd), "'%s' %s; ", argv[optind], what);
	fprintf(stderr, "jetsnap snapshot: %ssnapshot %" PRIuPTR " %s after %lld ms frozen, "
		"%zu file%s\n", failed_cmd, f.id, outcome, elapsed_ms(&frozen_at), files.n,
		files.n == 1 ? "" : "s");
	/* Before the paths it prints are freed; a copy failed or invalid goes. */
	if (o.copy_to)
		cli_copy_finish(cmd, &copy, rc == CLI_OK);
out_info:
	JetFreeBuffer((char *)f.info);
out:
	if (o.copy_to)
		cli_copy_finish(cmd, &copy, false);
	free(files.paths);
	free(o.names);
	return rc;
}
