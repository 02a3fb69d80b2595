#!/bin/sh
# tests/kill_recovery.sh — real kills (issue 5 item 3, SPEC "No data lost").
#
# The SQLite workload (tests/sqlite_workload, synchronous=FULL, one row per
# commit, "id time" appended to an ack file after each commit returns) runs
# under `jetsnap exec` and is kill -9ed:
#   frozen  while frozen, 300–800 ms in, after it acknowledged commits
#           during the freeze (their fsync returned through the hold journal);
#   drain   in the middle of the drain that `jetsnap thaw` starts after
#           0.5–1 s frozen: tests/kill_drain watches the instance's shared
#           header and kills once a random share of the held writes is
#           applied;
#   client  the `jetsnap thaw` client itself is killed 0–100 ms in: the
#           instance must still resume (the shim finishes a thaw it got; one
#           the client died before sending is sent again) and keep
#           committing; then the writer is killed;
#   append  0–200 ms into the freeze: random points between a journal append
#           and its fsync.
# In frozen and append, half the repetitions first go through a whole freeze
# and thaw, so the kill comes while the journal is reused.
# Each repetition alternates the journal mode (WAL, rollback journal) and the
# recovery: a new process under the shim with the same state dir
# (`jetsnap exec -- /bin/true`) or `jetsnap recover --state-dir`.  Then:
#   - the journal is consumed (no .inst file left);
#   - the table is an unbroken 1..K with last-acked <= K <= last-acked + 1;
#   - PRAGMA integrity_check prints "ok";
#   - recovering again changes no byte, and neither does replaying a saved
#     copy of the journal a second time (replay is idempotent).
# Kill points come from a seeded generator: KILL_SEED=N reruns them,
# KILL_REPS=N sets the repetitions per case (default 6), KILL_CASES picks
# cases, KEEP_TEST_DIR=1 keeps the files.  On a failure the journal as it
# was before recovery (ls -l, hexdump of its first records) is printed and
# the files are kept (journal.copy is the journal as the kill left it).
# The kill, replay and check logic is tests/kill_lib.sh, shared with
# tests/kill_recovery_pg.sh; the SQLite parts are here.
set -u
# The release check (make distcheck, from scripts/check) skips the slowest
# database tests: the same build's make check has just run them.
if [ -n "${JETSNAP_DISTCHECK:-}" ]; then echo "skipped in make distcheck: make check runs it"; exit 77; fi

. "${JETSNAP_SRCDIR:-$(dirname "$0")/..}/tests/kill_lib.sh"

builddir=${JETSNAP_BUILDDIR:-$(pwd)}
jetsnap=${JETSNAP_BIN:-$builddir/jetsnap}
# The real binary, not libtool's wrapper script: the wrapper costs ~0.4 s a
# call, which would blur the kill points (LD_LIBRARY_PATH finds the library).
[ -x "$builddir/.libs/jetsnap" ] && jetsnap=$builddir/.libs/jetsnap
workload=$builddir/tests/sqlite_workload
killdrain=$builddir/tests/kill_drain
reps=${KILL_REPS:-6}
cases=${KILL_CASES:-frozen drain client append}
modes="wal delete truncate persist"
with_cycle=yes
mid_drain_reps=4

command -v sqlite3 >/dev/null || skip "the sqlite3 command is missing (apt-get install sqlite3)"
command -v hexdump >/dev/null || skip "hexdump is missing (apt-get install bsdextrautils)"
[ -x "$jetsnap" ] || fail "$jetsnap is not built (run make)"
[ -x "$workload" ] || fail "$workload is not built (run make check)"
[ -x "$killdrain" ] || fail "$killdrain is not built (run make check)"

kill_init jskr
rethaws=0

# state: the instance's state as `jetsnap list --json` shows it.
state() {
	"$jetsnap" list --json 2>/dev/null | tr '{' '\n' | grep "\"name\":\"$name\"" |
		sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'
}

sql() { sqlite3 -batch -separator ' ' "$1" "$2" 2>&1; }

# start: a fresh database and its writer under the shim, 5 commits in.
start() {
	d=$T/$case-$i name=kr-$case-$i
	db=$d/db/test.db ack=$d/ack held=$d/db
	mkdir -p "$d/db"
	install -d -m 700 "$d/state"
	: > "$ack"
	JETSNAP_STATE_DIR=$d/state JETSNAP_PATHS=$held JETSNAP_LOG=$d/shim.log \
		"$jetsnap" exec --instance "$name" -- "$workload" "$db" --mode "$mode" --sync full \
		--ack "$ack" --check-every 0 > "$d/out" 2> "$d/err" &
	pid=$!
	instances="$instances $pid"
	victim=writer victim_log=$d/err
	acker=$pid acker_name=writer acker_log=$d/err
	wait_acks 5 20 "before the freeze"
}

# Each repetition alternates the journal mode, and every other pair the
# recovery, so that all four combinations come up.
repetition() {
	set -- $modes
	[ $((i % 2)) -eq 1 ] && mode=$1 || mode=$2
	[ $(((i - 1) / 2 % 2)) -eq 0 ] && how=exec || how=recover
	what="$case #$i ($mode, recovery by $how)"
}

# A rollback journal is created and deleted beside the database in each
# transaction: a name change in a held directory, which waits for the thaw.
commits_while_frozen() { [ "$mode" != delete ]; }

check_db() {
	res=$(sql "$db" 'PRAGMA integrity_check')
	[ "$res" = ok ] || fail "$what: integrity_check printed: $res"
	check_prefix $(sql "$db" 'SELECT count(*), coalesce(max(id), 0) FROM t')
	echo "  $what: acked 1..$last, recovered 1..$k ($n writes replayed)"
}

case_client() {
	freeze
	rnd 500
	sleep "$(secs $((500 + r)))"
	acked_frozen=$((acked_frozen + $(lines "$ack") - acks_frozen))
	"$jetsnap" thaw "$snap" > "$d/thaw.out" 2>&1 &
	thaw_pid=$!
	rnd 100
	sleep "$(secs "$r")"
	kill -KILL "$thaw_pid" 2>/dev/null
	wait "$thaw_pid" 2>/dev/null
	# The instance must not stay frozen: a thaw request that arrived is
	# finished by the shim; one the client died before sending is sent again.
	tries=0 st=$(state)
	while [ "$st" != running ]; do
		kill -0 "$pid" 2>/dev/null || fail "$what: the writer died after the thaw client was killed: $(cat "$d/err")"
		tries=$((tries + 1))
		if [ "$tries" -eq 20 ]; then
			rethaws=$((rethaws + 1))
			"$jetsnap" thaw "$snap" >> "$d/thaw.out" 2>&1 ||
				fail "$what: the instance is $st 1 s after its thaw client died, and a second thaw failed: $(cat "$d/thaw.out")"
		fi
		[ "$tries" -lt 100 ] || fail "$what: the instance is still $st 5 s after its thaw client died"
		sleep 0.05
		st=$(state)
	done
	wait_acks $(($(lines "$ack") + 10)) 10 "after the thaw client was killed"
	rnd 100
	sleep "$(secs "$r")"
	kill_instance
}

case_summary() {
	[ "$case" = client ] &&
		echo "case client: the instance resumed on its own $((reps - rethaws)) times, after a second thaw $rethaws times"
	rethaws=0
}

run_cases
exit 0
