#!/bin/sh
# tree_join.sh — issue 4 item 1: one instance per process tree, as a user
# starts it with "jetsnap exec -- sh -c ...".
#
# The instance's root shell exec's itself once (the root keeps its pid and
# stays the root), then starts tests/tree_writer processes, each appending a
# numbered line to its own file every 20 ms and checking that its own view
# (fstat, pread) shows every byte it wrote:
#   a       forked by the shell, exec'd with the shim still preloaded
#   b       through a nested "sh -c 'exec ...'" (fork, exec, exec)
#   spawn   by posix_spawn, and sys by system(), from tests/tree_spawn
#   short   told to exit while frozen
#   leave   exec'd with the shim removed from LD_PRELOAD: it leaves the
#           instance, so its writes reach the disk during the freeze (README)
#   late    started by the shell while the instance is frozen (a FIFO
#           tells it when): a joiner starts frozen
# and (f), a second instance whose root shell exec's into a writer while
# frozen: it stays the root, its writes are held, and the freeze still thaws.
# Checked: "jetsnap list" shows one instance, named tj, whose processes are
# the writers; the freeze lists every member's file; while frozen the
# members' files do not change on disk while their writers keep writing,
# late's file stays empty while it writes, short exits, leave's file grows;
# after thaw every file holds every line its writer wrote, in order.
#
# Data lives in $work/data (JETSNAP_PATHS), the writers' reports in
# $work/ctl (outside it, never held).  Every process is stopped by pid.
set -u
. "${JETSNAP_SRCDIR:?run this test through make check}/tests/shimtest_lib.sh"
shimtest_init tree_join

js=$JETSNAP_BIN
# In the build tree JETSNAP_BIN is libtool's wrapper script; the binary is .libs/jetsnap.
if [ -x "$JETSNAP_BUILDDIR/.libs/jetsnap" ] && ! head -c 4 "$JETSNAP_BIN" | grep -q ELF; then
	js=$JETSNAP_BUILDDIR/.libs/jetsnap
fi
writer=$JETSNAP_BUILDDIR/tests/tree_writer
spawner=$JETSNAP_BUILDDIR/tests/tree_spawn
data=$work/data
ctl=$work/ctl
members="a b spawn sys short"
all="$members leave late"
JETSNAP_RUNTIME_DIR=$rundir
JETSNAP_STATE_DIR=$rundir
export JETSNAP_RUNTIME_DIR JETSNAP_STATE_DIR
unset JETSNAP_INSTANCE JETSNAP_INSTANCE_FILE JETSNAP_PATHS LD_PRELOAD

root=
rootx=
snap=
failures=0

# Thaw a freeze left behind, then stop every process we started, by pid
# (a pid from a report only while it is still one of our programs: an
# exited writer's pid may have been reused).
tree_cleanup() {
	[ -n "$snap" ] && "$js" abort "$snap" >/dev/null 2>&1
	for f in "$work"/ctl*/*.pid; do
		[ -f "$f" ] || continue
		p=$(cat "$f")
		[ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" |
			grep -q "tree_writer\|tree_spawn" && kill "$p" 2>/dev/null
	done
	# The roots last, so that they reap their children.
	sleep 0.1
	for p in $root $rootx; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	shimtest_cleanup
}
trap tree_cleanup EXIT

fail() {
	echo "tree_join: FAIL: $*" >&2
	failures=$((failures + 1))
}

ok() {
	echo "tree_join: ok: $*"
}

count_of() {
	c=$(cat "$ctl/$1.count" 2>/dev/null)
	expr "${c:-0}" + 0
}

# wait_for SECONDS DESCRIPTION TEST...: poll TEST every 50 ms.
wait_for() {
	limit=$(($1 * 20))
	what=$2
	shift 2
	i=0
	while ! "$@"; do
		i=$((i + 1))
		if [ "$i" -ge "$limit" ]; then
			fail "timed out waiting until $what"
			return 1
		fi
		sleep 0.05
	done
}

counts_at_least() {
	min=$1
	shift
	for n in "$@"; do
		[ "$(count_of "$n")" -ge "$min" ] || return 1
	done
}

all_done() {
	for n in "$@"; do
		[ -f "$ctl/$n.done" ] || [ -f "$ctl/$n.err" ] || return 1
	done
}

gone() {
	! kill -0 "$1" 2>/dev/null || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

pid_of() {
	cat "$ctl/$1.pid" 2>/dev/null
}

# The members of instance $root according to "jetsnap list --json", one a line.
listed_pids() {
	printf '%s\n' "$list" | sed -n 's/.*"processes":\[\([0-9,]*\)\].*/\1/p' | tr ',' '\n'
}

check_list() {
	list=$("$js" list --json) || { fail "jetsnap list --json failed"; return; }
	n=$(printf '%s\n' "$list" | grep -o '"name":' | wc -l)
	if [ "$n" -eq 1 ] && printf '%s\n' "$list" | grep -q "\"name\":\"tj\",\"pid\":$root,"; then
		ok "$1: jetsnap list shows one instance, tj, pid $root"
	else
		fail "$1: jetsnap list should show one instance tj with pid $root: $list"
	fi
	for n in $2; do
		if listed_pids | grep -qx "$(pid_of "$n")"; then
			ok "$1: $n (pid $(pid_of "$n")) is a process of tj"
		else
			fail "$1: $n (pid $(pid_of "$n")) is not among tj's processes: $list"
		fi
	done
}

no_errors() {
	for f in "$ctl"/*.err; do
		[ -f "$f" ] && fail "$1: $(basename "$f" .err) reported: $(cat "$f")"
	done
	return 0
}

sums() {
	for n in $all; do
		printf '%s %s\n' "$n" "$(cksum <"$data/$n")"
	done
}

sum_of() {
	printf '%s\n' "$1" | sed -n "s/^$2 //p"
}

mkdir "$data" "$ctl" && mkfifo "$ctl/go" || shimtest_fail "cannot create $data, $ctl"
# Created up front: creating a file in a held directory waits for the thaw.
for n in $all; do
	: >"$data/$n"
done
cat >"$ctl/body.sh" <<'EOF'
W=$1 D=$2 C=$3 SP=$4
"$W" a "$D/a" "$C" &
sh -c 'exec "$0" b "$1/b" "$2"' "$W" "$D" "$C" &
"$SP" "$W" "$D" "$C" &
env -u LD_PRELOAD "$W" leave "$D/leave" "$C" &
"$W" short "$D/short" "$C" &
read go <"$C/go"
"$W" late "$D/late" "$C" &
wait
EOF

JETSNAP_PATHS=$data "$js" exec --instance tj -- \
	sh -c 'exec sh "$0" "$@"' "$ctl/body.sh" "$writer" "$data" "$ctl" "$spawner" \
	</dev/null >"$ctl/root.out" 2>&1 &
root=$!

wait_for 10 "every writer has written 3 lines" counts_at_least 3 $members leave ||
	shimtest_fail "the writers did not start: $(cat "$ctl/root.out" "$ctl"/*.err 2>/dev/null)"
no_errors "before the freeze"
check_list "(a) running" "$members"

# --- freeze --------------------------------------------------------------
out=$("$js" freeze --instance tj --timeout 30000) ||
	shimtest_fail "jetsnap freeze --instance tj failed: $out"
snap=$(printf '%s\n' "$out" | sed -n 1p)
frozen_files=$(printf '%s\n' "$out" | sed 1d)
at_freeze=$(sums)
for n in $all; do
	eval "c0_$n=\$(count_of $n)"
done
for n in $members; do
	if printf '%s\n' "$frozen_files" | grep -qx "$data/$n"; then
		ok "(a) the freeze lists $n's file"
	else
		fail "(a) the freeze does not list $data/$n among: $frozen_files"
	fi
done

# (e) short writes a few lines while frozen, then exits.
c0=$(count_of short)
wait_for 5 "short wrote 3 lines while frozen" counts_at_least $((c0 + 3)) short
touch "$ctl/short.stop"
wait_for 5 "short exited" gone "$(pid_of short)" &&
	ok "(e) short exited while frozen after $(count_of short) lines"

# (b) the shell starts late while frozen.
echo go >"$ctl/go"
wait_for 5 "late, started while frozen, wrote 5 lines" counts_at_least 5 late
sleep 0.3
check_list "(b) frozen" "a b spawn sys late"
during=$(sums)
no_errors "while frozen"
printf '%s\n' "$list" | grep -q '"state":"frozen"' || fail "jetsnap list does not say frozen: $list"

for n in $members; do
	eval "c0=\$c0_$n"
	c1=$(count_of "$n")
	if [ "$n" != short ] && [ "$c1" -lt $((c0 + 5)) ]; then
		fail "(a) $n wrote only $((c1 - c0)) lines while frozen: it did not keep running"
	fi
	if [ "$(sum_of "$at_freeze" "$n")" = "$(sum_of "$during" "$n")" ]; then
		ok "(a) $n's file did not change on disk while it wrote $((c1 - c0)) lines"
	else
		fail "(a) $n's file changed on disk while frozen (cksum $(sum_of "$at_freeze" "$n") at Freeze, $(sum_of "$during" "$n") later)"
	fi
done
late_size=$(wc -c <"$data/late")
if [ "$late_size" -eq 0 ]; then
	ok "(b) late wrote $(count_of late) lines while frozen and none reached the disk"
else
	fail "(b) late started while frozen, yet $late_size bytes of its file reached the disk"
fi
# (d) Leaving the instance is what dropping the shim means (README): the
# process's writes are no longer held, and a freeze must not claim its file.
if [ "$(sum_of "$at_freeze" leave)" != "$(sum_of "$during" leave)" ]; then
	ok "(d) leave, exec'd without the shim, kept writing to the disk while frozen"
else
	fail "(d) leave's file did not change while frozen: did dropping LD_PRELOAD not take it out?"
fi
if printf '%s\n' "$frozen_files" | grep -qx "$data/leave"; then
	fail "(d) the freeze lists $data/leave as frozen, but leave (no shim) keeps writing it"
else
	ok "(d) the freeze does not list leave's file"
fi
if listed_pids | grep -qx "$(pid_of leave)"; then
	fail "(d) leave (pid $(pid_of leave)) runs without the shim but is listed as a process of tj"
else
	ok "(d) leave is not a process of tj"
fi

# --- thaw ----------------------------------------------------------------
if out=$("$js" thaw "$snap" 2>&1); then
	snap=
	ok "thawed"
else
	fail "jetsnap thaw $snap failed: $out"
fi
touch "$ctl/stop"
wait_for 10 "every writer stopped" all_done $all
wait_for 5 "the instance's shell exited" gone "$root"
no_errors "after thaw"
[ -f "$ctl/tree_spawn.err" ] && fail "(c) $(cat "$ctl/tree_spawn.err")"

# Every line every writer wrote is on disk, in order, nothing more.
for n in $all; do
	lines=$(cat "$ctl/$n.done" 2>/dev/null) || continue
	awk -v n="$n" -v c="$lines" 'BEGIN { for (i = 0; i < c; i++) printf "%s %06d\n", n, i }' \
		>"$ctl/$n.expected"
	if cmp -s "$ctl/$n.expected" "$data/$n"; then
		ok "(e) $n: all $lines lines on disk, in order"
	else
		fail "$n wrote $lines lines; its file on disk has $(wc -l <"$data/$n") lines and differs from them (first difference: $(cmp "$ctl/$n.expected" "$data/$n" 2>&1))"
	fi
done

# --- (f) the root itself exec's while frozen ---------------------------------
# It keeps its pid, so it stays the root and serves the control socket: the
# freeze it was in must still hold its writes and be thawed by the session
# that made it.  (A lone root: a child it forked would outlive its parent.)
ctl=$work/ctl2
mkdir "$work/data2" "$ctl" && mkfifo "$ctl/go" || shimtest_fail "cannot create $ctl"
: >"$work/data2/froot"
JETSNAP_PATHS=$work/data2 "$js" exec --instance tjx -- \
	sh -c 'read go <"$2/go"; exec "$0" froot "$1/froot" "$2"' \
	"$writer" "$work/data2" "$ctl" </dev/null >"$ctl/root.out" 2>&1 &
rootx=$!
if wait_for 5 "instance tjx is listed" sh -c '"$0" list | grep -q "^tjx "' "$js" &&
	out=$("$js" freeze --instance tjx --timeout 20000); then
	snap=$(printf '%s\n' "$out" | sed -n 1p)
	echo go >"$ctl/go"
	wait_for 5 "the root, exec'd into froot while frozen, wrote 3 lines" counts_at_least 3 froot
	[ "$(wc -c <"$work/data2/froot")" -eq 0 ] &&
		ok "(f) the root exec'd while frozen and its writes are held" ||
		fail "(f) the root exec'd while frozen and its writes reached the disk"
	if out=$("$js" thaw "$snap" 2>&1); then
		snap=
		ok "(f) the freeze is thawed after the root exec'd"
	else
		fail "(f) jetsnap thaw of tjx, whose root exec'd while frozen, failed: $out; jetsnap list: $("$js" list)"
	fi
	touch "$ctl/stop"
	wait_for 10 "froot stopped" all_done froot
	wait_for 5 "the root of tjx exited" gone "$rootx"
	lines=$(cat "$ctl/froot.done" 2>/dev/null) &&
		awk -v c="$lines" 'BEGIN { for (i = 0; i < c; i++) printf "froot %06d\n", i }' |
		cmp -s - "$work/data2/froot" && ok "(f) froot: all $lines lines on disk, in order" ||
		fail "(f) froot wrote ${lines:-?} lines; its file on disk has $(wc -l <"$work/data2/froot") lines and differs from them"
else
	fail "(f) could not start or freeze instance tjx: $out $(cat "$ctl/root.out")"
fi

[ "$failures" -eq 0 ] || shimtest_fail "$failures checks failed"
echo "tree_join: all checks passed"
exit 0
