/*
 * cli.h — what the parts of the jetsnap tool share (not installed).
 *
 * cli.c holds main, the command table, help and the helpers below;
 * cli_exec.c, cli_session.c, cli_status.c, cli_recover.c and call.c hold
 * the commands.
 */
#ifndef JETSNAP_CLI_H
#define JETSNAP_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "jetsnap.h"

/* Exit codes of every command (SPEC "Command-line tool"). */
enum {
	CLI_OK = 0,		/* the operation succeeded */
	CLI_FAILED = 1,		/* it failed: JET_ERR name and number on stderr */
	CLI_USAGE = 2,		/* the command line was wrong */
};

struct cli_command {
	const char *name;
	int (*run)(const struct cli_command *cmd, int argc, char **argv);
	const char *synopsis;	/* what follows "jetsnap NAME" */
	const char *summary;	/* one line for "jetsnap --help" */
	const char *details;	/* the body of "jetsnap NAME --help" */
};

int cmd_exec(const struct cli_command *cmd, int argc, char **argv);
int cmd_shim_path(const struct cli_command *cmd, int argc, char **argv);
int cmd_freeze(const struct cli_command *cmd, int argc, char **argv);
int cmd_thaw(const struct cli_command *cmd, int argc, char **argv);
int cmd_abort(const struct cli_command *cmd, int argc, char **argv);
int cmd_end(const struct cli_command *cmd, int argc, char **argv);
int cmd_snapshot(const struct cli_command *cmd, int argc, char **argv);
int cmd_list(const struct cli_command *cmd, int argc, char **argv);
int cmd_status(const struct cli_command *cmd, int argc, char **argv);
int cmd_call(const struct cli_command *cmd, int argc, char **argv);
int cmd_recover(const struct cli_command *cmd, int argc, char **argv);

/* "jetsnap NAME --help": the synopsis and details on stdout; returns CLI_OK. */
int cli_help(const struct cli_command *cmd);

/* Prints "jetsnap NAME: MESSAGE; see 'jetsnap NAME --help'"; returns CLI_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Turns getopt_long's '?' or ':' (for argv[optind - 1]) into a usage error. */
int cli_bad_option(const struct cli_command *cmd, int c, char **argv);

/*
 * Prints "jetsnap NAME: FN failed: JET_errX (-N): reason; hint" and returns
 * CLI_FAILED.  Call it right after the failing call: the reason is the
 * thread's, and the next API call replaces it.
 */
int cli_jet_failure(const struct cli_command *cmd, const char *fn, JET_ERR err);

/* Prints "jetsnap NAME: MESSAGE" on stderr; returns CLI_FAILED. */
int cli_fail(const struct cli_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "JET_errOSSnapshotTimeOut", or "unknown JET_ERR" for a code the library does not name. */
const char *cli_err_name(JET_ERR err);

/* Parses a snapshot id (decimal or 0x hex); a usage error if it is not one. */
int cli_parse_snap_id(const struct cli_command *cmd, const char *text, JET_OSSNAPID *id);

/* Parses a non-negative decimal number of at most max; a usage error otherwise. */
int cli_parse_count(const struct cli_command *cmd, const char *what, const char *text,
		    unsigned long long max, unsigned long long *out);

/*
 * The handles of the running instances named by names[0..n) (an instance
 * name, or the pid of its root process), without duplicates, in *handles
 * (free it).  A name that matches no instance fails with a message.
 */
int cli_resolve_instances(const struct cli_command *cmd, char *const *names, size_t n,
			  JET_INSTANCE **handles, size_t *nhandles);

/*
 * snapshot --copy-to DIR (cli_copy.c).  prepare checks DIR (created if
 * missing, else it must be empty) before the freeze; run copies the frozen
 * files into DIR, keeping their layout under their deepest common
 * directory; finish, after the thaw, reports and syncs the copy (keep) or
 * removes it.
 */
enum copy_how { COPY_REFLINK, COPY_RANGE, COPY_READ_WRITE, COPY_NHOW };

struct copy_result {
	const char *src;
	char *dst;
	uint64_t bytes;		/* the file's size */
	enum copy_how how;
};

struct copy_job {
	char *dir;		/* DIR, resolved */
	bool created;		/* made by prepare: removed with a copy not kept */
	struct copy_result *results;
	size_t n;		/* files copied, or begun */
};

int cli_copy_prepare(const struct cli_command *cmd, const char *dir, struct copy_job *job);
int cli_copy_run(const struct cli_command *cmd, struct copy_job *job,
		 const char *const *paths, size_t n);
void cli_copy_finish(const struct cli_command *cmd, struct copy_job *job, bool keep);

/*
 * Calls JetOSSnapshotThaw or JetOSSnapshotAbort for id; when stderr is a
 * terminal and the drain takes over a second, shows "draining: X of Y
 * bytes" meanwhile (cli_progress.c).
 */
JET_ERR cli_drain_with_progress(JET_ERR (*call)(JET_OSSNAPID, JET_GRBIT), JET_OSSNAPID id);

#endif
