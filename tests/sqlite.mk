# SQLite end-to-end test, and the workload it shares with scripts/demo
# (owner: sqlite e2e).  The workload links the system libsqlite3.
check_PROGRAMS += tests/sqlite_workload
tests_sqlite_workload_SOURCES = tests/sqlite_workload.c tests/workload.c tests/workload.h
tests_sqlite_workload_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
tests_sqlite_workload_LDADD = $(SQLITE_LIBS)
tests_sqlite_workload_LDFLAGS = -no-install

TESTS += tests/sqlite_e2e.sh
dist_check_SCRIPTS += tests/sqlite_e2e.sh
