/*
 * cli.c — the jetsnap command-line tool: main, the command table, help,
 * and the error and parsing helpers every command shares.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"

#define TIMEOUT_HELP \
	"  --timeout MS       the freeze expires (and the process resumes on its own)\n" \
	"                     after MS milliseconds; default 70000\n"

#define INSTANCE_HELP \
	"  --instance NAME    freeze only this instance (its JETSNAP_INSTANCE name, or\n" \
	"                     the pid of its root process); repeat for several.\n" \
	"                     Without it, every running instance that is in no other\n" \
	"                     snapshot is frozen.\n"

static const struct cli_command commands[] = {
	{ "exec", cmd_exec, "[--instance NAME] -- CMD [ARG]...",
	  "run CMD with the jetsnap shim preloaded",
	  "Runs CMD (searched in PATH) with the jetsnap shim prepended to LD_PRELOAD,\n"
	  "so that CMD and every process it starts form one instance that can be frozen.\n"
	  "\n"
	  "  --instance NAME    name the instance (sets JETSNAP_INSTANCE); the default\n"
	  "                     name is the program's name and pid\n"
	  "\n"
	  "The shim is JETSNAP_SHIM if set, else the one 'jetsnap shim-path' prints.\n"
	  "Exits with CMD's status; 127 if CMD was not found, 126 if it could not run.\n" },
	{ "shim-path", cmd_shim_path, "",
	  "print the absolute path of the preload library",
	  "Prints the absolute path of libjetsnap-shim.so: JETSNAP_SHIM if set, else\n"
	  "the one next to a jetsnap run from its build tree, else the installed one.\n"
	  "For use as LD_PRELOAD=$(jetsnap shim-path) CMD.\n" },
	{ "list", cmd_list, "[--json]",
	  "show the running instances",
	  "Shows every running instance of your user: name, pid, state (running,\n"
	  "frozen, draining), the snapshot it is enrolled in (0: none), held bytes\n"
	  "and held files.\n"
	  "\n"
	  "  --json             one JSON array of objects instead of the table\n" },
	{ "freeze", cmd_freeze, "[--instance NAME]... [--timeout MS]",
	  "prepare a snapshot and freeze instances",
	  "Prepares a snapshot session and freezes its instances: from now on nothing\n"
	  "they write reaches their files, so the files can be copied.  Prints the\n"
	  "snapshot id on the first line, then one frozen file a line.  End the freeze\n"
	  "with 'jetsnap thaw ID' once the copy is done (or 'jetsnap abort ID').\n"
	  "\n"
	  INSTANCE_HELP
	  TIMEOUT_HELP
	  "\n"
	  "Exits 0 only if every instance is frozen; otherwise nothing is frozen.\n" },
	{ "thaw", cmd_thaw, "ID",
	  "end a freeze: write the held data and resume",
	  "Thaws snapshot ID: the held writes drain to the files in their original\n"
	  "order and the instances resume.  Then ends the session.  Exits 0 only if\n"
	  "the snapshot is valid: after JET_errOSSnapshotTimeOut (the freeze expired\n"
	  "before the thaw) the copy is not a point-in-time image.\n" },
	{ "abort", cmd_abort, "ID",
	  "give up a snapshot: resume, and record it as failed",
	  "Aborts snapshot ID in any state: a frozen instance drains and resumes, and\n"
	  "the session ends as a failed snapshot.\n" },
	{ "end", cmd_end, "[--abort] ID",
	  "end a snapshot session",
	  "Ends snapshot ID (JetOSSnapshotEnd).  Legal when the session is prepared or\n"
	  "thawed; with --abort (JET_bitAbortSnapshot) in any state.\n" },
	{ "status", cmd_status, "[--json] [ID]",
	  "show a snapshot session, or the running instances",
	  "With ID: the state of snapshot ID (frozen, draining, not frozen, or empty\n"
	  "when no instance is enrolled, as after a timeout) and its instances with\n"
	  "their files.  Without ID: the same as 'jetsnap list'.\n"
	  "\n"
	  "  --json             machine-readable output\n" },
	{ "snapshot", cmd_snapshot, "[-v] [--instance NAME]... [--timeout MS] -- CMD [ARG]...\n"
	  "   or: jetsnap snapshot --copy-to DIR [--instance NAME]... [--timeout MS]",
	  "freeze, run CMD (say, a copy) or copy the files to DIR, then thaw",
	  "Freezes like 'jetsnap freeze', runs CMD, then thaws if CMD exited 0 and\n"
	  "aborts otherwise.  CMD gets JETSNAP_SNAPSHOT_ID (the snapshot id) and\n"
	  "JETSNAP_SNAPSHOT_FILES (the frozen files, one a line) in its environment.\n"
	  "Prints a one-line summary on stderr.\n"
	  "\n"
	  INSTANCE_HELP
	  TIMEOUT_HELP
	  "  -v, --verbose      print the frozen files on stderr before running CMD\n"
	  "  --copy-to DIR      instead of running a CMD (which is then refused), copy\n"
	  "                     the frozen files into DIR, keeping their layout below\n"
	  "                     their deepest common directory, their holes, modes and\n"
	  "                     mtimes: by reflink where the filesystem can (btrfs,\n"
	  "                     XFS: instant), else copy_file_range, else read/write.\n"
	  "                     DIR is created if missing; it must be empty and not\n"
	  "                     inside the directory of a frozen file.  Prints each\n"
	  "                     file and how it was copied, and the totals, on stdout;\n"
	  "                     syncs the copy after the thaw.  A failed copy aborts\n"
	  "                     the snapshot and is removed from DIR.\n"
	  "\n"
	  "Exits 0 only if CMD (or the copy) succeeded and the thaw found the snapshot\n"
	  "valid; with CMD's status if CMD failed; 1 if the freeze, the copy or the\n"
	  "thaw failed; 2 for a usage error (DIR not empty, or inside a frozen\n"
	  "file's directory).\n" },
	{ "call", cmd_call, "FUNCTION [ARG]...",
	  "call an API entry point by name with typed arguments",
	  NULL /* call.c prints its own, with the table of functions */ },
	{ "recover", cmd_recover, "[--state-dir DIR]",
	  "replay the hold journals left by dead instances",
	  "Replays, in order, the held writes that instances which died while frozen\n"
	  "or draining left in their journals (in DIR, default JETSNAP_STATE_DIR, else\n"
	  "$XDG_STATE_HOME/jetsnap or ~/.local/state/jetsnap), up to the first torn\n"
	  "record, then removes them.  Only journals whose every process is gone are\n"
	  "touched; replaying twice gives the same files.  Every process started under\n"
	  "the shim does the same before the application runs.\n" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_overview(FILE *out)
{
	fprintf(out, "Usage: jetsnap COMMAND [ARG]...\n"
		"Freeze the files of running processes for a consistent copy (ESE OS snapshots).\n"
		"\nCommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n'jetsnap COMMAND --help' describes a command.\n"
		"Exit status: 0 success, 1 the operation failed, 2 usage error.\n"
		"Environment: JETSNAP_RUNTIME_DIR (control sockets), JETSNAP_STATE_DIR (journals),\n"
		"JETSNAP_SHIM, JETSNAP_TIMEOUT_MS; the shim's variables are in jetsnap(1).\n");
}

int cli_help(const struct cli_command *cmd)
{
	printf("Usage: jetsnap %s%s%s\n%c%s.\n\n%s", cmd->name, *cmd->synopsis ? " " : "",
	       cmd->synopsis, toupper((unsigned char)cmd->summary[0]), cmd->summary + 1,
	       cmd->details);
	return CLI_OK;
}

static void vreport(const struct cli_command *cmd, const char *fmt, va_list ap)
{
	fprintf(stderr, "jetsnap%s%s: ", cmd ? " " : "", cmd ? cmd->name : "");
	vfprintf(stderr, fmt, ap);
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(cmd, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "; see 'jetsnap %s --help'\n", cmd->name);
	else
		fprintf(stderr, "; see 'jetsnap --help'\n");
	return CLI_USAGE;
}

int cli_fail(const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(cmd, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_FAILED;
}

int cli_bad_option(const struct cli_command *cmd, int c, char **argv)
{
	/* getopt_long leaves optind past the offending word. */
	const char *word = argv[optind - 1];

	if (c == ':')
		return cli_usage_error(cmd, "option '%s' needs a value", word);
	if (optopt && word[0] == '-' && word[1] != '-')
		return cli_usage_error(cmd, "unknown option '-%c'", optopt);
	return cli_usage_error(cmd, "unknown option '%s'", word);
}

const char *cli_err_name(JET_ERR err)
{
	const char *name = JetsnapErrorName(err);

	return name ? name : "unknown JET_ERR";
}

/*
 * What the user can do about an error.  The library's reason usually says
 * it better, so a hint only stands in for a missing reason; except after a
 * timeout, where the reason says what happened but not what to do.
 */
static const char *err_hint(JET_ERR err, bool have_reason)
{
	if (err == JET_errOSSnapshotTimeOut)
		return "a copy taken while frozen is not a valid image: take it again, "
		       "with a longer --timeout";
	if (have_reason)
		return NULL;
	switch (err) {
	case JET_errNotInitialized:
		return "no instance is running: start one with 'jetsnap exec -- CMD' "
		       "(with the same JETSNAP_RUNTIME_DIR)";
	case JET_errOSSnapshotInvalidSnapId:
		return "no such snapshot session: it ended, or the id is wrong";
	case JET_errOSSnapshotInvalidSequence:
		return "the session is not in a state that allows this; 'jetsnap status ID' shows it";
	case JET_errOSSnapshotNotAllowed:
		return "nothing was frozen";
	default:
		return NULL;
	}
}

int cli_jet_failure(const struct cli_command *cmd, const char *fn, JET_ERR err)
{
	const char *reason = JetsnapLastReason();
	bool have_reason = reason && *reason;
	const char *hint = err_hint(err, have_reason);

	fprintf(stderr, "jetsnap %s: %s failed: %s (%d)", cmd->name, fn, cli_err_name(err), err);
	if (have_reason)
		fprintf(stderr, ": %s", reason);
	if (hint)
		fprintf(stderr, "; %s", hint);
	fputc('\n', stderr);
	return CLI_FAILED;
}

static bool parse_ull(const char *text, int base, unsigned long long *out)
{
	char *end;

	if (!*text || *text == '-' || *text == '+' || *text == ' ')
		return false;
	errno = 0;
	*out = strtoull(text, &end, base);
	return !errno && !*end;
}

int cli_parse_snap_id(const struct cli_command *cmd, const char *text, JET_OSSNAPID *id)
{
	unsigned long long v;

	if (!parse_ull(text, 0, &v) || v > UINTPTR_MAX)
		return cli_usage_error(cmd, "'%s' is not a snapshot id (the number "
				       "'jetsnap freeze' printed)", text);
	*id = (JET_OSSNAPID)v;
	return CLI_OK;
}

int cli_parse_count(const struct cli_command *cmd, const char *what, const char *text,
		    unsigned long long max, unsigned long long *out)
{
	if (!parse_ull(text, 10, out) || *out > max)
		return cli_usage_error(cmd, "%s '%s' is not a number from 0 to %llu",
				       what, text, max);
	return CLI_OK;
}

static bool names_instance(const char *name, const JET_INSTANCE_INFO *info)
{
	unsigned long long pid;

	if (info->szInstanceName && !strcmp(info->szInstanceName, name))
		return true;
	return parse_ull(name, 10, &pid) && pid == info->hInstanceId;
}

static bool have_handle(const JET_INSTANCE *handles, size_t n, JET_INSTANCE h)
{
	for (size_t i = 0; i < n; i++)
		if (handles[i] == h)
			return true;
	return false;
}

int cli_resolve_instances(const struct cli_command *cmd, char *const *names, size_t n,
			  JET_INSTANCE **handles, size_t *nhandles)
{
	unsigned long ninfo = 0;
	JET_INSTANCE_INFO *info = NULL;
	JET_ERR err;
	int rc = CLI_OK;

	*handles = NULL;
	*nhandles = 0;
	err = JetGetInstanceInfo(&ninfo, &info);
	/* No instance at all is just "no match" for every name below. */
	if (err && err != JET_errNotInitialized)
		return cli_jet_failure(cmd, "JetGetInstanceInfo", err);
	*handles = calloc(ninfo ? ninfo : 1, sizeof(**handles));
	if (!*handles) {
		rc = cli_fail(cmd, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (unsigned long j = 0; j < ninfo; j++) {
			if (!names_instance(names[i], &info[j]))
				continue;
			found = true;
			if (!have_handle(*handles, *nhandles, info[j].hInstanceId))
				(*handles)[(*nhandles)++] = info[j].hInstanceId;
		}
		if (!found) {
			rc = cli_fail(cmd, "no running instance is named '%s'; 'jetsnap list' "
				      "shows the running ones", names[i]);
			goto out;
		}
	}
out:
	JetFreeBuffer((char *)info);
	if (rc) {
		free(*handles);
		*handles = NULL;
		*nhandles = 0;
	}
	return rc;
}

/* Is the LD_PRELOAD entry [p, p + len) the jetsnap shim? */
static bool is_shim_entry(const char *p, size_t len)
{
	static const char shim[] = "libjetsnap-shim.so";
	size_t n = sizeof(shim) - 1;

	return len >= n && !memcmp(p + len - n, shim, n) && (len == n || p[len - n - 1] == '/');
}

/*
 * The control commands must not run inside an instance.  Started by a
 * process under the shim (a database's backup hook, a shell from "jetsnap
 * exec"), jetsnap and snapshot's CMD would belong to the instance they
 * freeze, and their own writes, the copy included, would be held.  So drop
 * the shim from LD_PRELOAD and start again without it.
 */
static void leave_instance(char **argv)
{
	const char *preload = getenv("LD_PRELOAD");
	char *kept;
	size_t n = 0;

	if (!preload || !strstr(preload, "libjetsnap-shim.so"))
		return;
	kept = malloc(strlen(preload) + 1);
	if (!kept)
		return;
	for (const char *p = preload; *p;) {
		size_t len = strcspn(p, ": ");

		if (len && !is_shim_entry(p, len)) {
			if (n)
				kept[n++] = ':';
			memcpy(kept + n, p, len);
			n += len;
		}
		p += len;
		p += strspn(p, ": ");
	}
	kept[n] = '\0';
	if (n ? setenv("LD_PRELOAD", kept, 1) : unsetenv("LD_PRELOAD")) {
		free(kept);
		return;
	}
	free(kept);
	execv("/proc/self/exe", argv);
	/* Could not restart: run as we are, which is only a risk, not an error. */
}

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct cli_command *cmd;

	/* The library logs snapshot events (ESE ids 2001-2007) to syslog. */
	openlog("jetsnap", LOG_PID, LOG_USER);
	if (argc < 2)
		return cli_usage_error(NULL, "no command given");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		print_overview(stdout);
		return CLI_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("jetsnap %s\n", PACKAGE_VERSION);
		return CLI_OK;
	}
	if (!strcmp(argv[1], "help")) {
		if (argc < 3) {
			print_overview(stdout);
			return CLI_OK;
		}
		cmd = find_command(argv[2]);
		if (!cmd)
			return cli_usage_error(NULL, "unknown command '%s'", argv[2]);
		/* call's help is built from its function table: let it print it. */
		return cmd->details ? cli_help(cmd) : cmd->run(cmd, 2, (char *[]){ argv[2], "--help", NULL });
	}
	if (argv[1][0] == '-')
		return cli_usage_error(NULL, "unknown option '%s'", argv[1]);
	cmd = find_command(argv[1]);
	if (!cmd)
		return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
	/* exec and shim-path are about the shim: leave their environment alone. */
	if (cmd->run != cmd_exec && cmd->run != cmd_shim_path)
		leave_instance(argv);
	return cmd->run(cmd, argc - 1, argv + 1);
}
