/*
 * pg_client — a steady PostgreSQL writer for the end-to-end test and the
 * demo.  It commits one row per transaction (autocommit INSERTs) into its
 * own table, with ids 1, 2, 3…, and after each commit has returned appends
 * "id monotonic_ns\n" to an ack file, so a test can tell which commits had
 * been acknowledged before a freeze began and which after it.
 *
 *   pg_client CONNINFO --ack FILE [--table NAME] [--rows N]
 *
 * CONNINFO is a libpq connection string ("host=/sock port=5432 user=…").
 * The table is created if missing; an existing one is continued, but only
 * if it is an unbroken 1..N.  SIGTERM/SIGINT finish the current commit; it
 * then prints "committed N" (N = the last acknowledged id) and exits 0.
 * Exit 1: a connection or SQL error; 2: usage or libpq missing.
 *
 * libpq is loaded with dlopen: the test machine needs the PostgreSQL client
 * library to run the test anyway, but building jetsnap must not need its
 * headers (libpq-dev), and its C ABI for the few calls used here has been
 * stable since PostgreSQL 7.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

/* libpq-fe.h values (ConnStatusType, ExecStatusType). */
#define CONNECTION_OK		0
#define PGRES_COMMAND_OK	1
#define PGRES_TUPLES_OK		2

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

static struct {
	PGconn *(*connectdb)(const char *conninfo);
	int (*status)(const PGconn *conn);
	char *(*error_message)(const PGconn *conn);
	PGresult *(*exec)(PGconn *conn, const char *query);
	int (*result_status)(const PGresult *res);
	char *(*get_value)(const PGresult *res, int row, int col);
	int (*ntuples)(const PGresult *res);
	void (*clear)(PGresult *res);
	void (*finish)(PGconn *conn);
} pq;

static PGconn *conn;

/* libpq's messages end in a newline (sometimes several lines): keep one. */
static const char *one_line(char *msg)
{
	char *nl = msg ? strchr(msg, '\n') : NULL;

	if (nl)
		*nl = '\0';
	return msg && *msg ? msg : "no message from libpq";
}

static void *symbol(void *lib, const char *name)
{
	void *p = dlsym(lib, name);

	if (!p)
		die(EXIT_USAGE, "libpq has no %s: %s", name, dlerror());
	return p;
}

static void load_libpq(void)
{
	void *lib = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);

	if (!lib)
		die(EXIT_USAGE, "cannot load libpq.so.5 (%s): install it with 'apt-get install libpq5'",
		    dlerror());
	pq.connectdb = symbol(lib, "PQconnectdb");
	pq.status = symbol(lib, "PQstatus");
	pq.error_message = symbol(lib, "PQerrorMessage");
	pq.exec = symbol(lib, "PQexec");
	pq.result_status = symbol(lib, "PQresultStatus");
	pq.get_value = symbol(lib, "PQgetvalue");
	pq.ntuples = symbol(lib, "PQntuples");
	pq.clear = symbol(lib, "PQclear");
	pq.finish = symbol(lib, "PQfinish");
}

/* Runs one statement, which must give `want`; returns the result to clear. */
static PGresult *run(const char *sql, int want)
{
	PGresult *res = pq.exec(conn, sql);

	if (!res || pq.result_status(res) != want)
		die(EXIT_SQL, "%s failed: %s", sql, one_line(pq.error_message(conn)));
	return res;
}

/* A table name goes into SQL text unquoted: keep it to a plain identifier. */
static int plain_identifier(const char *s)
{
	if (!*s || strlen(s) > 63 || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	const char *conninfo = NULL, *ack_path = NULL, *table = "jetsnap_ids";
	long long rows = 0, last, count;
	char sql[256];
	PGresult *res;
	const char *a, *v;
	int ack_fd, i = 1;

	wl_prog = "pg_client";
	wl_usage = "usage: pg_client CONNINFO --ack FILE [--table NAME] [--rows N]\n";
	while ((a = wl_next_option(argc, argv, &i, &conninfo, &v))) {
		if (!strcmp(a, "--ack"))
			ack_path = v;
		else if (!strcmp(a, "--table"))
			table = v;
		else if (!strcmp(a, "--rows"))
			rows = wl_count(a, v);
		else
			usage();
	}
	if (!conninfo || !ack_path)
		usage();
	if (!plain_identifier(table))
		die(EXIT_USAGE, "--table wants a lower-case identifier, not '%s'", table);

	wl_install_stop_handlers();
	load_libpq();
	ack_fd = wl_open_ack(ack_path);
	conn = pq.connectdb(conninfo);
	if (!conn || pq.status(conn) != CONNECTION_OK)
		die(EXIT_SQL, "cannot connect to '%s': %s", conninfo,
		    conn ? one_line(pq.error_message(conn)) : "out of memory");

	snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS %s (id bigint PRIMARY KEY, "
		 "at timestamptz NOT NULL DEFAULT clock_timestamp())", table);
	pq.clear(run(sql, PGRES_COMMAND_OK));
	snprintf(sql, sizeof(sql), "SELECT coalesce(max(id), 0), count(*) FROM %s", table);
	res = run(sql, PGRES_TUPLES_OK);
	if (pq.ntuples(res) != 1)
		die(EXIT_SQL, "%s returned %d rows", sql, pq.ntuples(res));
	last = atoll(pq.get_value(res, 0, 0));
	count = atoll(pq.get_value(res, 0, 1));
	pq.clear(res);
	if (last != count)
		die(EXIT_SQL, "table %s holds %lld rows but max(id)=%lld: not written by this program",
		    table, count, last);

	/* Autocommit: each INSERT is its own transaction, acknowledged when
	 * PQexec returns (synchronous_commit decides what that promises). */
	for (long long n = 0; !wl_stop_requested && (!rows || n < rows); n++) {
		snprintf(sql, sizeof(sql), "INSERT INTO %s (id) VALUES (%lld)", table, last + 1);
		pq.clear(run(sql, PGRES_COMMAND_OK));
		wl_ack(ack_fd, ++last);
	}
	pq.finish(conn);
	printf("committed %lld\n", last);
	return fflush(stdout) ? EXIT_SQL : 0;
}
