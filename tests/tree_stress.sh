#!/bin/sh
# tree_stress.sh — issue 4 item 7: writer threads plus forked children that
# write and exit (tests/tree_stress.c), across freezes of the whole process
# tree, give files byte-identical to the same workload without the shim;
# also run under the shim without a freeze, so that a difference points at
# the freeze and not at the pass-through path.
#   TREE_STRESS_SEED (default 1), TREE_THREADS (4), TREE_OPS (6000),
#   TREE_CHILDREN (48), TREE_FREEZES (3)
set -u
# The release check (make distcheck, from scripts/check) skips the slowest
# database tests: the same build's make check has just run them.
if [ -n "${JETSNAP_DISTCHECK:-}" ]; then echo "skipped in make distcheck: make check runs it"; exit 77; fi
. "${JETSNAP_SRCDIR:?run this test through make check}/tests/shimtest_lib.sh"
shimtest_init tree_stress

stress=$JETSNAP_BUILDDIR/tests/tree_stress
# The instance file and hold log go to the test's own runtime dir, not $HOME.
JETSNAP_STATE_DIR=$rundir
export JETSNAP_STATE_DIR
seed=${TREE_STRESS_SEED:-1}
set -- --seed "$seed" --threads "${TREE_THREADS:-4}" --ops "${TREE_OPS:-6000}" \
	--children "${TREE_CHILDREN:-48}"
mkdir "$work/plain" "$work/shim" "$work/frozen" || shimtest_fail "cannot create run directories"

"$stress" "$@" "$work/plain" || shimtest_fail "tree_stress failed without the shim (seed $seed)"
under_shim "$stress" "$@" "$work/shim" ||
	shimtest_fail "tree_stress failed under the shim without a freeze (seed $seed)"
under_shim "$stress" "$@" --freezes "${TREE_FREEZES:-3}" "$work/frozen" ||
	shimtest_fail "tree_stress failed under the shim with freezes (seed $seed)"

same_files_as_plain " (seed $seed)"
exit 0
