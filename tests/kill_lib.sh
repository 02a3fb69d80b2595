# tests/kill_lib.sh — sourced by the kill -9 tests (tests/kill.mk):
# tests/kill_recovery.sh (SQLite) and tests/kill_recovery_pg.sh (PostgreSQL)
# kill a database under `jetsnap exec` at random points of a freeze, recover
# its hold journal and hold the result to SPEC "No data lost".  The kill,
# replay and check logic lives here; a test supplies its database.
#
#   . "$JETSNAP_SRCDIR/tests/kill_lib.sh"
#   kill_init NAME     temp dir $T (/tmp/NAME.XXXXXX), runtime dir, no inherited
#                      JETSNAP_* settings, cleanup on exit; $seed from KILL_SEED
#   run_cases          for each case of $cases, $reps repetitions of:
#                      repetition (sets $how, exec or recover, and $what),
#                      start, case_$case, check_recovery $how
#
# What the test defines:
#   start              a fresh database under `jetsnap exec` as instance $name,
#                      committing; sets $d (its dir, with state/ as
#                      JETSNAP_STATE_DIR), $held (JETSNAP_PATHS), $ack (one
#                      line per acknowledged commit, "id time"), $pid (the
#                      instance's root, added to $instances), $victim and
#                      $victim_log (what it is and its log, for messages) and
#                      $acker, $acker_name, $acker_log (the process writing
#                      the acks); the clients to reap with it go in $clients
#   repetition         sets $how and $what for repetition $i of $case
#   check_db           the recovered database's own checks; $last is the last
#                      acknowledged id, check_prefix COUNT MAX helps
# and may set: $kill_as (a prefix that runs the jetsnap commands as the
# database's user), $freeze_timeout (ms, default 30000), $with_cycle (a
# random half of the frozen and append repetitions first go through a whole
# freeze and thaw), $mid_drain_reps (from this many repetitions on, a drain
# kill must land inside a drain; default 1), and redefine
# commits_while_frozen (whether commits must return during a freeze) and
# case_summary (a last line about $case).
# Provided: fail, skip, rnd N ($r), secs MS, lines FILE, last_ack FILE,
# wait_acks N SECONDS WHAT, freeze, kill_instance, reap, forget PID and the
# cases frozen, append and drain.

kill_as= freeze_timeout=30000 with_cycle= mid_drain_reps=1
instances= clients= d=
seed=${KILL_SEED:-$(date +%s)}
rng=$seed

fail() {
	echo "FAIL: $*" >&2
	[ -n "${d:-}" ] && [ -s "$d/journal.txt" ] && sed 's/^/  /' "$d/journal.txt" >&2
	echo "(rerun with KILL_SEED=$seed)" >&2
	KEEP_TEST_DIR=1	# the files, journal copies and shim logs, for a look
	exit 1
}
skip() { echo "SKIP: $*"; exit 77; }

# Stop what we started, by pid: each instance's tree (a writer left frozen
# may be stuck), then the clients.
kill_cleanup() {
	for p in $instances; do
		kill -KILL $(cat /proc/"$p"/task/*/children 2>/dev/null) "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for p in $clients; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$JETSNAP_RUNTIME_DIR"
	if [ -n "${KEEP_TEST_DIR:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}

kill_init() {
	T=$(mktemp -d "/tmp/$1.XXXXXX") || fail "mktemp failed"
	JETSNAP_RUNTIME_DIR=$(mktemp -d /tmp/js.XXXXXX) || fail "mktemp failed"
	export JETSNAP_RUNTIME_DIR
	unset JETSNAP_INSTANCE_FILE JETSNAP_PATHS JETSNAP_STATE_DIR JETSNAP_LOG
	trap kill_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	echo "seed $seed, $reps repetitions per case (rerun: KILL_SEED=$seed)"
}

# rnd N: r = a pseudo-random integer in [0, N), from the seed.
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
		kill -0 "$acker" 2>/dev/null || fail "$what: the $acker_name died $3: $(tail -n 5 "$acker_log")"
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "$what: $(lines "$ack") commits after $2 s, wanted $1 ($3)"
		sleep 0.05
	done
}

forget() { instances=$(echo "$instances" | sed "s/ $1\\b//"); }

# Every held file, by name and content (SQLite's -shm wal-index too:
# recovery must not touch it either).
fingerprint() { (cd "$held" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

freeze() {
	$kill_as "$jetsnap" freeze --instance "$name" --timeout "$freeze_timeout" \
		> "$d/freeze.out" 2> "$d/freeze.err" ||
		fail "$what: jetsnap freeze exited $?: $(cat "$d/freeze.err")"
	snap=$(head -n 1 "$d/freeze.out")
	acks_frozen=$(lines "$ack")
}

# tree: the instance's root and its children (a database server's may each
# be in a session of its own, so no process group covers them).
tree() { echo "$pid" $(cat /proc/"$pid"/task/*/children 2>/dev/null); }

# reap: the root died of SIGKILL, and every process of the tree is gone
# (the journal is replayed only once the whole instance is dead); the
# clients, which lost their database, are reaped too.
reap() {
	wait "$pid" 2>/dev/null	# not the shell's "Killed" line
	rc=$?
	[ "$rc" -eq 137 ] || fail "$what: the $victim exited $rc, not by the kill: $(tail -n 5 "$victim_log")"
	forget "$pid"
	for p in $members; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
		kill -0 "$p" 2>/dev/null && fail "$what: $victim process $p outlived the kill"
	done
	for p in $clients; do wait "$p" 2>/dev/null; done
	clients=
}

# kill_instance: SIGKILL to every process of the instance, which must not
# have died of anything else first.
kill_instance() {
	kill -0 "$pid" 2>/dev/null || fail "$what: the $victim died before the kill: $(tail -n 5 "$victim_log")"
	members=$(tree)
	kill -KILL $members 2>/dev/null
	reap
}

# cycle: with $with_cycle, on a random half of the repetitions, one whole
# freeze and thaw first, longer than the one the kill comes in: the journal
# is then reused, and the new records end before the old ones do (recovery
# must stop at the first stale one).
cycle() {
	[ -n "$with_cycle" ] || return 0
	rnd 2
	[ "$r" -eq 1 ] || return 0
	freeze
	sleep 0.5
	$kill_as "$jetsnap" thaw "$snap" > "$d/thaw.out" 2>&1 ||
		fail "$what: jetsnap thaw exited $?: $(cat "$d/thaw.out")"
	cycles=$((cycles + 1))
	what="$what (after a freeze cycle)"
}

commits_while_frozen() { true; }
case_summary() { :; }

# frozen: 300–800 ms into a freeze, after commits were acknowledged during
# it (their fsync returned through the hold journal).
case_frozen() {
	cycle
	freeze
	rnd 500
	sleep "$(secs $((300 + r)))"
	kill_instance
	during=$(($(lines "$ack") - acks_frozen))
	! commits_while_frozen || [ "$during" -gt 0 ] ||
		fail "$what: no commit returned in $((300 + r)) ms frozen: the fsync waited for the thaw"
	acked_frozen=$((acked_frozen + during))
}

# append: 0–200 ms into a freeze, random points between a journal append
# and its fsync.
case_append() {
	cycle
	freeze
	rnd 201
	sleep "$(secs "$r")"
	kill_instance
	acked_frozen=$((acked_frozen + $(lines "$ack") - acks_frozen))
}

# drain: tests/kill_drain watches the instance's shared header and kills
# every process of the instance (PID 0) once the drain `jetsnap thaw` starts
# after 0.5–1 s frozen has applied a random share of the held writes (or
# right after it, if the drain was quicker than the watch).
case_drain() {
	freeze
	rnd 500
	sleep "$(secs $((500 + r)))"
	acked_frozen=$((acked_frozen + $(lines "$ack") - acks_frozen))
	rnd 1000
	members=$(tree)
	# (The outer 2> keeps the shell's "Killed" line about the root quiet.)
	{ "$killdrain" "$d/state/$pid.inst" 0 "$r" 10000 $kill_as "$jetsnap" thaw "$snap" \
		> "$d/kill.out" 2> "$d/thaw.out"; } 2>/dev/null ||
		fail "$what: $(cat "$d/kill.out" "$d/thaw.out")"
	reap
	case $(cat "$d/kill.out") in
	mid*) mid_drain=$((mid_drain + 1)); echo "  $what: killed in the drain, $(cut -d' ' -f2,3 "$d/kill.out" | sed 's| |/|') writes applied" ;;
	*) after_drain=$((after_drain + 1)) ;;
	esac
}

# The journal as the kill left it, for the failure report, and a copy of it.
note_journal() {
	{
		echo "journal before recovery ($what):"
		ls -l "$d/state"
		for j in "$d/state"/*.inst; do
			[ -f "$j" ] || continue
			echo "$j: first records (the hold log starts at 1 MiB):"
			hexdump -C -s 1048576 -n 512 "$j"
			cp --sparse=always -p "$j" "$d/journal.copy"
		done
		echo "last acked id: $(last_ack "$ack"), acks: $(lines "$ack")"
	} > "$d/journal.txt" 2>&1
}

# recover HOW: replay the dead instance's journal, one way or the other: a
# new process under the shim with the same state dir, or `jetsnap recover`.
recover() {
	if [ "$1" = exec ]; then
		$kill_as env JETSNAP_STATE_DIR="$d/state" JETSNAP_PATHS="$held" JETSNAP_LOG="$d/recover.log" \
			"$jetsnap" exec -- /bin/true 2>> "$d/recover.log" ||
			fail "$what: jetsnap exec -- /bin/true exited $?: $(cat "$d/recover.log")"
	else
		$kill_as "$jetsnap" recover --state-dir "$d/state" >> "$d/recover.log" 2>&1 ||
			fail "$what: jetsnap recover exited $?: $(cat "$d/recover.log")"
	fi
}

# check_recovery HOW: recover; the journal is consumed, recovering again
# and replaying a saved copy of the journal again change no byte (replay
# is idempotent); then the database's own checks.
check_recovery() {
	last=$(last_ack "$ack")
	last=${last:-0}
	note_journal
	recover "$1"
	for j in "$d/state"/*.inst; do
		[ -f "$j" ] && fail "$what: $j is left after recovery: $(cat "$d/recover.log")"
	done
	n=$(sed -n 's/.*replayed \([0-9]*\) held writes.*/\1/p' "$d/recover.log" | head -n 1)
	n=${n:-0}
	replayed=$((replayed + n))
	fingerprint > "$d/sum1"
	recover "$1"
	fingerprint > "$d/sum2"
	cmp -s "$d/sum1" "$d/sum2" ||
		fail "$what: a second recovery changed the files: $(diff "$d/sum1" "$d/sum2" | head -n 6 | tr '\n' ' ')"
	# Replay the same journal once more, as after a crash during recovery.
	if [ -f "$d/journal.copy" ]; then
		cp --sparse=always -p "$d/journal.copy" "$d/state/replay-again.inst"
		recover recover
		fingerprint > "$d/sum3"
		cmp -s "$d/sum1" "$d/sum3" ||
			fail "$what: replaying the journal twice changed the files: $(diff "$d/sum1" "$d/sum3" | head -n 6 | tr '\n' ' ')"
	fi
	check_db
}

# check_prefix COUNT MAX: the table is an unbroken 1..K (K = MAX, set as
# $k) that holds every acknowledged commit and at most the one in flight.
check_prefix() {
	[ $# -eq 2 ] || fail "$what: cannot read the table: $*"
	[ "$1" -eq "$2" ] || fail "$what: $1 rows but max(id)=$2: not an unbroken 1..K"
	[ "$2" -ge "$last" ] || fail "$what: LOST acknowledged commits: the table ends at id $2, the last acked id is $last"
	# The writer acks each commit as it returns: one more may have committed.
	[ "$2" -le $((last + 1)) ] || fail "$what: the table ends at id $2 but only $last commits had returned"
	k=$2
}

run_cases() {
	for case in $cases; do
		acked_frozen=0 replayed=0 cycles=0 mid_drain=0 after_drain=0
		echo "case $case:"
		i=1
		while [ "$i" -le "$reps" ]; do
			repetition
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
			[ "$mid_drain" -gt 0 ] || [ "$reps" -lt "$mid_drain_reps" ] ||
				fail "no kill of the drain case landed inside a drain (tests/kill_drain must be built with the shim's current shim/instance.h)"
		fi
		case_summary
	done
	d=
}
