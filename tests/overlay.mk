# tests: overlay - unit, property and scale tests of the read overlay.
check_PROGRAMS += tests/test_overlay
tests_test_overlay_SOURCES = tests/test_overlay.c shim/overlay.c
tests_test_overlay_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_test_overlay_LDADD = $(CRITERION_LIBS)
tests_test_overlay_LDFLAGS = -no-install
TESTS += tests/test_overlay
