#!/bin/sh
# uring_refused.sh — a process with an io_uring beside a held file is
# refused a freeze, with the reason (tests/uring_refused.c).
set -u
. "${JETSNAP_SRCDIR:?run this test through make check}/tests/shimtest_lib.sh"
shimtest_init uring_refused

under_shim "$JETSNAP_BUILDDIR/tests/uring_refused" "$work/held.dat"
case $? in
0) exit 0 ;;
77) shimtest_skip "this kernel gives no io_uring (see above)" ;;
*) shimtest_fail "the io_uring refusal is not as SPEC says (see above)" ;;
esac
