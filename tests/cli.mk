# tests: cli — the jetsnap tool, driven as a user would, against real
# instances of tests/cli_target started with "jetsnap exec".
TESTS += tests/cli.sh tests/cli_call.sh
dist_check_SCRIPTS += tests/cli.sh tests/cli_call.sh
EXTRA_DIST += tests/cli_lib.sh
check_PROGRAMS += tests/cli_target
tests_cli_target_SOURCES = tests/cli_target.c
# A real ELF, not a libtool wrapper: it runs under LD_PRELOAD.
tests_cli_target_LDFLAGS = -no-install
