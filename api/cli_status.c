/*
 * cli_status.c — jetsnap list and jetsnap status: what the instances and
 * a session look like, as an aligned table or as JSON.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

/* One instance's status as JSON members, without the braces. */
static void json_status_members(FILE *out, const JETSNAP_INSTANCE_STATUS *s)
{
	fputs("\"name\":", out);
	json_string(out, s->szInstanceName);
	fprintf(out, ",\"pid\":%" PRIuPTR ",\"state\":", s->hInstanceId);
	json_string(out, s->szState);
	fprintf(out, ",\"snapshot\":%" PRIuPTR ",\"held_bytes\":%" PRIu64
		",\"held_writes\":%" PRIu64 ",\"drained_writes\":%" PRIu64
		",\"frozen_us\":%" PRIu64 ",\"files\":%" PRIu64,
		s->snapId, s->cbHeld, s->cHeldWrites, s->cDrainedWrites, s->usFrozenFor, s->cFiles);
	/* While frozen or draining, the oldest held write is as old as the freeze. */
	fprintf(out, ",\"journal_bytes\":%" PRIu64 ",\"drained_bytes\":%" PRIu64
		",\"oldest_held_us\":%" PRIu64, s->cbJournal, s->cbDrained,
		strcmp(s->szState, "running") && s->cbHeld ? s->usFrozenFor : (uint64_t)0);
	fprintf(out, ",\"process_count\":%" PRIu32 ",\"processes\":[", s->cProcesses);
	for (uint32_t i = 0; i < s->cProcesses && i < 64; i++)
		fprintf(out, "%s%" PRIu32, i ? "," : "", s->rgProcessIds[i]);
	fputs("],\"last_refusal\":", out);
	json_string(out, s->szLastRefusal);
}

static const char *const table_head[] = { "NAME", "PID", "STATE", "SNAPSHOT", "HELD", "JOURNAL", "FILES", "PROCS" };
#define NCOLUMNS (sizeof(table_head) / sizeof(table_head[0]))

struct row {
	/* Wide enough for a whole szInstanceName and its NUL. */
	char cell[NCOLUMNS][sizeof(((JETSNAP_INSTANCE_STATUS *)0)->szInstanceName) + 1];
};

static void fill_row(struct row *r, const JETSNAP_INSTANCE_STATUS *s)
{
	snprintf(r->cell[0], sizeof(r->cell[0]), "%.*s", (int)sizeof(s->szInstanceName),
		 s->szInstanceName);
	snprintf(r->cell[1], sizeof(r->cell[1]), "%" PRIuPTR, s->hInstanceId);
	snprintf(r->cell[2], sizeof(r->cell[2]), "%.*s", (int)sizeof(s->szState), s->szState);
	snprintf(r->cell[3], sizeof(r->cell[3]), "%" PRIuPTR, s->snapId);
	snprintf(r->cell[4], sizeof(r->cell[4]), "%" PRIu64, s->cbHeld);
	snprintf(r->cell[5], sizeof(r->cell[5]), "%" PRIu64, s->cbJournal);
	snprintf(r->cell[6], sizeof(r->cell[6]), "%" PRIu64, s->cFiles);
	snprintf(r->cell[7], sizeof(r->cell[7]), "%" PRIu32, s->cProcesses);
}

/* The list table: name and state left-aligned, the numbers right-aligned. */
static int print_table(const struct cli_command *cmd, const JETSNAP_INSTANCE_STATUS *a,
		       unsigned long n)
{
	static const bool numeric[NCOLUMNS] = { false, true, false, true, true, true, true, true };
	struct row *rows = calloc(n + 1, sizeof(*rows));
	int width[NCOLUMNS] = { 0 };

	if (!rows)
		return cli_fail(cmd, "out of memory");
	for (size_t c = 0; c < NCOLUMNS; c++)
		snprintf(rows[0].cell[c], sizeof(rows[0].cell[c]), "%s", table_head[c]);
	for (unsigned long i = 0; i < n; i++)
		fill_row(&rows[i + 1], &a[i]);
	for (unsigned long i = 0; i <= n; i++)
		for (size_t c = 0; c < NCOLUMNS; c++)
			if ((int)strlen(rows[i].cell[c]) > width[c])
				width[c] = strlen(rows[i].cell[c]);
	for (unsigned long i = 0; i <= n; i++) {
		for (size_t c = 0; c < NCOLUMNS; c++) {
			bool last = c + 1 == NCOLUMNS;

			printf("%*s%s", numeric[c] ? width[c] : last ? 0 : -width[c],
			       rows[i].cell[c], last ? "\n" : "  ");
		}
	}
	/* A refusal's reason does not fit a column: one line each, below. */
	for (unsigned long i = 0; i < n; i++)
		if (a[i].szLastRefusal[0])
			printf("%s (pid %" PRIuPTR "): last freeze refused: %s\n", a[i].szInstanceName,
			       a[i].hInstanceId, a[i].szLastRefusal);
	free(rows);
	return CLI_OK;
}

static int list_instances(const struct cli_command *cmd, unsigned long *n,
			  JETSNAP_INSTANCE_STATUS **a)
{
	JET_ERR err = JetsnapListInstances(n, a);

	/* None running is an empty list here, not a failure. */
	if (err == JET_errNotInitialized) {
		*n = 0;
		*a = NULL;
		return CLI_OK;
	}
	return err ? cli_jet_failure(cmd, "JetsnapListInstances", err) : CLI_OK;
}

static int show_instances(const struct cli_command *cmd, bool json)
{
	JETSNAP_INSTANCE_STATUS *a;
	unsigned long n;
	int rc = list_instances(cmd, &n, &a);

	if (rc)
		return rc;
	if (json) {
		putchar('[');
		for (unsigned long i = 0; i < n; i++) {
			fputs(i ? ",{" : "{", stdout);
			json_status_members(stdout, &a[i]);
			putchar('}');
		}
		puts("]");
	} else {
		rc = print_table(cmd, a, n);
	}
	JetFreeBuffer((char *)a);
	return rc;
}

/* Parses "[--json] [ID]"; *id_text is NULL when no ID is allowed or given. */
static int parse_show_opts(const struct cli_command *cmd, int argc, char **argv, bool allow_id,
			   bool *json, bool *help, const char **id_text)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	*json = *help = false;
	*id_text = NULL;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			*json = true;
			break;
		case 'h':
			*help = true;
			return cli_help(cmd);
		default:
			return cli_bad_option(cmd, c, argv);
		}
	}
	if (allow_id && optind < argc)
		*id_text = argv[optind++];
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return CLI_OK;
}

int cmd_list(const struct cli_command *cmd, int argc, char **argv)
{
	const char *id_text;
	bool json, help;
	int rc = parse_show_opts(cmd, argc, argv, false, &json, &help, &id_text);

	return rc || help ? rc : show_instances(cmd, json);
}

static const JETSNAP_INSTANCE_STATUS *find_status(const JETSNAP_INSTANCE_STATUS *a,
						  unsigned long n, JET_INSTANCE id)
{
	for (unsigned long i = 0; i < n; i++)
		if (a[i].hInstanceId == id)
			return &a[i];
	return NULL;
}

/*
 * The API has no call that returns a session's state, so it is read off
 * its instances: a frozen session has every instance frozen; one with none
 * enrolled is empty (as after a timeout, or before PrepareInstance).
 * "not frozen" covers prepared and thawed, which the shims cannot tell apart.
 */
static const char *session_state(const JET_INSTANCE_INFO *info, unsigned long ninfo,
				 const JETSNAP_INSTANCE_STATUS *a, unsigned long n)
{
	unsigned long frozen = 0, draining = 0;

	if (!ninfo)
		return "empty";
	for (unsigned long i = 0; i < ninfo; i++) {
		const JETSNAP_INSTANCE_STATUS *s = find_status(a, n, info[i].hInstanceId);

		if (s && !strcmp(s->szState, "frozen"))
			frozen++;
		else if (s && !strcmp(s->szState, "draining"))
			draining++;
	}
	if (draining)
		return "draining";
	if (frozen == ninfo)
		return "frozen";
	return frozen ? "partly frozen" : "not frozen";
}

static void print_session_json(JET_OSSNAPID id, const char *state, const JET_INSTANCE_INFO *info,
			       unsigned long ninfo, const JETSNAP_INSTANCE_STATUS *a,
			       unsigned long n)
{
	printf("{\"snapshot\":%" PRIuPTR ",\"state\":", id);
	json_string(stdout, state);
	fputs(",\"instances\":[", stdout);
	for (unsigned long i = 0; i < ninfo; i++) {
		const JETSNAP_INSTANCE_STATUS *s = find_status(a, n, info[i].hInstanceId);

		fputs(i ? ",{" : "{", stdout);
		if (s) {
			json_status_members(stdout, s);
		} else {
			/* Enrolled, but its process is gone. */
			fputs("\"name\":", stdout);
			json_string(stdout, info[i].szInstanceName);
			printf(",\"pid\":%" PRIuPTR ",\"state\":\"gone\"", info[i].hInstanceId);
		}
		fputs(",\"paths\":[", stdout);
		for (JET_API_PTR j = 0; j < info[i].cDatabases; j++) {
			if (j)
				putchar(',');
			json_string(stdout, info[i].szDatabaseFileName[j]);
		}
		fputs("]}", stdout);
	}
	puts("]}");
}

static void print_session_text(JET_OSSNAPID id, const char *state, const JET_INSTANCE_INFO *info,
			       unsigned long ninfo, const JETSNAP_INSTANCE_STATUS *a,
			       unsigned long n)
{
	printf("snapshot %" PRIuPTR ": %s, %lu instance%s%s\n", id, state, ninfo,
	       ninfo == 1 ? "" : "s",
	       ninfo ? "" : " (its freeze expired, or no instance was enrolled yet)");
	for (unsigned long i = 0; i < ninfo; i++) {
		const JETSNAP_INSTANCE_STATUS *s = find_status(a, n, info[i].hInstanceId);

		printf("  %s (pid %" PRIuPTR "): ", info[i].szInstanceName ? info[i].szInstanceName : "",
		       info[i].hInstanceId);
		if (s)
			printf("%s, %" PRIu64 " bytes held in %" PRIu64 " writes\n", s->szState,
			       s->cbHeld, s->cHeldWrites);
		else
			puts("gone");
		if (s && s->szLastRefusal[0])
			printf("    last freeze refused: %s\n", s->szLastRefusal);
		for (JET_API_PTR j = 0; j < info[i].cDatabases; j++)
			printf("    %s\n", info[i].szDatabaseFileName[j]);
	}
}

static int show_session(const struct cli_command *cmd, JET_OSSNAPID id, bool json)
{
	JET_INSTANCE_INFO *info = NULL;
	JETSNAP_INSTANCE_STATUS *a = NULL;
	unsigned long ninfo = 0, n = 0;
	const char *state;
	JET_ERR err;
	int rc;

	err = JetOSSnapshotGetFreezeInfo(id, &ninfo, &info, 0);
	if (err)
		return cli_jet_failure(cmd, "JetOSSnapshotGetFreezeInfo", err);
	rc = list_instances(cmd, &n, &a);
	if (rc)
		goto out;
	state = session_state(info, ninfo, a, n);
	if (json)
		print_session_json(id, state, info, ninfo, a, n);
	else
		print_session_text(id, state, info, ninfo, a, n);
out:
	JetFreeBuffer((char *)a);
	JetFreeBuffer((char *)info);
	return rc;
}

int cmd_status(const struct cli_command *cmd, int argc, char **argv)
{
	const char *id_text;
	JET_OSSNAPID id;
	bool json, help;
	int rc = parse_show_opts(cmd, argc, argv, true, &json, &help, &id_text);

	if (rc || help)
		return rc;
	if (!id_text)
		return show_instances(cmd, json);
	rc = cli_parse_snap_id(cmd, id_text, &id);
	return rc ? rc : show_session(cmd, id, json);
}
