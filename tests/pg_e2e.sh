#!/bin/sh
# tests/pg_e2e.sh — a real PostgreSQL 15 server (Debian's) runs under
# `jetsnap exec` as a throwaway unprivileged user, loopback only, data dir
# and socket in a temp dir, `initdb --data-checksums`.  While pgbench and
# tests/pg_client (sequential ids, one autocommit INSERT each, every
# acknowledged commit noted in an ack file) run against it,
# `jetsnap snapshot --instance pg -- cp -a DATA COPY` copies the data dir.
#   - the live data dir does not change while frozen (sha256 of every file);
#   - the copy starts as a server and recovers; `pg_amcheck --all
#     --heapallindexed` and, once it is stopped, `pg_checksums --check` pass;
#   - its ids are an unbroken prefix 1..K, with K >= the commits acknowledged
#     before `jetsnap snapshot` was called and K <= those acknowledged when
#     the command run while frozen started (+1, see below);
#   - after the thaw the live server keeps running and committing, holds every
#     acknowledged id and every transaction pgbench counted, and passes the
#     same checks (amcheck online, checksums once stopped).
# It prints pgbench's per-second progress and the commits made while frozen,
# which show whether (and how long) the database stalled in the freeze.
#
# Run as root, it runs the server and the jetsnap commands as the throwaway
# user jstest_pg (PostgreSQL refuses root) and installs postgresql-15 and
# postgresql-client-15 when missing; run as anyone else, as that user.
#
# For developing the harness only, PG_E2E_FREEZE picks how the copy is made:
#   jetsnap  (default) jetsnap snapshot, everything asserted;
#   sigstop  SIGSTOP the whole server tree around the copy (a crash-consistent
#            image, what any correct freeze must match), everything asserted;
#   none     no freeze at all: the checks that depend on the freeze are
#            printed, not asserted; the rest must pass.
set -u
# The release check (make distcheck, from scripts/check) skips the slowest
# database tests: the same build's make check has just run them.
if [ -n "${JETSNAP_DISTCHECK:-}" ]; then echo "skipped in make distcheck: make check runs it"; exit 77; fi

builddir=${JETSNAP_BUILDDIR:-$(pwd)}
srcdir=${JETSNAP_SRCDIR:-$builddir}
client=$builddir/tests/pg_client
user=jstest_pg
mode=${PG_E2E_FREEZE:-jetsnap}
hold=1			# seconds frozen before the copy and again after it
bench_seconds=10	# pgbench -T: spans the freeze with time on both sides

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

. "$srcdir/tests/pg_lib.sh"
case $mode in jetsnap|sigstop|none) ;; *) fail "PG_E2E_FREEZE is jetsnap, sigstop or none, not '$mode'" ;; esac
[ -x "$builddir/jetsnap" ] && [ -f "$builddir/.libs/libjetsnap-shim.so" ] ||
	fail "jetsnap and the shim are not built in $builddir (run make)"
[ -x "$client" ] || fail "$client is not built (run make check)"
pg_install || skip "$pg_why"

T=$(mktemp -d /tmp/jspg.XXXXXX) || fail "mktemp failed"
JETSNAP_RUNTIME_DIR=$(mktemp -d /tmp/js.XXXXXX) || fail "mktemp failed"
export JETSNAP_RUNTIME_DIR
unset JETSNAP_STATE_DIR JETSNAP_PATHS JETSNAP_INSTANCE
data=$T/data copy=$T/copy out=$T/out ack=$T/ack
servers= others= stopped=

# Stop what we started, by pid: clients first, then each server politely
# (SIGINT is PostgreSQL's fast shutdown), then for good.
cleanup() {
	for p in $stopped; do pg_kill_tree CONT "$p"; done
	for p in $others; do kill -TERM "$p" 2>/dev/null; done
	for p in $others; do wait "$p" 2>/dev/null; done
	for p in $servers; do
		pg_stop "$p"
		[ "$pg_rc" = timeout ] && pg_kill_tree KILL "$p" && wait "$p" 2>/dev/null
	done
	rm -rf "$T" "$JETSNAP_RUNTIME_DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

mkdir -m 755 "$T/bin" "$out" "$T/sock" "$T/sock2" && chmod 755 "$T" &&
	pg_as_user "$user" "$T" "$out" "$T/sock" "$T/sock2" "$JETSNAP_RUNTIME_DIR" ||
	fail "cannot hand $T and $JETSNAP_RUNTIME_DIR to the user $user"
pg_tools "$builddir" "$T/bin" || fail "cannot copy jetsnap, libjetsnap and the shim from $builddir"
$pg_as "$jetsnap" shim-path > /dev/null 2> "$T/err" || fail "jetsnap does not run as $user: $(cat "$T/err")"

failed=0
# An assertion failed: say so, go on with the checks that still make sense.
bad() { echo "FAIL: $*" >&2; failed=1; }
# The same for an assertion that only a freeze makes true.
bad_frozen() {
	if [ "$mode" = none ]; then echo "not asserted (PG_E2E_FREEZE=none): $*"; else bad "$*"; fi
}

lines() { if [ -f "$1" ]; then wc -l < "$1" | tr -d ' '; else echo 0; fi; }
now() { date +%s.%N; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

port=$(pg_free_port $((20000 + $$ % 20000)))
port2=$(pg_free_port $((port + 1)))

# start_server DIR SOCKDIR PORT LOG WHAT [WRAPPER…]: $server is its pid.
start_server() {
	d=$1 s=$2 p=$3 log=$4 what=$5
	shift 5
	$pg_as "$@" "$pgbin/postgres" -D "$d" -c port="$p" -c listen_addresses=127.0.0.1 \
		-c unix_socket_directories="$s" > "$log" 2>&1 &
	server=$!
	servers="$servers $server"
	pg_wait_ready "$server" "$s" "$p" ||
		fail "$what did not start to accept connections: $(tail -n 5 "$log")"
}

# stop_server PID LOG WHAT: fast shutdown; 0 if it exited cleanly.
stop_server() {
	pg_stop "$1"
	[ "$pg_rc" = timeout ] && { bad "$3 did not stop within 30 s of SIGINT: $(tail -n 3 "$2")"; return 1; }
	servers=$(echo $servers | sed "s/\\b$1\\b//")
	[ "$pg_rc" -eq 0 ] || { bad "$3 exited $pg_rc on SIGINT: $(tail -n 3 "$2")"; return 1; }
}

# check_amcheck SOCKDIR PORT WHAT BAD: heap and every index, all databases.
check_amcheck() {
	pg_amcheck "$1" "$2" "$T/amcheck.out" ||
		$4 "pg_amcheck --all --heapallindexed on $3 exited $?: $(head -c 600 "$T/amcheck.out")"
}

# check_checksums DIR WHAT BAD: every page's checksum, cluster stopped.
check_checksums() {
	pg_checksums "$1" "$T/checksums.out" ||
		$3 "pg_checksums --check on $2 exited $?: $(grep -v '^$' "$T/checksums.out" | tail -n 4 | tr '\n' ' ')"
}

# --- the live server, under the shim -------------------------------------
$pg_as "$pgbin/initdb" -D "$data" --data-checksums -U postgres -A trust --no-sync \
	> "$T/initdb.log" 2>&1 || fail "initdb failed: $(tail -n 5 "$T/initdb.log")"

# JETSNAP_PATHS: only the data dir is held (not the server's log).
start_server "$data" "$T/sock" "$port" "$T/server.log" "the server" \
	env JETSNAP_PATHS="$data" JETSNAP_LOG="$T/shim.log" "$jetsnap" exec --instance pg --
pgpid=$server

"$pgbin/pgbench" -i -s 1 -q -h "$T/sock" -p "$port" -U postgres postgres > "$T/init.out" 2>&1 ||
	fail "pgbench -i failed: $(tail -n 5 "$T/init.out")"

"$client" "host=$T/sock port=$port user=postgres dbname=postgres" --ack "$ack" \
	> "$T/client.out" 2> "$T/client.err" &
clientpid=$!
others="$others $clientpid"
bench_start=$(now)
"$pgbin/pgbench" -c 4 -j 2 -T "$bench_seconds" -P 1 -h "$T/sock" -p "$port" -U postgres postgres \
	> "$T/bench.out" 2> "$T/bench.err" &
benchpid=$!
others="$others $benchpid"

# wait_acks N SECONDS WHAT: until the client has N acknowledged commits.
wait_acks() {
	for _ in $(seq $(($2 * 10))); do
		[ "$(lines "$ack")" -ge "$1" ] && return 0
		kill -0 "$clientpid" 2>/dev/null || fail "the client died $3: $(cat "$T/client.err")"
		sleep 0.1
	done
	fail "the client has $(lines "$ack") commits after $2 s, wanted $1 ($3)"
}
wait_acks 300 20 "before the snapshot"
sleep 1	# pgbench up to speed too

# The command run while frozen: note the acks and the live files' checksums
# when it starts, keep the freeze a while so that a leak would show in the
# copy, copy, keep it again (the database has to work frozen), and note both
# again just before the thaw.
cat > "$T/inner.sh" <<'EOF'
set -eu
data=$1 copy=$2 ack=$3 out=$4 hold=$5
fingerprint() { (cd "$data" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
wc -l < "$ack" > "$out/acks_start"
date +%s.%N > "$out/t_start"
printf '%s\n' "${JETSNAP_SNAPSHOT_FILES:-}" > "$out/files"
fingerprint > "$out/sum_start"
sleep "$hold"
cp -a "$data" "$copy"
sleep "$hold"
wc -l < "$ack" > "$out/acks_end"
fingerprint > "$out/sum_end"
date +%s.%N > "$out/t_end"
EOF

acks_before=$(lines "$ack")
case $mode in
jetsnap)
	timeout 120 $pg_as "$jetsnap" snapshot --instance pg --timeout 60000 -- \
		sh "$T/inner.sh" "$data" "$copy" "$ack" "$out" "$hold" \
		> "$T/snap.out" 2> "$T/snap.err" ||
		fail "jetsnap snapshot exited $?: $(cat "$T/snap.err")"
	grep '^jetsnap snapshot:' "$T/snap.err"
	# The instance's databases are the files the whole tree writes.
	held=$(grep -c "^$data/" "$out/files")
	echo "the freeze held $held files of the data dir, $(grep -c "^$data/pg_wal/" "$out/files") in pg_wal"
	[ "$held" -gt 0 ] || bad "the freeze held no file of the data dir: $(head -c 300 "$out/files")"
	;;
sigstop)
	stopped=$pgpid
	pg_kill_tree STOP "$pgpid"
	$pg_as sh "$T/inner.sh" "$data" "$copy" "$ack" "$out" "$hold" 2> "$T/snap.err" ||
		fail "the copy failed: $(cat "$T/snap.err")"
	pg_kill_tree CONT "$pgpid"
	stopped=
	;;
none)
	$pg_as sh "$T/inner.sh" "$data" "$copy" "$ack" "$out" "$hold" 2> "$T/snap.err" ||
		fail "the copy failed: $(cat "$T/snap.err")"
	;;
esac
[ -s "$out/t_end" ] || fail "the snapshot command did not run to its end: $(cat "$T/snap.err")"
acks_start=$(tr -d ' ' < "$out/acks_start")
acks_end=$(tr -d ' ' < "$out/acks_end")
t_start=$(cat "$out/t_start") t_end=$(cat "$out/t_end")
kill -0 "$pgpid" 2>/dev/null || fail "the server died in the freeze: $(tail -n 5 "$T/server.log")"
cmp -s "$out/sum_start" "$out/sum_end" ||
	bad_frozen "live files changed while frozen: $(diff "$out/sum_start" "$out/sum_end" |
		sed -n 's/^> [0-9a-f]*  \.\///p' | head -n 8 | tr '\n' ' ')"

# --- the live server after the thaw ---------------------------------------
wait "$benchpid"
rc=$?
others=$(echo $others | sed "s/\\b$benchpid\\b//")
[ "$rc" -eq 0 ] || bad "pgbench exited $rc: $(tail -n 3 "$T/bench.err")"
wait_acks $((acks_end + 100)) 30 "after the thaw"
kill -TERM "$clientpid"
wait "$clientpid"
rc=$?
others=$(echo $others | sed "s/\\b$clientpid\\b//")
[ "$rc" -eq 0 ] || fail "the client exited $rc: $(cat "$T/client.err")"
final=$(sed -n 's/^committed //p' "$T/client.out")
[ -n "$final" ] || fail "the client did not print 'committed N': $(cat "$T/client.out" "$T/client.err")"
[ "$(lines "$ack")" -eq "$final" ] || bad "the ack file has $(lines "$ack") lines, the client committed $final"

set -- $(pg_sql "$T/sock" "$port" 'SELECT count(*), coalesce(max(id), 0) FROM jetsnap_ids')
[ $# -eq 2 ] || fail "cannot read jetsnap_ids on the live server: $*"
[ "$1" -eq "$final" ] && [ "$2" -eq "$final" ] ||
	bad "the live server has count=$1 max(id)=$2, the client had $final commits acknowledged"
bench_tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$T/bench.out")
history=$(pg_sql "$T/sock" "$port" 'SELECT count(*) FROM pgbench_history')
[ -n "$bench_tx" ] && [ "$history" = "$bench_tx" ] ||
	bad "the live server has $history pgbench_history rows, pgbench counted ${bench_tx:-?} transactions"
check_amcheck "$T/sock" "$port" "the live server" bad
stop_server "$pgpid" "$T/server.log" "the live server" &&
	check_checksums "$data" "the live data dir" bad
echo "live: ok so far: $final ids, $bench_tx pgbench transactions, amcheck and checksums run"

# --- the copy ---------------------------------------------------------------
rm -f "$copy/postmaster.pid"
start_server "$copy" "$T/sock2" "$port2" "$T/copy.log" "the copy's server"
copypid=$server
grep -q 'redo done\|database system was not properly shut down' "$T/copy.log" ||
	echo "note: the copy did not run crash recovery: $(grep -c . "$T/copy.log") log lines"
set -- $(pg_sql "$T/sock2" "$port2" 'SELECT count(*), coalesce(max(id), 0) FROM jetsnap_ids')
if [ $# -ne 2 ]; then
	bad_frozen "cannot read jetsnap_ids in the copy: $*"
else
	count=$1 k=$2
	echo "copy: acks before the snapshot $acks_before, copy has $count ids, max $k;" \
		"acks when frozen $acks_start, before the thaw $acks_end"
	[ "$count" -eq "$k" ] || bad_frozen "the copy has $count ids but max(id)=$k: not a prefix 1..K"
	[ "$k" -ge "$acks_before" ] ||
		bad_frozen "the copy ends at id $k but $acks_before commits had been acknowledged before the freeze"
	# The client acks a commit right after PQexec returns, so at most one
	# commit (returned but not yet acked when Freeze returned) may be in the
	# copy beyond the acks counted when the frozen command started.
	[ "$k" -le $((acks_start + 1)) ] ||
		bad_frozen "the copy ends at id $k but only $acks_start commits had been acknowledged when Freeze returned: writes leaked while frozen"
fi
check_amcheck "$T/sock2" "$port2" "the copy" bad_frozen
stop_server "$copypid" "$T/copy.log" "the copy's server" &&
	check_checksums "$copy" "the copy" bad_frozen

# --- what the freeze cost the database ---------------------------------------
echo "frozen for $(minus "$t_end" "$t_start") s (as seen by the command run frozen);" \
	"client commits while frozen: $((acks_end - acks_start))"
awk -v s="$(minus "$t_start" "$bench_start")" -v e="$(minus "$t_end" "$bench_start")" '
	/^progress:/ { t = $2 + 0; mark = (t > s && t - 1 < e) ? "  <- frozen" : "";
		print "pgbench " $0 mark }' "$T/bench.err"
grep -h '^jetsnap\[' "$T/shim.log" 2>/dev/null | grep -v 'serving\|hold log' | head -n 20

[ "$failed" -eq 0 ] || exit 1
echo "ok ($mode)"
exit 0
