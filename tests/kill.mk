# tests: kill — real kill -9s while frozen, in the middle of a drain and of
# the thaw client, then crash recovery (issue 5 item 3), with the SQLite
# workload (tests/sqlite.mk) and with PostgreSQL (tests/pg_lib.sh and
# tests/pg_client from tests/pg.mk).  kill_drain reads the instance file's
# shared header (shim/instance.h) to kill in the middle of a drain.
check_PROGRAMS += tests/kill_drain
tests_kill_drain_SOURCES = tests/kill_drain.c
tests_kill_drain_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/shim
tests_kill_drain_LDFLAGS = -no-install

kill_test_scripts = tests/kill_recovery.sh tests/kill_recovery_pg.sh
TESTS += $(kill_test_scripts)
dist_check_SCRIPTS += $(kill_test_scripts)
EXTRA_DIST += tests/kill_lib.sh

# Journals of every version recovery knows replay; a newer one is kept.
check_PROGRAMS += tests/recover_compat
tests_recover_compat_SOURCES = tests/recover_compat.c
tests_recover_compat_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/shim
tests_recover_compat_LDFLAGS = -no-install
TESTS += tests/recover_compat.sh
dist_check_SCRIPTS += tests/recover_compat.sh
