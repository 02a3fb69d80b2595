/*
 * workload.h — what the database writers tests/sqlite_workload and
 * tests/pg_client share (tests/workload.c): one-line errors with an exit
 * code that classifies them, a stop flag set by SIGTERM/SIGINT, their
 * command line (one positional argument and options that each take a
 * value) and the ack file, one "id monotonic_ns" line per commit.
 */
#ifndef JETSNAP_TESTS_WORKLOAD_H
#define JETSNAP_TESTS_WORKLOAD_H

#include <signal.h>
#include <stdint.h>

enum {
	EXIT_SQL = 1,		/* a database or I/O error */
	EXIT_USAGE = 2,
};

/* Set by the program: its name for messages, and its usage text. */
extern const char *wl_prog, *wl_usage;

/* Set by SIGTERM and SIGINT once wl_install_stop_handlers() ran: finish
 * the current commit and stop. */
extern volatile sig_atomic_t wl_stop_requested;
void wl_install_stop_handlers(void);

/* "PROG: MESSAGE" on stderr, one line, and exit(code). */
void __attribute__((noreturn, format(printf, 2, 3))) die(int code, const char *fmt, ...);
/* wl_usage on stderr, exit 2. */
void __attribute__((noreturn)) usage(void);

/*
 * The next option of argv (from *i, which it advances), with its value in
 * *val; NULL at the end.  The one positional argument goes to *positional;
 * a second one, or an option without a value, is a usage error.
 */
const char *wl_next_option(int argc, char **argv, int *i, const char **positional,
			   const char **val);
/* A non-negative integer option value, or a usage error. */
long long wl_count(const char *opt, const char *s);

uint64_t monotonic_ns(void);
/* Open (append, create) the ack file, or die. */
int wl_open_ack(const char *path);
/* One line per commit in one write(2): a reader never sees half a line. */
void wl_ack(int fd, long long id);

#endif
