# tests: shim — shim-level tests run against the real preload library
# (owner: shim tests).  The programs freeze themselves through libjetsnap
# (tests/selffreeze.h); the scripts run them under $JETSNAP_SHIM.
#   overlay_prop.sh     random ops vs an in-memory model while frozen
#   strace_tripwire.sh  no held write reaches the kernel while frozen
#   mt_determinism.sh   threads + freezes give byte-identical files
#   nm_audit.sh         exports == shim/funcs.h, libc counterparts wrapped
#   errno_ebadf         error semantics and errno under a freeze (TAP)
shim_test_ldadd = libjetsnap.la

check_PROGRAMS += tests/overlay_prop tests/overlay_prop_fortify tests/tripwire_target \
	tests/mt_writer tests/errno_ebadf
tests_overlay_prop_SOURCES = tests/overlay_prop.c tests/selffreeze.h
tests_overlay_prop_LDADD = $(shim_test_ldadd)
tests_overlay_prop_LDFLAGS = -no-install
# The same test built the way distributions build programs: reads become
# __read_chk/__pread_chk, which the shim must wrap too.
tests_overlay_prop_fortify_SOURCES = $(tests_overlay_prop_SOURCES)
tests_overlay_prop_fortify_CFLAGS = $(AM_CFLAGS) -O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2
tests_overlay_prop_fortify_LDADD = $(shim_test_ldadd)
tests_overlay_prop_fortify_LDFLAGS = -no-install
tests_tripwire_target_SOURCES = tests/tripwire_target.c tests/selffreeze.h
tests_tripwire_target_LDADD = $(shim_test_ldadd)
tests_tripwire_target_LDFLAGS = -no-install
tests_mt_writer_SOURCES = tests/mt_writer.c tests/stress.c tests/stress.h tests/selffreeze.h
tests_mt_writer_LDADD = $(shim_test_ldadd) $(DL_PTHREAD_LIBS)
tests_mt_writer_LDFLAGS = -no-install
tests_errno_ebadf_SOURCES = tests/errno_ebadf.c tests/selffreeze.h tests/tap.h
tests_errno_ebadf_LDADD = $(shim_test_ldadd)
tests_errno_ebadf_LDFLAGS = -no-install

shim_test_scripts = tests/overlay_prop.sh tests/strace_tripwire.sh \
	tests/mt_determinism.sh tests/nm_audit.sh
TESTS += $(shim_test_scripts) tests/errno_ebadf
dist_check_SCRIPTS += $(shim_test_scripts)
EXTRA_DIST += tests/shimtest_lib.sh
