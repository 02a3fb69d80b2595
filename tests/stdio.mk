# tests: stdio streams on held files (shim/stdio.c).  The program runs its
# workload without the shim, then re-executes itself under $JETSNAP_SHIM,
# unfrozen and frozen, and prints TAP.
check_PROGRAMS += tests/stdio_test
tests_stdio_test_SOURCES = tests/stdio_test.c tests/selffreeze.h tests/tap.h
tests_stdio_test_LDADD = libjetsnap.la $(DL_PTHREAD_LIBS)
tests_stdio_test_LDFLAGS = -no-install
TESTS += tests/stdio_test
