# tests: api — the control library against real targets under the shim
check_PROGRAMS += tests/test_api tests/idle_target
TESTS += tests/test_api
tests_test_api_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_test_api_LDADD = libjetsnap.la $(CRITERION_LIBS)
tests_test_api_LDFLAGS = -no-install
# Run under the shim: a real ELF, never a libtool wrapper script.
tests_idle_target_LDFLAGS = -no-install
