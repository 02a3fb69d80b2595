/*
 * cli_recover.c — jetsnap recover: replay the hold journals that dead
 * instances left in the state directory (shim/recover.c does the work; the
 * shim runs the same code whenever a process starts under it).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "recover.h"

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("jetsnap recover: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int cmd_recover(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *dir = NULL;
	int c;

	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			dir = optarg;
			break;
		case 'h':
			return cli_help(cmd);
		default:
			return cli_bad_option(cmd, c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	char state[512];
	int n;

	if (!dir || !*dir) {
		js_state_dir_from_env(state, sizeof(state));
		dir = state;
	}
	n = js_recover_dir(dir, say);
	if (n < 0)
		return cli_fail(cmd, "some journals in %s could not be replayed whole; they are kept "
			       "(free space or fix the files named above, then run jetsnap recover again)", dir);
	printf("%d journal%s replayed from %s\n", n, n == 1 ? "" : "s", dir);
	return CLI_OK;
}
