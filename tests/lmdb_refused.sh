#!/bin/sh
# tests/lmdb_refused.sh — LMDB cannot be frozen consistently, and jetsnap must
# say so instead of producing a broken image (SPEC "Files mapped with
# MAP_SHARED", issue 4 item 6).  A real LMDB writer (tests/lmdb_writer.c on
# liblmdb) commits continuously under `jetsnap exec`, once with LMDB's default
# flags (reads through a read-only MAP_SHARED mapping of data.mdb, writes with
# pwrite/writev) and once with MDB_WRITEMAP (writes through a writable shared
# mapping); each once with the default JETSNAP_VOLATILE and once with LMDB's
# lock file declared disposable, which must not change anything for data.mdb.
# For each run:
#   - `jetsnap freeze` exits 1 and prints JET_errOSSnapshotNotAllowed with a
#     reason naming data.mdb and its mapping, which the shim's log
#     (JETSNAP_LOG) gives too; a second attempt does the same
#     (the first left no session behind holding the instance);
#   - `jetsnap list` shows the instance running, in no session;
#   - the writer never stopped: commits go on right after each refusal, and
#     no commit took long;
#   - the database is untouched: mdb_stat works while it runs and its entries
#     keep growing; after the writer stops, mdb_dump holds exactly the keys
#     1..N it acknowledged, with their values.
set -u
# The release check (make distcheck, from scripts/check) skips the slowest
# database tests: the same build's make check has just run them.
if [ -n "${JETSNAP_DISTCHECK:-}" ]; then echo "skipped in make distcheck: make check runs it"; exit 77; fi
. "${JETSNAP_SRCDIR:-$(dirname "$0")/..}/tests/dbs_lib.sh"

dbs_init lmdb_refused
need_pkgs liblmdb-dev lmdb-utils

# Built by make when configure found liblmdb, else here.
writer=$builddir/tests/lmdb_writer
if [ ! -x "$writer" ]; then
	writer=$T/lmdb_writer
	${CC:-cc} -Wall -Wextra -Werror -O2 -o "$writer" "$srcdir/tests/lmdb_writer.c" -llmdb \
		> "$T/cc.log" 2>&1 || fail "cannot build tests/lmdb_writer.c: $(cat "$T/cc.log")"
fi

stall_ms=2000		# a commit slower than this means the writer was held up

# entries DIR: $ent = the main database's entry count, read by mdb_stat.
entries() {
	out=$(mdb_stat "$1" 2>&1) || fail "$label: mdb_stat $1 failed: $out"
	ent=$(echo "$out" | sed -n 's/^ *Entries: //p')
	[ -n "$ent" ] || fail "$label: mdb_stat $1 printed no entry count: $out"
}

# list_row NAME: the instance's row in `jetsnap list`: name pid state snap held files.
list_row() {
	"$jetsnap" list > "$d/list" 2>&1 || fail "$label: jetsnap list failed: $(cat "$d/list")"
	awk -v n="$1" '$1 == n && $2 ~ /^[0-9]+$/' "$d/list"
}

expect_running() {
	set -- $(list_row "$inst")
	[ $# -ge 4 ] || fail "$label: jetsnap list does not show $inst $1: $(cat "$d/list")"
	[ "$2" = "$pid" ] && [ "$3" = running ] && [ "$4" = 0 ] ||
		fail "$label: jetsnap list should show $inst (pid $pid) running in no session: $(cat "$d/list")"
}

# refused ATTEMPT: one freeze attempt, which must be refused for data.mdb.
refused() {
	before=$(lines "$ack")
	"$jetsnap" freeze --instance "$inst" --timeout 10000 > "$d/freeze.out" 2> "$d/freeze.err"
	frc=$?
	after=$(lines "$ack")
	err=$(cat "$d/freeze.err")
	[ "$frc" -eq 1 ] ||
		fail "$label: jetsnap freeze ($1) exited $frc, want 1 (refused): $(cat "$d/freeze.out") $err"
	case $err in *JET_errOSSnapshotNotAllowed*) ;;
	*) fail "$label: jetsnap freeze ($1) did not print JET_errOSSnapshotNotAllowed: $err" ;;
	esac
	case $err in *"$db/data.mdb"*) ;;
	*) fail "$label: the refusal ($1) does not name $db/data.mdb: $err" ;;
	esac
	case $err in *MAP_SHARED*"$mapping"* | *"$mapping"*MAP_SHARED*) ;;
	*) fail "$label: the refusal ($1) does not name the $mapping MAP_SHARED mapping: $err" ;;
	esac
	[ "$(wc -l < "$d/freeze.err")" -eq 1 ] || fail "$label: the refusal ($1) is not one line: $err"
	grep -F "$db/data.mdb" "$d/shim.log" 2>/dev/null | grep -q MAP_SHARED ||
		fail "$label: the shim's log (JETSNAP_LOG) does not give the reason ($1): $(cat "$d/shim.log" 2>&1)"
	# SPEC: the CLI, `jetsnap status` and the log give the reason.
	"$jetsnap" status > "$d/status" 2>&1 || fail "$label: jetsnap status failed: $(cat "$d/status")"
	grep -F "$inst (pid $pid): last freeze refused: " "$d/status" | grep -qF "$db/data.mdb" ||
		fail "$label: jetsnap status does not give the refusal's reason ($1): $(cat "$d/status")"
	"$jetsnap" list --json > "$d/list.json" 2>&1 &&
		grep -F '"last_refusal":"' "$d/list.json" | grep -qF "$db/data.mdb" ||
		fail "$label: jetsnap list --json has no last_refusal naming data.mdb ($1): $(cat "$d/list.json")"
	# The writer goes on right away: a refusal must not leave it waiting.
	wait_acks "$ack" $((after + 5)) "$pid" "$d/err" 2 "right after the refused freeze ($1)"
	echo "$label: freeze ($1) refused; commits $before before it, $after after, $(lines "$ack") now"
	[ "$attempt_err" = "" ] || [ "$attempt_err" = "$err" ] ||
		fail "$label: the two refusals differ: '$attempt_err' then '$err'"
	attempt_err=$err
}

run() {
	label=$1 flags=$2 mapping=$3 volatile=$4
	d=$T/$label db=$T/$label/db ack=$T/$label/ack inst=lmdb-$label
	mkdir -p "$db"
	attempt_err=

	if [ "$volatile" = default ]; then
		JETSNAP_LOG=$d/shim.log "$jetsnap" exec --instance "$inst" -- \
			"$writer" "$db" --ack "$ack" $flags > "$d/out" 2> "$d/err" &
	else
		JETSNAP_LOG=$d/shim.log JETSNAP_VOLATILE=$volatile "$jetsnap" exec --instance "$inst" -- \
			"$writer" "$db" --ack "$ack" $flags > "$d/out" 2> "$d/err" &
	fi
	pid=$!
	started "$pid"
	wait_acks "$ack" 50 "$pid" "$d/err" 20 "before the freeze"
	expect_running

	entries "$db"; e1=$ent
	refused first
	expect_running
	refused second
	expect_running
	wait_acks "$ack" $((after + 20)) "$pid" "$d/err" 10 "after the refusals"
	entries "$db"; e2=$ent
	[ "$e2" -gt "$e1" ] || fail "$label: the live database's entries did not grow ($e1, then $e2)"

	stop_pid "$pid"
	[ "$rc" = 0 ] || fail "$label: the writer exited $rc: $(cat "$d/err")"
	set -- $(cat "$d/out")
	[ $# -eq 4 ] && [ "$1" = committed ] || fail "$label: the writer printed '$*', want 'committed N max_commit_us M'"
	n=$2 worst_us=$4
	[ "$(lines "$ack")" -eq "$n" ] || fail "$label: $(lines "$ack") acks, but the writer says it committed $n"
	entries "$db"
	[ "$ent" -eq "$n" ] || fail "$label: mdb_stat shows $ent entries, the writer committed $n"
	[ "$worst_us" -lt $((stall_ms * 1000)) ] ||
		fail "$label: one commit took $((worst_us / 1000)) ms: the writer stalled"
	# The whole database, key by key: exactly k1..kN = v1..vN.
	mdb_dump -p "$db" > "$d/dump" 2> "$d/dump.err" || fail "$label: mdb_dump failed: $(cat "$d/dump.err")"
	sed -n 's/^ //p' "$d/dump" | paste - - > "$d/pairs"
	seq "$n" | awk '{ printf "k%010d\tv%d\n", $1, $1 }' > "$d/want"
	cmp -s "$d/pairs" "$d/want" ||
		fail "$label: mdb_dump differs from the $n acknowledged commits: $(diff "$d/want" "$d/pairs" | head -5 | tr '\n' ' ')"
	echo "$label: ok, $n commits, longest $((worst_us / 1000)) ms, database intact"
}

# LMDB's lock file is a writable shared mapping of reader slots: disposable,
# and declaring it so must still leave data.mdb refused.
run default "" read-only default
run default-lockvolatile "" read-only '*-shm:*/lock.mdb'
run writemap --writemap writable default
run writemap-lockvolatile --writemap writable '*-shm:*/lock.mdb'
exit 0
