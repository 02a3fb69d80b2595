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
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
	EXIT_SQL = 1,
	EXIT_USAGE = 2,
};

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

static volatile sig_atomic_t stop_requested;
static PGconn *conn;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(void)
{
	fputs("usage: pg_client CONNINFO --ack FILE [--table NAME] [--rows N]\n", stderr);
	exit(EXIT_USAGE);
}

/* Every error is one line on stderr, then the exit code that classifies it. */
static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("pg_client: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

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

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One line per commit in one write(2): a reader never sees half a line. */
static void ack(int fd, long long id)
{
	char line[64];
	int len = snprintf(line, sizeof(line), "%lld %llu\n", id,
			   (unsigned long long)monotonic_ns());
	ssize_t n;

	do
		n = write(fd, line, len);
	while (n < 0 && errno == EINTR);
	if (n != len)
		die(EXIT_SQL, "cannot append to the ack file: %s", n < 0 ? strerror(errno) : "short write");
}

static void install_stop_handlers(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

int main(int argc, char **argv)
{
	const char *conninfo = NULL, *ack_path = NULL, *table = "jetsnap_ids";
	long long rows = 0, last, count;
	char sql[256];
	PGresult *res;
	int ack_fd;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (a[0] != '-') {
			if (conninfo)
				usage();
			conninfo = a;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--ack")) {
			ack_path = v;
		} else if (!strcmp(a, "--table")) {
			table = v;
		} else if (!strcmp(a, "--rows")) {
			char *end;

			errno = 0;
			rows = strtoll(v, &end, 10);
			if (errno || *end || end == v || rows < 0)
				die(EXIT_USAGE, "--rows wants a non-negative integer, not '%s'", v);
		} else {
			usage();
		}
	}
	if (!conninfo || !ack_path)
		usage();
	if (!plain_identifier(table))
		die(EXIT_USAGE, "--table wants a lower-case identifier, not '%s'", table);

	install_stop_handlers();
	load_libpq();
	ack_fd = open(ack_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (ack_fd < 0)
		die(EXIT_SQL, "cannot open the ack file %s: %s", ack_path, strerror(errno));
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
	for (long long n = 0; !stop_requested && (!rows || n < rows); n++) {
		snprintf(sql, sizeof(sql), "INSERT INTO %s (id) VALUES (%lld)", table, last + 1);
		pq.clear(run(sql, PGRES_COMMAND_OK));
		ack(ack_fd, ++last);
	}
	pq.finish(conn);
	printf("committed %lld\n", last);
	return fflush(stdout) ? EXIT_SQL : 0;
}
