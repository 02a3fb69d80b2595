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
# The kill, replay and check logic is tests/kill_lib.sh, shared with
# tests/kill_recovery.sh; the PostgreSQL parts are here.
set -u
# The release check (make distcheck, from scripts/check) skips the slowest
# database tests: the same build's make check has just run them.
if [ -n "${JETSNAP_DISTCHECK:-}" ]; then echo "skipped in make distcheck: make check runs it"; exit 77; fi

builddir=${JETSNAP_BUILDDIR:-$(pwd)}
srcdir=${JETSNAP_SRCDIR:-$builddir}
. "$srcdir/tests/kill_lib.sh"
client=$builddir/tests/pg_client
killdrain=$builddir/tests/kill_drain
user=jstest_pg
reps=${KILL_PG_REPS:-2}
cases=${KILL_CASES:-frozen drain append}
port=5432		# each server has its own socket dir and no TCP
freeze_timeout=60000

[ -f "$srcdir/tests/pg_lib.sh" ] || skip "the PostgreSQL harness tests/pg_lib.sh is not in $srcdir"
. "$srcdir/tests/pg_lib.sh"
[ -x "$builddir/jetsnap" ] && [ -f "$builddir/.libs/libjetsnap-shim.so" ] ||
	fail "jetsnap and the shim are not built in $builddir (run make)"
[ -x "$client" ] || fail "$client is not built (run make check)"
[ -x "$killdrain" ] || fail "$killdrain is not built (run make check)"
command -v hexdump > /dev/null || skip "hexdump is missing (apt-get install bsdextrautils)"
pg_install || skip "$pg_why"

kill_init jskp

mkdir -m 755 "$T/bin" && chmod 755 "$T" && pg_as_user "$user" "$T" "$JETSNAP_RUNTIME_DIR" ||
	fail "cannot hand $T and $JETSNAP_RUNTIME_DIR to the user $user"
kill_as=$pg_as
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
instances=" $pid"
pg_wait_ready "$pid" "$T/sock" $port || fail "the template server did not start: $(tail -n 5 "$T/template.log")"
"$client" "host=$T/sock port=$port user=postgres dbname=postgres" --ack "$T/template.ack" --rows 200 \
	> "$T/template.out" 2>&1 || fail "cannot fill the template: $(cat "$T/template.out")"
pg_stop "$pid"
[ "$pg_rc" = 0 ] || fail "the template server did not stop cleanly ($pg_rc): $(tail -n 3 "$T/template.log")"
instances=

# start: a fresh copy of the cluster, its server under the shim ($! is the
# postmaster: setpriv, env and jetsnap exec all exec in place), and the
# client, 20 commits in.  The server's user writes recover.log when a
# process under the shim replays the journal.
start() {
	d=$T/$case-$i name=kp-$case-$i
	data=$d/data ack=$d/ack held=$d/data
	mkdir -p "$d/sock" "$d/state" && chmod 700 "$d/state" && cp -a "$T/template" "$data" &&
		: > "$d/recover.log" && chown -R "$user:" "$d" || fail "$what: cannot prepare $d"
	: > "$ack"
	$pg_as env JETSNAP_STATE_DIR="$d/state" JETSNAP_PATHS="$held" JETSNAP_LOG="$d/shim.log" \
		"$jetsnap" exec --instance "$name" -- "$pgbin/postgres" -D "$data" -c port=$port \
		-c listen_addresses= -c unix_socket_directories="$d/sock" > "$d/server.log" 2>&1 &
	pid=$!
	instances="$instances $pid"
	victim=server victim_log=$d/server.log
	pg_wait_ready "$pid" "$d/sock" $port ||
		fail "$what: the server did not start: $(tail -n 5 "$d/server.log")"
	"$client" "host=$d/sock port=$port user=postgres dbname=postgres" --ack "$ack" \
		> "$d/client.out" 2> "$d/client.err" &
	cpid=$!
	clients="$clients $cpid"
	acker=$cpid acker_name=client acker_log=$d/client.err
	wait_acks 20 30 "before the freeze"
}

repetition() {
	[ $((i % 2)) -eq 1 ] && how=exec || how=recover
	what="pg $case #$i (recovery by $how)"
}

# PostgreSQL's own crash recovery, without the shim, then its checks.
check_db() {
	$pg_as "$pgbin/postgres" -D "$data" -c port=$port -c listen_addresses= \
		-c unix_socket_directories="$d/sock" > "$d/server2.log" 2>&1 &
	pid=$!
	instances="$instances $pid"
	pg_wait_ready "$pid" "$d/sock" $port ||
		fail "$what: the recovered cluster does not start: $(tail -n 5 "$d/server2.log")"
	check_prefix $(pg_sql "$d/sock" $port 'SELECT count(*), coalesce(max(id), 0) FROM jetsnap_ids')
	pg_amcheck "$d/sock" $port "$d/amcheck.out" ||
		fail "$what: pg_amcheck --all --heapallindexed exited $?: $(head -c 600 "$d/amcheck.out")"
	pg_stop "$pid"
	[ "$pg_rc" = 0 ] || fail "$what: the recovered server did not stop cleanly ($pg_rc): $(tail -n 3 "$d/server2.log")"
	forget "$pid"
	pg_checksums "$data" "$d/checksums.out" ||
		fail "$what: pg_checksums --check exited $?: $(tail -n 4 "$d/checksums.out" | tr '\n' ' ')"
	echo "  $what: acked 1..$last, recovered 1..$k ($n writes replayed), amcheck and checksums ok"
}

run_cases
exit 0
