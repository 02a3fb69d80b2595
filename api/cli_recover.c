/*
 * cli_recover.c — jetsnap recover: replay the hold journals that dead
 * instances left in the state directory.
 *
 * This build keeps no hold journal yet (docs/DESIGN.md: fsync of held data
 * waits for the thaw, so nothing acknowledged as durable lives only in
 * memory).  There is thus never anything to replay, and recover says so and
 * succeeds, so that boot scripts can already call it.  When the journal
 * lands, its replay belongs here (through the control library).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cmd_recover(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *dir = getenv("JETSNAP_STATE_DIR");
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
	fprintf(stderr, "jetsnap recover: nothing to replay%s%s: this build keeps no hold "
		"journal (fsync of held data waits for the thaw)\n", dir ? " in " : "",
		dir ? dir : "");
	return CLI_OK;
}
