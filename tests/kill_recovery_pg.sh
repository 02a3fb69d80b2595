#!/bin/sh
# tests/kill_recovery_pg.sh — real kills with PostgreSQL (issue 5 item 3,
# SPEC "No data lost"); the SQLite counterpart is tests/kill_recovery.sh.
#
# Debian's PostgreSQL 15 (tests/pg_lib.sh: a throwaway user, a data dir made
# by `initdb --data-checksums`, fsync and synchronous_commit on, the client's
# table already 200 rows long) runs under `jetsnap exec`, with
# tests/pg_client committing one row per transaction and noting each
# acknowledged id.  Every process of the server is kill -9ed:
#   frozen  300–800 ms into a freeze (commits acknowledged through the hold
#           journal in the meantime);
#   drain   in the middle of the drain `jetsnap thaw` starts after 0.5–1 s
#           frozen (tests/kill_drain kills every process of the instance
#           once a random share of the held writes is applied);
#   append  0–200 ms into a freeze.
# Recovery alternates between a new process under the shim with the same
# state dir and `jetsnap recover --state-dir`, both as the server's user.
# Then: no journal is left; recovering again and replaying a saved copy of
# the journal again change no byte of the data dir; the server starts
# (PostgreSQL's own crash recovery), its ids are an unbroken 1..K with
# last-acked <= K <= last-acked + 1, `pg_amcheck --all --heapallindexed`
# passes and, once it is stopped, so does `pg_checksums --check`.
# KILL_SEED=N reruns the kill points, KILL_PG_REPS=N sets the repetitions (default 2)
# per case (default 3: a repetition takes seconds), KILL_CASES picks cases.
set -u
# The release check (make distcheck, from scripts/check) skips the slowest
# database tests: the same build's make check has just run them.
if [ -n "${JETSNAP_DISTCHECK:-}" ]; then echo "skipped in make distcheck: make check runs it"; exit 77; fi

builddir=${JETSNAP_BUILDDIR:-$(pwd)}
srcdir=${JETSNAP_SRCDIR:-$builddir}
client=$builddir/tests/pg_client
killdrain=$builddir/tests/kill_drain
user=jstest_pg
reps=${KILL_PG_REPS:-2}
seed=${KILL_SEED:-$(date +%s)}
cases=${KILL_CASES:-frozen drain append}
port=5432		# each server has its own socket dir and no TCP

fail() {
	echo "FAIL: $*" >&2
	[ -n "${d:-}" ] && [ -s "$d/journal.txt" ] && sed 's/^/  /' "$d/journal.txt" >&2
	echo "(rerun with KILL_SEED=$seed)" >&2
	KEEP_TEST_DIR=1
	exit 1
}
skip() { echo "SKIP: $*"; exit 77; }

[ -f "$srcdir/tests/pg_lib.sh" ] || skip "the PostgreSQL harness tests/pg_lib.sh is not in $srcdir"
. "$srcdir/tests/pg_lib.sh"
[ -x "$builddir/jetsnap" ] && [ -f "$builddir/.libs/libjetsnap-shim.so" ] ||
	fail "jetsnap and the shim are not built in $builddir (run make)"
[ -x "$client" ] || fail "$client is not built (run make check)"
[ -x "$killdrain" ] || fail "$killdrain is not built (run make check)"
command -v hexdump > /dev/null || skip "hexdump is missing (apt-get install bsdextrautils)"
pg_install || skip "$pg_why"

T=$(mktemp -d /tmp/jskp.XXXXXX) || fail "mktemp failed"
JETSNAP_RUNTIME_DIR=$(mktemp -d /tmp/js.XXXXXX) || fail "mktemp failed"
export JETSNAP_RUNTIME_DIR
unset JETSNAP_INSTANCE_FILE JETSNAP_PATHS JETSNAP_STATE_DIR JETSNAP_LOG
servers= others=

# Stop what we started, by pid: each server's tree, then the clients.
cleanup() {
	for p in $servers; do
		kill -KILL $(cat /proc/"$p"/task/*/children 2>/dev/null) "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for p in $others; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$JETSNAP_RUNTIME_DIR"
	if [ -n "${KEEP_TEST_DIR:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

mkdir -m 755 "$T/bin" && chmod 755 "$T" && pg_as_user "$user" "$T" "$JETSNAP_RUNTIME_DIR" ||
	fail "cannot hand $T and $JETSNAP_RUNTIME_DIR to the user $user"
pg_tools "$builddir" "$T/bin" || fail "cannot copy jetsnap, libjetsnap and the shim from $builddir"
$pg_as "$pgbin/initdb" -D "$T/template" --data-checksums -U postgres -A trust --no-sync \
	> "$T/initdb.log" 2>&1 || fail "initdb failed: $(tail -n 5 "$T/initdb.log")"
# The client's table with 200 rows already: past its first page, so its
# free space map exists.  Creating that file in a freeze waits for the thaw
# (a name change in a held directory), and would stall every repetition's
# commits at id 185 of a fresh table.
mkdir "$T/sock" && chown "$user:" "$T/sock" || fail "cannot make $T/sock"
$pg_as "$pgbin/postgres" -D "$T/template" -c port=$port -c listen_addresses= \
	-c unix_socket_directories="$T/sock" > "$T/template.log" 2>&1 &
pid=$!
servers=" $pid"
pg_wait_ready "$pid" "$T/sock" $port || fail "the template server did not start: $(tail -n 5 "$T/template.log")"
"$client" "host=$T/sock port=$port user=postgres dbname=postgres" --ack "$T/template.ack" --rows 200 \
	> "$T/template.out" 2>&1 || fail "cannot fill the template: $(cat "$T/template.out")"
pg_stop "$pid"
[ "$pg_rc" = 0 ] || fail "the template server did not stop cleanly ($pg_rc): $(tail -n 3 "$T/template.log")"
servers=

echo "seed $seed, $reps repetitions per case (rerun: KILL_SEED=$seed)"

rng=$seed
rnd() {
	rng=$(((rng * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff))
	r=$(((rng >> 33) % $1))
}
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
lines() { wc -l < "$1"; }
last_ack() { sed -n '$s/ .*//p' "$1"; }

wait_acks() {
	tries=$(($2 * 20))
	while [ "$(lines "$ack")" -lt "$1" ]; do
		kill -0 "$cpid" 2>/dev/null || fail "$what: the client died $3: $(cat "$d/client.err")"
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "$what: $(lines "$ack") commits after $2 s, wanted $1 ($3)"
		sleep 0.05
	done
}

# Every file of the data dir, by name and content.
fingerprint() { (cd "$data" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

# start: a fresh copy of the cluster, its server under the shim ($! is the
# postmaster: setpriv, env and jetsnap exec all exec in place), and the
# client, 20 commits in.
start() {
	d=$T/$case-$i name=kp-$case-$i
	data=$d/data ack=$d/ack
	mkdir -p "$d/sock" "$d/state" && chmod 700 "$d/state" && cp -a "$T/template" "$data" &&
		chown -R "$user:" "$d" || fail "$what: cannot prepare $d"
	: > "$ack"
	$pg_as env JETSNAP_STATE_DIR="$d/state" JETSNAP_PATHS="$data" JETSNAP_LOG="$d/shim.log" \
		"$jetsnap" exec --instance "$name" -- "$pgbin/postgres" -D "$data" -c port=$port \
		-c listen_addresses= -c unix_socket_directories="$d/sock" > "$d/server.log" 2>&1 &
	pid=$!
	servers="$servers $pid"
	pg_wait_ready "$pid" "$d/sock" $port ||
		fail "$what: the server did not start: $(tail -n 5 "$d/server.log")"
	"$client" "host=$d/sock port=$port user=postgres dbname=postgres" --ack "$ack" \
		> "$d/client.out" 2> "$d/client.err" &
	cpid=$!
	others="$others $cpid"
	wait_acks 20 30 "before the freeze"
}

freeze() {
	$pg_as "$jetsnap" freeze --instance "$name" --timeout 60000 > "$d/freeze.out" 2> "$d/freeze.err" ||
		fail "$what: jetsnap freeze exited $?: $(cat "$d/freeze.err")"
	snap=$(head -n 1 "$d/freeze.out")
	acks_frozen=$(lines "$ack")
}

# tree: the postmaster and its children (each in a session of its own, so
# no process group covers them).
tree() { echo "$pid" $(cat /proc/"$pid"/task/*/children 2>/dev/null); }

# reap: the postmaster died of SIGKILL, and every process of the tree is
# gone (the journal is replayed only once the whole instance is dead).
reap() {
	wait "$pid" 2>/dev/null
	rc=$?
	[ "$rc" -eq 137 ] || fail "$what: the server exited $rc, not by the kill: $(tail -n 5 "$d/server.log")"
	servers=$(echo "$servers" | sed "s/ $pid\\b//")
	for p in $members; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
		kill -0 "$p" 2>/dev/null && fail "$what: server process $p outlived the kill"
	done
	wait "$cpid" 2>/dev/null	# it lost its connection
	others=$(echo "$others" | sed "s/ $cpid\\b//")
}

kill_server() {
	kill -0 "$pid" 2>/dev/null || fail "$what: the server died before the kill: $(tail -n 5 "$d/server.log")"
	members=$(tree)
	kill -KILL $members 2>/dev/null
	reap
}

case_frozen() {
	freeze
	rnd 500
	sleep "$(secs $((300 + r)))"
	kill_server
	during=$(($(lines "$ack") - acks_frozen))
	[ "$during" -gt 0 ] ||
		fail "$what: no commit returned in $((300 + r)) ms frozen: the fsync waited for the thaw"
	acked_frozen=$((acked_frozen + during))
}

case_append() {
	freeze
	rnd 201
	sleep "$(secs "$r")"
	kill_server
	acked_frozen=$((acked_frozen + $(lines "$ack") - acks_frozen))
}

case_drain() {
	freeze
	rnd 500
	sleep "$(secs $((500 + r)))"
	acked_frozen=$((acked_frozen + $(lines "$ack") - acks_frozen))
	rnd 1000
	members=$(tree)
	# PID 0: kill_drain kills every member of the instance at once.
	{ "$killdrain" "$d/state/$pid.inst" 0 "$r" 10000 $pg_as "$jetsnap" thaw "$snap" \
		> "$d/kill.out" 2> "$d/thaw.out"; } 2>/dev/null ||
		fail "$what: $(cat "$d/kill.out" "$d/thaw.out")"
	reap
	case $(cat "$d/kill.out") in
	mid*) mid_drain=$((mid_drain + 1)); echo "  $what: killed in the drain, $(cut -d' ' -f2,3 "$d/kill.out" | sed 's| |/|') writes applied" ;;
	esac
}

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

recover() {
	if [ "$1" = exec ]; then
		$pg_as env JETSNAP_STATE_DIR="$d/state" JETSNAP_PATHS="$data" JETSNAP_LOG="$d/recover.log" \
			"$jetsnap" exec -- /bin/true 2>> "$d/recover.log" ||
			fail "$what: jetsnap exec -- /bin/true exited $?: $(cat "$d/recover.log")"
	else
		$pg_as "$jetsnap" recover --state-dir "$d/state" >> "$d/recover.log" 2>&1 ||
			fail "$what: jetsnap recover exited $?: $(cat "$d/recover.log")"
	fi
}

check_recovery() {
	last=$(last_ack "$ack")
	last=${last:-0}
	note_journal
	touch "$d/recover.log" && chown "$user:" "$d/recover.log"
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
		fail "$what: a second recovery changed the data dir: $(diff "$d/sum1" "$d/sum2" | head -n 6 | tr '\n' ' ')"
	if [ -f "$d/journal.copy" ]; then
		cp --sparse=always -p "$d/journal.copy" "$d/state/replay-again.inst"
		recover recover
		fingerprint > "$d/sum3"
		cmp -s "$d/sum1" "$d/sum3" ||
			fail "$what: replaying the journal twice changed the data dir: $(diff "$d/sum1" "$d/sum3" | head -n 6 | tr '\n' ' ')"
	fi

	# PostgreSQL's own crash recovery, without the shim.
	$pg_as "$pgbin/postgres" -D "$data" -c port=$port -c listen_addresses= \
		-c unix_socket_directories="$d/sock" > "$d/server2.log" 2>&1 &
	pid=$!
	servers="$servers $pid"
	pg_wait_ready "$pid" "$d/sock" $port ||
		fail "$what: the recovered cluster does not start: $(tail -n 5 "$d/server2.log")"
	set -- $(pg_sql "$d/sock" $port 'SELECT count(*), coalesce(max(id), 0) FROM jetsnap_ids')
	[ $# -eq 2 ] || fail "$what: cannot read the table: $*"
	[ "$1" -eq "$2" ] || fail "$what: $1 rows but max(id)=$2: not an unbroken 1..K"
	[ "$2" -ge "$last" ] || fail "$what: LOST acknowledged commits: the table ends at id $2, the last acked id is $last"
	[ "$2" -le $((last + 1)) ] || fail "$what: the table ends at id $2 but only $last commits had returned"
	k=$2
	pg_amcheck "$d/sock" $port "$d/amcheck.out" ||
		fail "$what: pg_amcheck --all --heapallindexed exited $?: $(head -c 600 "$d/amcheck.out")"
	pg_stop "$pid"
	[ "$pg_rc" = 0 ] || fail "$what: the recovered server did not stop cleanly ($pg_rc): $(tail -n 3 "$d/server2.log")"
	servers=$(echo "$servers" | sed "s/ $pid\\b//")
	pg_checksums "$data" "$d/checksums.out" ||
		fail "$what: pg_checksums --check exited $?: $(tail -n 4 "$d/checksums.out" | tr '\n' ' ')"
	echo "  $what: acked 1..$last, recovered 1..$k (${n:-0} writes replayed), amcheck and checksums ok"
}

for case in $cases; do
	acked_frozen=0 replayed=0 mid_drain=0
	echo "case $case:"
	i=1
	while [ "$i" -le "$reps" ]; do
		[ $((i % 2)) -eq 1 ] && how=exec || how=recover
		what="pg $case #$i (recovery by $how)"
		start
		"case_$case"
		check_recovery "$how"
		[ -z "${KEEP_TEST_DIR:-}" ] && rm -rf "$d"
		i=$((i + 1))
	done
	echo "case $case: $reps kills, all recovered; $acked_frozen commits acked while frozen, $replayed held writes replayed"
	if [ "$case" = drain ]; then
		echo "case drain: killed in the middle of the drain $mid_drain times"
		[ "$mid_drain" -gt 0 ] ||
			fail "no kill of the drain case landed inside a drain (tests/kill_drain must be built with the shim's current shim/instance.h)"
	fi
done
d=
exit 0
