# tests: tree — one instance per process tree (issue 4, items 1 and 7).
#   tree_stress.sh  threads + forked writers across freezes, byte-identical files
#   tree_join.sh    exec, posix_spawn, system() joiners; a joiner starts frozen;
#                   a process that drops the shim leaves; a child exits while frozen
check_PROGRAMS += tests/tree_stress tests/tree_writer tests/tree_spawn
tests_tree_stress_SOURCES = tests/tree_stress.c tests/stress.c tests/stress.h tests/selffreeze.h
tests_tree_stress_LDADD = libjetsnap.la $(DL_PTHREAD_LIBS)
tests_tree_stress_LDFLAGS = -no-install
# Real ELF files, not libtool wrappers: they run under LD_PRELOAD.
tests_tree_writer_SOURCES = tests/tree_writer.c
tests_tree_writer_LDFLAGS = -no-install
tests_tree_spawn_SOURCES = tests/tree_spawn.c
tests_tree_spawn_LDADD = $(DL_PTHREAD_LIBS)
tests_tree_spawn_LDFLAGS = -no-install

tree_test_scripts = tests/tree_stress.sh tests/tree_join.sh
TESTS += $(tree_test_scripts)
dist_check_SCRIPTS += $(tree_test_scripts)
