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
set -u
# The release check (make distcheck, from scripts/check) skips the slowest
# database tests: the same build's make check has just run them.
if [ -n "${JETSNAP_DISTCHECK:-}" ]; then echo "skipped in make distcheck: make check runs it"; exit 77; fi

builddir=${JETSNAP_BUILDDIR:-$(pwd)}
jetsnap=${JETSNAP_BIN:-$builddir/jetsnap}
# The real binary, not libtool's wrapper script: the wrapper costs ~0.4 s a
# call, which would blur the kill points (LD_LIBRARY_PATH finds the library).
[ -x "$builddir/.libs/jetsnap" ] && jetsnap=$builddir/.libs/jetsnap
workload=$builddir/tests/sqlite_workload
killdrain=$builddir/tests/kill_drain
reps=${KILL_REPS:-6}
seed=${KILL_SEED:-$(date +%s)}
cases=${KILL_CASES:-frozen drain client append}
modes="wal delete truncate persist"

fail() {
	echo "FAIL: $*" >&2
	[ -n "${d:-}" ] && [ -s "$d/journal.txt" ] && sed 's/^/  /' "$d/journal.txt" >&2
	echo "(rerun with KILL_SEED=$seed)" >&2
	KEEP_TEST_DIR=1	# the files, journal copies and shim logs, for a look
	exit 1
}
skip() { echo "SKIP: $*"; exit 77; }

command -v sqlite3 >/dev/null || skip "the sqlite3 command is missing (apt-get install sqlite3)"
command -v hexdump >/dev/null || skip "hexdump is missing (apt-get install bsdextrautils)"
[ -x "$jetsnap" ] || fail "$jetsnap is not built (run make)"
[ -x "$workload" ] || fail "$workload is not built (run make check)"
[ -x "$killdrain" ] || fail "$killdrain is not built (run make check)"

T=$(mktemp -d) || fail "mktemp failed"
JETSNAP_RUNTIME_DIR=$(mktemp -d /tmp/js.XXXXXX) || fail "mktemp failed"
export JETSNAP_RUNTIME_DIR
unset JETSNAP_INSTANCE_FILE JETSNAP_PATHS JETSNAP_STATE_DIR JETSNAP_LOG
pids=

# Stop what we started, by pid (a writer left frozen may be stuck).
cleanup() {
	for p in $pids; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$JETSNAP_RUNTIME_DIR"
	if [ -n "${KEEP_TEST_DIR:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

echo "seed $seed, $reps repetitions per case (rerun: KILL_SEED=$seed)"

# rnd N: r = a pseudo-random integer in [0, N), from the seed.
rng=$seed
rnd() {
	rng=$(((rng * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff))
	r=$(((rng >> 33) % $1))
}
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# (Few processes: on a loaded machine each fork costs tens of ms.)
lines() { wc -l < "$1"; }
last_ack() { sed -n '$s/ .*//p' "$1"; }

# wait_acks N SECONDS WHAT: until the ack file has N lines.
wait_acks() {
	tries=$(($2 * 20))
	while [ "$(lines "$ack")" -lt "$1" ]; do
		kill -0 "$pid" 2>/dev/null || fail "$what: the writer died $3: $(cat "$d/err")"
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "$what: $(lines "$ack") commits after $2 s, wanted $1 ($3)"
		sleep 0.05
	done
}

# The database files' checksums (the -shm wal-index too: recovery must not
# touch it either).
fingerprint() { (cd "$d/db" && sha256sum -- *); }

# state: the instance's state as `jetsnap list --json` shows it.
state() {
	"$jetsnap" list --json 2>/dev/null | tr '{' '\n' | grep "\"name\":\"$name\"" |
		sed -n 's/.*"state":"\([a-z]*\)".*/\1/p'
}

sql() { sqlite3 -batch -separator ' ' "$1" "$2" 2>&1; }

# The journal as the kill left it, for the failure report.
note_journal() {
	{
		echo "journal before recovery ($what):"
		ls -l "$d/state"
		for j in "$d/state"/*.inst; do
			[ -f "$j" ] || continue
			echo "$j: first records (the hold log starts at 1 MiB):"
			hexdump -C -s 1048576 -n 512 "$j"
			cp --sparse=always "$j" "$d/journal.copy"
		done
		echo "last acked id: $(last_ack "$ack"), acks: $(lines "$ack")"
	} > "$d/journal.txt" 2>&1
}

# recover HOW: replay the dead instance's journal, one way or the other.
recover() {
	if [ "$1" = exec ]; then
		JETSNAP_STATE_DIR=$d/state JETSNAP_PATHS=$d/db JETSNAP_LOG=$d/recover.log \
			"$jetsnap" exec -- /bin/true 2>> "$d/recover.log" ||
			fail "$what: jetsnap exec -- /bin/true exited $?: $(cat "$d/recover.log")"
	else
		"$jetsnap" recover --state-dir "$d/state" >> "$d/recover.log" 2>&1 ||
			fail "$what: jetsnap recover exited $?: $(cat "$d/recover.log")"
	fi
}

# check_recovery HOW: recover, then hold the database to the promises.
check_recovery() {
	last=$(last_ack "$ack")
	last=${last:-0}
	note_journal
	recover "$1"
	for j in "$d/state"/*.inst; do
		[ -f "$j" ] && fail "$what: $j is left after recovery: $(cat "$d/recover.log")"
	done
	n=$(sed -n 's/.*replayed \([0-9]*\) held writes.*/\1/p' "$d/recover.log" | head -n 1)
	replayed=$((replayed + ${n:-0}))
	fingerprint > "$d/sum1"
	recover "$1"
	fingerprint > "$d/sum2"
	cmp -s "$d/sum1" "$d/sum2" ||
		fail "$what: a second recovery changed the files: $(diff "$d/sum1" "$d/sum2" | tr '\n' ' ')"
	# Replay the same journal once more, as after a crash during recovery.
	if [ -f "$d/journal.copy" ]; then
		cp --sparse=always "$d/journal.copy" "$d/state/replay-again.inst"
		"$jetsnap" recover --state-dir "$d/state" >> "$d/recover.log" 2>&1 ||
			fail "$what: replaying the journal again failed: $(cat "$d/recover.log")"
		fingerprint > "$d/sum3"
		cmp -s "$d/sum1" "$d/sum3" ||
			fail "$what: replaying the journal twice changed the files: $(diff "$d/sum1" "$d/sum3" | tr '\n' ' ')"
	fi

	res=$(sql "$db" 'PRAGMA integrity_check')
	[ "$res" = ok ] || fail "$what: integrity_check printed: $res"
	set -- $(sql "$db" 'SELECT count(*), coalesce(max(id), 0) FROM t')
	[ $# -eq 2 ] || fail "$what: cannot read the table: $*"
	[ "$1" -eq "$2" ] || fail "$what: $1 rows but max(id)=$2: not an unbroken 1..K"
	[ "$2" -ge "$last" ] || fail "$what: LOST acknowledged commits: the table ends at id $2, the last acked id is $last"
	# The workload acks each commit as it returns: one more may have committed.
	[ "$2" -le $((last + 1)) ] || fail "$what: the table ends at id $2 but only $last commits had returned"
	echo "  $what: acked 1..$last, recovered 1..$2 (${n:-0} writes replayed)"
}

# start: a fresh database and its writer under the shim, 5 commits in.
start() {
	d=$T/$case-$i name=kr-$case-$i
	db=$d/db/test.db ack=$d/ack
	mkdir -p "$d/db"
	install -d -m 700 "$d/state"
	: > "$ack"
	JETSNAP_STATE_DIR=$d/state JETSNAP_PATHS=$d/db JETSNAP_LOG=$d/shim.log \
		"$jetsnap" exec --instance "$name" -- "$workload" "$db" --mode "$mode" --sync full \
		--ack "$ack" --check-every 0 > "$d/out" 2> "$d/err" &
	pid=$!
	pids="$pids $pid"
	wait_acks 5 20 "before the freeze"
}

freeze() {
	"$jetsnap" freeze --instance "$name" --timeout 30000 > "$d/freeze.out" 2> "$d/freeze.err" ||
		fail "$what: jetsnap freeze exited $?: $(cat "$d/freeze.err")"
	snap=$(head -n 1 "$d/freeze.out")
	acks_frozen=$(lines "$ack")
}

# kill_writer: SIGKILL, and it must not have died of anything else first.
kill_writer() {
	kill -0 "$pid" 2>/dev/null || fail "$what: the writer died before the kill: $(cat "$d/err")"
	kill -KILL "$pid"
	reap_writer
}

reap_writer() {
	wait "$pid" 2>/dev/null	# not the shell's "Killed" line
	rc=$?
	pids=$(echo "$pids" | sed "s/ $pid\b//")
	[ "$rc" -eq 137 ] || fail "$what: the writer exited $rc, not by the kill: $(cat "$d/err")"
}

# cycle: on a random half of the repetitions, one whole freeze and thaw
# first, longer than the one the kill comes in: the journal is then reused,
# and the new records end before the old ones do (recovery must stop at the
# first stale one).
cycle() {
	rnd 2
	[ "$r" -eq 1 ] || return 0
	freeze
	sleep 0.5
	"$jetsnap" thaw "$snap" > "$d/thaw.out" 2>&1 || fail "$what: jetsnap thaw exited $?: $(cat "$d/thaw.out")"
	cycles=$((cycles + 1))
	what="$what (after a freeze cycle)"
}

case_frozen() {
	cycle
	freeze
	rnd 500
	sleep "$(secs $((300 + r)))"
	kill_writer
	during=$(($(lines "$ack") - acks_frozen))
	[ "$mode" = delete ] || [ "$during" -gt 0 ] ||
		fail "$what: no commit returned in $((300 + r)) ms frozen: the fsync waited for the thaw"
	acked_frozen=$((acked_frozen + during))
}

case_append() {
	cycle
	freeze
	rnd 201
	sleep "$(secs "$r")"
	kill_writer
	acked_frozen=$((acked_frozen + $(lines "$ack") - acks_frozen))
}

# The drain: kill_drain watches the instance's shared header and kills the
# writer once the drain has applied a random share of the held writes (or
# right after it, if the drain was quicker than the watch).
case_drain() {
	freeze
	rnd 500
	sleep "$(secs $((500 + r)))"
	acked_frozen=$((acked_frozen + $(lines "$ack") - acks_frozen))
	rnd 1000
	# (The outer 2> keeps the shell's "Killed" line about the writer quiet.)
	{ "$killdrain" "$d/state/$pid.inst" "$pid" "$r" 10000 "$jetsnap" thaw "$snap" \
		> "$d/kill.out" 2> "$d/thaw.out"; } 2>/dev/null ||
		fail "$what: $(cat "$d/kill.out" "$d/thaw.out")"
	reap_writer
	case $(cat "$d/kill.out") in
	mid*) mid_drain=$((mid_drain + 1)); echo "  $what: killed in the drain, $(cut -d' ' -f2,3 "$d/kill.out" | sed 's| |/|') writes applied" ;;
	*) after_drain=$((after_drain + 1)) ;;
	esac
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
	kill_writer
}

for case in $cases; do
	acked_frozen=0 replayed=0 cycles=0 mid_drain=0 after_drain=0 rethaws=0
	echo "case $case:"
	i=1
	while [ "$i" -le "$reps" ]; do
		set -- $modes
		[ $((i % 2)) -eq 1 ] && mode=$1 || mode=$2
		[ $(((i - 1) / 2 % 2)) -eq 0 ] && how=exec || how=recover
		what="$case #$i ($mode, recovery by $how)"
		start
		"case_$case"
		check_recovery "$how"
		[ -z "${KEEP_TEST_DIR:-}" ] && rm -rf "$d"
		i=$((i + 1))
	done
	echo "case $case: $reps kills, all recovered; $acked_frozen commits acked while frozen, $replayed held writes replayed"
	[ "$cycles" -gt 0 ] && echo "case $case: $cycles of them after a whole freeze and thaw"
	if [ "$case" = drain ]; then
		echo "case drain: killed in the middle of the drain $mid_drain times, just after it $after_drain times"
		[ "$mid_drain" -gt 0 ] || [ "$reps" -lt 4 ] ||
			fail "no kill of the drain case landed inside a drain (tests/kill_drain must be built with the shim's current shim/instance.h)"
	fi
	[ "$case" = client ] &&
		echo "case client: the instance resumed on its own $((reps - rethaws)) times, after a second thaw $rethaws times"
done
d=
exit 0
