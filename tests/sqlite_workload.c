/*
 * sqlite_workload — a steady SQLite writer for the end-to-end test and the
 * demo.  It commits one row per transaction, with ids 1, 2, 3…, and after
 * each commit appends "id monotonic_ns\n" to an ack file, so a test can tell
 * which commits had returned to the application before a freeze began.
 *
 *   sqlite_workload DB --mode wal|delete|truncate|persist [--sync normal|full] [--ack FILE]
 *                   [--rows N | --seconds S] [--check-every N]
 *                   [--autocheckpoint PAGES]
 *
 * It checks itself while it runs, because reading its own held writes back
 * is what a frozen database does all the time:
 *   - every READBACK_EVERY commits, max(id) and count(*) must both equal the
 *     last committed id (exit 3 otherwise);
 *   - every --check-every commits (default 500, 0 = never) and at the end,
 *     PRAGMA integrity_check must say "ok" (exit 4 otherwise).
 * SIGTERM/SIGINT finish the current transaction; it then prints
 * "committed N" (N = the last committed id = the rows in the table) and
 * exits 0.  Exit 1: an SQLite or I/O error; 2: usage.
 *
 * The ack file must lie outside the held files (set JETSNAP_PATHS to the
 * database directory): a held ack file would not grow while frozen.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "workload.h"

#define READBACK_EVERY	16
#define PAYLOAD_MIN	256
#define PAYLOAD_SPREAD	256

enum {
	EXIT_READBACK = 3,
	EXIT_INTEGRITY = 4,
};

struct options {
	const char *db;
	const char *mode;	/* "wal", "delete", "truncate" or "persist" */
	const char *sync;	/* "normal" or "full" */
	const char *ack;
	long long rows;		/* 0: no limit */
	double seconds;		/* 0: no limit */
	long long check_every;
	long long autocheckpoint;	/* -1: SQLite's default */
};

static sqlite3 *db;
static sqlite3_stmt *readback_stmt;	/* kept prepared: it runs every few commits */

static void die_sql(const char *what)
{
	die(EXIT_SQL, "%s failed: %s (%s)", what, sqlite3_errmsg(db),
	    sqlite3_errstr(sqlite3_extended_errcode(db)));
}

static void parse_options(int argc, char **argv, struct options *o)
{
	const char *a, *v;
	int i = 1;

	*o = (struct options){ .sync = "full", .check_every = 500, .autocheckpoint = -1 };
	while ((a = wl_next_option(argc, argv, &i, &o->db, &v))) {
		if (!strcmp(a, "--mode"))
			o->mode = v;
		else if (!strcmp(a, "--sync"))
			o->sync = v;
		else if (!strcmp(a, "--ack"))
			o->ack = v;
		else if (!strcmp(a, "--rows"))
			o->rows = wl_count(a, v);
		else if (!strcmp(a, "--seconds")) {
			char *end;

			o->seconds = strtod(v, &end);
			if (*end || end == v || o->seconds < 0)
				die(EXIT_USAGE, "--seconds wants a number, not '%s'", v);
		} else if (!strcmp(a, "--check-every"))
			o->check_every = wl_count(a, v);
		else if (!strcmp(a, "--autocheckpoint"))
			o->autocheckpoint = wl_count(a, v);
		else
			usage();
	}
	if (!o->db || !o->mode)
		usage();
	if (strcmp(o->mode, "wal") && strcmp(o->mode, "delete") && strcmp(o->mode, "truncate") &&
	    strcmp(o->mode, "persist"))
		die(EXIT_USAGE, "--mode is wal or delete, not '%s'", o->mode);
	if (strcmp(o->sync, "normal") && strcmp(o->sync, "full"))
		die(EXIT_USAGE, "--sync is normal or full, not '%s'", o->sync);
	if (o->rows && o->seconds)
		die(EXIT_USAGE, "give --rows or --seconds, not both");
}

/* Deterministic bytes from the id, so two runs write identical files. */
static int fill_payload(long long id, unsigned char *buf)
{
	uint64_t x = (uint64_t)id * 0x9e3779b97f4a7c15u + 1;
	int len = PAYLOAD_MIN + (int)(id % PAYLOAD_SPREAD);

	for (int i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
	return len;
}

static void exec_sql(const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		die(EXIT_SQL, "%s failed: %s", sql, msg ? msg : sqlite3_errmsg(db));
}

static sqlite3_stmt *prepare(const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die_sql(sql);
	return st;
}

/* Set a journal mode and make sure SQLite took it (WAL can be refused). */
static void set_journal_mode(const char *mode)
{
	char sql[64];
	sqlite3_stmt *st;
	const char *got;

	snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s", mode);
	st = prepare(sql);
	if (sqlite3_step(st) != SQLITE_ROW)
		die_sql(sql);
	got = (const char *)sqlite3_column_text(st, 0);
	if (!got || strcasecmp(got, mode))
		die(EXIT_SQL, "%s: SQLite kept journal_mode=%s", sql, got ? got : "?");
	sqlite3_finalize(st);
}

static void read_max_and_count(long long *max_id, long long *count)
{
	if (!readback_stmt)
		readback_stmt = prepare("SELECT coalesce(max(id), 0), count(*) FROM t");
	if (sqlite3_step(readback_stmt) != SQLITE_ROW)
		die_sql("SELECT max(id), count(*)");
	*max_id = sqlite3_column_int64(readback_stmt, 0);
	*count = sqlite3_column_int64(readback_stmt, 1);
	sqlite3_reset(readback_stmt);
}

/* Reads of our own rows must see every commit, frozen or not. */
static void verify_readback(long long last)
{
	long long max_id, count;

	read_max_and_count(&max_id, &count);
	if (max_id != last || count != last)
		die(EXIT_READBACK, "read back max(id)=%lld count=%lld after committing id %lld",
		    max_id, count, last);
}

static void verify_integrity(long long last)
{
	sqlite3_stmt *st = prepare("PRAGMA integrity_check");
	const char *res;

	if (sqlite3_step(st) != SQLITE_ROW)
		die_sql("PRAGMA integrity_check");
	res = (const char *)sqlite3_column_text(st, 0);
	if (!res || strcmp(res, "ok"))
		die(EXIT_INTEGRITY, "integrity_check after id %lld: %s", last, res ? res : "?");
	sqlite3_finalize(st);
}

static void commit_row(sqlite3_stmt *ins, long long id)
{
	unsigned char payload[PAYLOAD_MIN + PAYLOAD_SPREAD];
	int len = fill_payload(id, payload);

	exec_sql("BEGIN IMMEDIATE");
	sqlite3_bind_int64(ins, 1, id);
	sqlite3_bind_blob(ins, 2, payload, len, SQLITE_STATIC);
	if (sqlite3_step(ins) != SQLITE_DONE)
		die_sql("INSERT");
	sqlite3_reset(ins);
	exec_sql("COMMIT");
}

int main(int argc, char **argv)
{
	struct options o;
	sqlite3_stmt *ins;
	long long last, count;
	uint64_t deadline = 0;
	int ack_fd = -1;
	char sql[64];

	wl_prog = "sqlite_workload";
	wl_usage = "usage: sqlite_workload DB --mode wal|delete|truncate|persist [--sync normal|full] [--ack FILE]\n"
		   "                       [--rows N | --seconds S] [--check-every N]\n"
		   "                       [--autocheckpoint PAGES]\n";
	parse_options(argc, argv, &o);
	wl_install_stop_handlers();

	if (o.ack)
		ack_fd = wl_open_ack(o.ack);
	if (sqlite3_open_v2(o.db, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		die(EXIT_SQL, "cannot open %s: %s", o.db, db ? sqlite3_errmsg(db) : "out of memory");
	sqlite3_busy_timeout(db, 10000);
	set_journal_mode(o.mode);
	snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s", o.sync);
	exec_sql(sql);
	if (o.autocheckpoint >= 0) {
		snprintf(sql, sizeof(sql), "PRAGMA wal_autocheckpoint=%lld", o.autocheckpoint);
		exec_sql(sql);
	}
	exec_sql("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, payload BLOB)");

	/* Continue an existing table, but only one that is an unbroken 1..N. */
	read_max_and_count(&last, &count);
	if (last != count)
		die(EXIT_READBACK, "%s holds %lld rows but max(id)=%lld: not written by this program",
		    o.db, count, last);

	ins = prepare("INSERT INTO t(id, payload) VALUES(?, ?)");
	if (o.seconds)
		deadline = monotonic_ns() + (uint64_t)(o.seconds * 1e9);
	for (long long n = 0; !wl_stop_requested; ) {
		if (o.rows && n >= o.rows)
			break;
		if (deadline && monotonic_ns() >= deadline)
			break;
		commit_row(ins, ++last);
		n++;
		if (ack_fd >= 0)
			wl_ack(ack_fd, last);
		if (n % READBACK_EVERY == 0)
			verify_readback(last);
		if (o.check_every && n % o.check_every == 0) {
			verify_integrity(last);
			/* The e2e test wants one of these inside the freeze. */
			printf("checked %lld\n", last);
			fflush(stdout);
		}
	}
	sqlite3_finalize(ins);
	verify_readback(last);
	verify_integrity(last);
	sqlite3_finalize(readback_stmt);
	if (sqlite3_close(db) != SQLITE_OK)
		die_sql("close");
	printf("committed %lld\n", last);
	return fflush(stdout) ? EXIT_SQL : 0;
}
