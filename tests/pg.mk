# PostgreSQL end-to-end test, and the client it shares with scripts/demo
# (owner: pg e2e).  The client loads libpq at run time (dlopen), so the
# build needs no PostgreSQL headers.  The test installs postgresql-15 and
# postgresql-client-15 when missing (as root), and skips if it cannot.
check_PROGRAMS += tests/pg_client
tests_pg_client_SOURCES = tests/pg_client.c tests/workload.c tests/workload.h
tests_pg_client_LDADD = $(DL_PTHREAD_LIBS)
tests_pg_client_LDFLAGS = -no-install

TESTS += tests/pg_e2e.sh
dist_check_SCRIPTS += tests/pg_e2e.sh
EXTRA_DIST += tests/pg_lib.sh
