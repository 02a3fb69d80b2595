#!/bin/sh
# memory_bound.sh — held memory is bounded by JETSNAP_MAX_PENDING, and
# writers wait only when JETSNAP_MAX_JOURNAL is full (tests/memory_bound.c).
set -u
. "${JETSNAP_SRCDIR:?run this test through make check}/tests/shimtest_lib.sh"
shimtest_init memory_bound

bin=$JETSNAP_BUILDDIR/tests/memory_bound
mkdir -p "$work/state" "$work/rss" "$work/journal"
export JETSNAP_STATE_DIR="$work/state"
JETSNAP_MAX_PENDING=16M under_shim "$bin" rss "$work/rss" 16 ||
	shimtest_fail "held memory was not bounded (see above)"
JETSNAP_MAX_JOURNAL=8M under_shim "$bin" journal "$work/journal" 8 ||
	shimtest_fail "the journal bound did not hold (see above)"
exit 0
