#!/bin/sh
# recover_compat.sh — `jetsnap recover` replays a journal of either version
# it knows, checksummed its version's way; a journal with the other
# version's checksums is torn from its first record (so the version in the
# header is what decides); one of a newer version is kept, not dropped.
set -u
. "${JETSNAP_SRCDIR:?run this test through make check}/tests/shimtest_lib.sh"
shimtest_init recover_compat

js=$JETSNAP_BIN
bin=$JETSNAP_BUILDDIR/tests/recover_compat

# case NAME VERSION SUM: a fresh state dir and target ("old\n"), one journal.
case_setup() {
	d=$work/$1 target=$work/$1/target.dat
	mkdir -p "$d/state" && printf 'old\n' > "$target" ||
		shimtest_fail "$1: cannot set up $d"
	journal=$("$bin" "$d/state" "$target" "$2" "$3") || shimtest_fail "$1: recover_compat failed"
}

for v in 1 2; do
	case_setup "v$v" "$v" "$v"
	out=$("$js" recover --state-dir "$d/state" 2>&1) ||
		shimtest_fail "v$v: jetsnap recover failed: $out"
	[ "$(cat "$target")" = "replayed by version $v" ] ||
		shimtest_fail "v$v: the journal was not replayed: the file holds '$(cat "$target")' ($out)"
	[ ! -e "$journal" ] || shimtest_fail "v$v: the replayed journal was left behind"
	echo "recover_compat: a version-$v journal is replayed: $out"
done

case_setup mixed 1 2
out=$("$js" recover --state-dir "$d/state" 2>&1) || shimtest_fail "mixed: jetsnap recover failed: $out"
[ "$(cat "$target")" = old ] ||
	shimtest_fail "mixed: version-2 checksums in a version-1 journal were accepted: '$(cat "$target")'"
echo "recover_compat: version-2 checksums in a version-1 journal are torn: nothing replayed"

case_setup newer 3 2
if out=$("$js" recover --state-dir "$d/state" 2>&1); then
	shimtest_fail "newer: jetsnap recover succeeded on a version-3 journal: $out"
fi
[ "$(cat "$target")" = old ] || shimtest_fail "newer: a version-3 journal was replayed"
[ -e "$journal" ] || shimtest_fail "newer: the version-3 journal was dropped"
case $out in *"newer jetsnap (version 3)"*) ;;
*) shimtest_fail "newer: the message does not say why it is kept: $out" ;;
esac
echo "recover_compat: a version-3 journal is kept: $out"
exit 0
