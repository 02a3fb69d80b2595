#!/bin/sh
# mt_determinism.sh — guarantee 6: the same deterministic multi-threaded
# workload (tests/mt_writer.c) gives byte-identical files without the shim,
# under the shim without a freeze, and under the shim frozen twice for
# 200 ms while its writers keep going.
set -u
. "${JETSNAP_SRCDIR:?run this test through make check}/tests/shimtest_lib.sh"
shimtest_init mt_determinism

writer=$JETSNAP_BUILDDIR/tests/mt_writer
threads=${MT_THREADS:-4}
ops=${MT_OPS:-6000}
mkdir "$work/plain" "$work/shim" "$work/frozen" || shimtest_fail "cannot create run directories"

"$writer" --threads "$threads" --ops "$ops" "$work/plain" ||
	shimtest_fail "mt_writer failed without the shim"
under_shim "$writer" --threads "$threads" --ops "$ops" "$work/shim" ||
	shimtest_fail "mt_writer failed under the shim without a freeze"
under_shim "$writer" --threads "$threads" --ops "$ops" --freezes 2 "$work/frozen" ||
	shimtest_fail "mt_writer failed under the shim with freezes"

same_files_as_plain ""
exit 0
