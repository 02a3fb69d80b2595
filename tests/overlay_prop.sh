#!/bin/sh
# overlay_prop.sh — run the overlay property test (tests/overlay_prop.c):
# first without the shim and without a freeze, which checks the test's model
# against the kernel, then under the shim with freezes: plainly built, built
# with _FORTIFY_SOURCE (whose reads go through __read_chk/__pread_chk), and
# and briefly with the held file in the runtime directory's parent.
# --fork: forked children write too (the instance is the process tree).
# --stdio: an unbuffered stream reads and writes too (glibc's stdio bypasses
# the exported calls; shim/stdio.c routes streams on held files through them).
#
# OVERLAY_PROP_SEED, OVERLAY_PROP_STEPS and OVERLAY_PROP_CYCLES pass through.
set -u
. "${JETSNAP_SRCDIR:?run this test through make check}/tests/shimtest_lib.sh"
shimtest_init overlay_prop

bin=$JETSNAP_BUILDDIR/tests
for opt in "" --fork --stdio --blocks; do
	"$bin/overlay_prop" --no-freeze $opt "$work/model.dat" ||
		shimtest_fail "the model disagrees with the kernel without the shim (a bug in the test)"
done
# Every run, even after a failure: each covers something the others do not.
failed=
for run in "overlay_prop" "overlay_prop_fortify" "overlay_prop --fork" "overlay_prop --stdio" \
	"overlay_prop --blocks"; do
	set -- $run
	under_shim "$bin/$1" ${2-} "$work/run.dat" || failed="$failed [$run]"
	rm -f "$work/run.dat"
done
# A held file beside the runtime directory: the control calls this process
# makes while frozen must not wait on the freeze they are meant to end.
# Both under $rundir, whose path is short enough for a socket.
mkdir -m 700 "$rundir/rt" || shimtest_fail "cannot create $rundir/rt"
OVERLAY_PROP_STEPS=200 OVERLAY_PROP_CYCLES=1 SELFFREEZE_TIMEOUT_MS=5000 \
	env LD_PRELOAD="$JETSNAP_SHIM" JETSNAP_RUNTIME_DIR="$rundir/rt" \
	"$bin/overlay_prop" "$rundir/beside-runtime-dir.dat" ||
	failed="$failed [overlay_prop with the held file beside the runtime directory]"
[ -z "$failed" ] || shimtest_fail "under the shim:$failed (see the step and seed above)"
exit 0
