# tests: snapshot --copy-to — copies of a live instance's files (sparse,
# nested, modes, mtimes), refused destinations, reflinks on btrfs/XFS.
TESTS += tests/copy_to.sh
dist_check_SCRIPTS += tests/copy_to.sh
check_PROGRAMS += tests/copy_target
tests_copy_target_SOURCES = tests/copy_target.c
# A real ELF, not a libtool wrapper: it runs under LD_PRELOAD.
tests_copy_target_LDFLAGS = -no-install
