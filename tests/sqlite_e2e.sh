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

. "${JETSNAP_SRCDIR:-$(dirname "$0")/..}/tests/dbs_lib.sh"

dbs_init sqlite_e2e
workload=$builddir/tests/sqlite_workload
hold_half=0.5		# the snapshot command keeps the freeze twice this after copying

command -v sqlite3 >/dev/null || skip "the sqlite3 command is missing (apt-get install sqlite3)"
[ -x "$workload" ] || fail "$workload is not built (run make check)"

# The snapshot command: the acks and the files' checksums as soon as Freeze
# has returned, the copy of the database files, then the freeze kept a
# while so the writer has to work frozen (dbs_lib.sh).
write_hold_script "$T/hold.sh"

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
	started "$pid"
	wait_acks "$ack" 300 "$pid" "$d/err" 20 "before the snapshot"

	acks_before=$(lines "$ack")
	# The copy: the db and its -wal, -shm or -journal.
	timeout 150 "$jetsnap" snapshot --instance "sqlw-$label" -- \
		sh "$T/hold.sh" "$d/db" "$ack" "$d" "$hold_half" \
		sh -c 'cp -- "$1"/* "$2/"' sh "$d/db" "$d/copy" \
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

	stop_pid "$pid" 60
	[ "$rc" = 0 ] || fail "$label: the workload exited $rc: $(cat "$d/err")"
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
