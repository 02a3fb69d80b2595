#!/bin/sh
# tests/sqlite_e2e.sh — a real SQLite writer (tests/sqlite_workload) runs under
# the shim and is snapshotted with `jetsnap snapshot -- cp …`, once in WAL mode
# (synchronous=NORMAL) and once with the rollback journal (DELETE,
# synchronous=FULL).  The copy must be what a crash at the freeze would leave:
#   - `PRAGMA integrity_check` prints exactly "ok";
#   - its rows are an unbroken prefix 1..K (count == max(id));
#   - K >= the commits acknowledged before `jetsnap snapshot` was called;
#   - no commit made after Freeze returned is in it;
#   - the live files (all but the -shm wal-index) did not change while frozen.
# WAL mode must also keep committing while frozen.  After the thaw the writer
# goes on, and the live database is intact and holds exactly what it committed.
set -u

builddir=${JETSNAP_BUILDDIR:-$(pwd)}
jetsnap=${JETSNAP_BIN:-$builddir/jetsnap}
workload=$builddir/tests/sqlite_workload
hold_half=0.5		# the snapshot command keeps the freeze twice this after copying

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

command -v sqlite3 >/dev/null || skip "the sqlite3 command is missing (apt-get install sqlite3)"
[ -x "$jetsnap" ] || fail "$jetsnap is not built (run make)"
[ -x "$workload" ] || fail "$workload is not built (run make check)"

T=$(mktemp -d) || fail "mktemp failed"
JETSNAP_RUNTIME_DIR=$(mktemp -d /tmp/js.XXXXXX) || fail "mktemp failed"
JETSNAP_STATE_DIR=$T/state
export JETSNAP_RUNTIME_DIR JETSNAP_STATE_DIR
mkdir -m 700 "$JETSNAP_STATE_DIR"
pids=

# Stop what we started: politely, then for good (a process left frozen by a
# failed step may not get to its signal handler).
cleanup() {
	for p in $pids; do kill -TERM "$p" 2>/dev/null; done
	for p in $pids; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$T" "$JETSNAP_RUNTIME_DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

lines() { if [ -f "$1" ]; then wc -l < "$1" | tr -d ' '; else echo 0; fi; }

# wait_acks ACK N PID ERRFILE SECONDS WHAT: until ACK has N lines.
wait_acks() {
	tries=$(($5 * 10))
	while [ "$(lines "$1")" -lt "$2" ]; do
		kill -0 "$3" 2>/dev/null || fail "the workload died $6: $(cat "$4")"
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "the workload has $(lines "$1") commits after $5 s, wanted $2 ($6)"
		sleep 0.1
	done
}

# The snapshot command: note the acks and the files' checksums as soon as
# Freeze has returned, copy the database files, keep the freeze a while so
# the writer has to work frozen (noting the acks half-way), and note both
# again just before the thaw.
cat > "$T/inner.sh" <<'EOF'
set -eu
dbdir=$1 copy=$2 ack=$3 out=$4 hold=$5
fingerprint() {
	(cd "$dbdir" && for f in *; do
		case $f in *-shm) ;; *) sha256sum -- "$f" ;; esac
	done)
}
wc -l < "$ack" > "$out/acks_start"
fingerprint > "$out/sum_start"
cp -- "$dbdir"/* "$copy/"	# the db and its -wal, -shm or -journal
sleep "$hold"
wc -l < "$ack" > "$out/acks_mid"
sleep "$hold"
wc -l < "$ack" > "$out/acks_end"
fingerprint > "$out/sum_end"
EOF

# sql DB QUERY: one result row, columns separated by spaces.
sql() { sqlite3 -batch -separator ' ' "$1" "$2" 2>&1; }

# read_rows DB WHAT: count and k (= max(id)) of table t.
read_rows() {
	set -- $(sql "$1" 'SELECT count(*), coalesce(max(id), 0) FROM t')
	[ $# -eq 2 ] || fail "cannot read $2: $*"
	count=$1 k=$2
}

check_integrity() {
	res=$(sql "$1" 'PRAGMA integrity_check')
	[ "$res" = ok ] || fail "integrity_check on $2 printed: $res"
}

run_mode() {
	mode=$1 sync=$2 label=$3 extra=$4
	d=$T/$label
	db=$d/db/test.db ack=$d/ack
	mkdir -p "$d/db" "$d/copy"
	: > "$ack"

	# JETSNAP_PATHS keeps the ack file (and stdout) out of the held files:
	# the test reads the ack file while the database is frozen.
	JETSNAP_PATHS=$d/db "$jetsnap" exec --instance "sqlw-$label" -- \
		"$workload" "$db" --mode "$mode" --sync "$sync" --ack "$ack" \
		--check-every 100 $extra > "$d/out" 2> "$d/err" &
	pid=$!
	pids="$pids $pid"
	wait_acks "$ack" 300 "$pid" "$d/err" 20 "before the snapshot"

	acks_before=$(lines "$ack")
	timeout 150 "$jetsnap" snapshot --instance "sqlw-$label" -- \
		sh "$T/inner.sh" "$d/db" "$d/copy" "$ack" "$d" "$hold_half" \
		> "$d/snap.out" 2> "$d/snap.err" ||
		fail "$label: jetsnap snapshot exited $?: $(cat "$d/snap.err")"
	[ -s "$d/acks_end" ] || fail "$label: the snapshot command did not run"
	acks_start=$(tr -d ' ' < "$d/acks_start")
	acks_mid=$(tr -d ' ' < "$d/acks_mid")
	acks_end=$(tr -d ' ' < "$d/acks_end")
	kill -0 "$pid" 2>/dev/null || fail "$label: the workload died while frozen: $(cat "$d/err")"

	cmp -s "$d/sum_start" "$d/sum_end" ||
		fail "$label: live database files changed while frozen: $(diff "$d/sum_start" "$d/sum_end" | tr '\n' ' ')"

	check_integrity "$d/copy/test.db" "the $label copy"
	read_rows "$d/copy/test.db" "the $label copy"
	echo "$label: acks before freeze $acks_before, copy has 1..$k, acks when frozen $acks_start, half-way $acks_mid, before thaw $acks_end"
	[ "$count" -eq "$k" ] || fail "$label: the copy has $count rows but max(id)=$k: not a prefix"
	[ "$k" -ge "$acks_before" ] ||
		fail "$label: the copy ends at id $k but $acks_before commits had returned before the freeze"
	# The workload acks a commit right after it returns, so at most one
	# commit (the one not yet acked when Freeze returned) may be in the copy
	# beyond the acks counted at the command's start.
	[ "$k" -le $((acks_start + 1)) ] ||
		fail "$label: the copy ends at id $k but only $acks_start commits had returned when Freeze did: writes leaked while frozen"
	# Not just a burst right after the freeze: SQLite must still be
	# committing in the second half of the hold, past its auto-checkpoints
	# (every ~1000 WAL pages, a few hundred ms here).
	if [ "$mode" = wal ]; then
		# An integrity check inside the frozen process passed (the
		# workload exits 4 otherwise) at a commit made while frozen.
		awk -v lo="$acks_start" -v hi="$acks_end" '$1 == "checked" && $2 > lo && $2 <= hi {found = 1}
			END {exit !found}' "$d/out" ||
			fail "$label: no integrity_check ran inside the frozen process (commits $acks_start..$acks_end)"
		[ "$acks_end" -gt "$acks_mid" ] ||
			fail "$label: the writer stopped committing while frozen ($acks_start acks when Freeze returned, $acks_mid half-way, $acks_end at the end; the copy ends at id $k): it waited for the thaw (in the fsync of SQLite's auto-checkpoint?)"
	fi

	wait_acks "$ack" $((acks_end + 100)) "$pid" "$d/err" 30 "after the thaw"

	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	pids=${pids% $pid}
	[ "$rc" -eq 0 ] || fail "$label: the workload exited $rc: $(cat "$d/err")"
	final=$(sed -n 's/^committed //p' "$d/out")
	[ -n "$final" ] || fail "$label: the workload did not print 'committed N': $(cat "$d/out" "$d/err")"
	check_integrity "$db" "the live $label database"
	read_rows "$db" "the live $label database"
	[ "$count" -eq "$final" ] && [ "$k" -eq "$final" ] ||
		fail "$label: the live database has count=$count max(id)=$k, the workload committed $final"
	[ "$(lines "$ack")" -eq "$final" ] ||
		fail "$label: $(lines "$ack") acks but the workload committed $final"
	echo "$label: ok, $final commits, live database intact"
}

# WAL, synchronous=NORMAL (commits never fsync; SQLite's auto-checkpoint
# does) and synchronous=FULL (every commit fsyncs the WAL): the fsync of
# held data returns once the hold journal has it, so in both the writer
# must keep committing all through the freeze, checkpoints included.
# Rollback journal: each transaction creates and deletes the -journal file
# beside the database, a name change in a held directory, which waits.
run_mode wal normal wal ""
run_mode wal full wal-full ""
run_mode delete full delete ""
exit 0
