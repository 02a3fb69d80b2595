#!/bin/sh
# tests/redis_e2e.sh — Debian's redis-server (AOF on, appendfsync everysec)
# runs under `jetsnap exec` as an unprivileged user on a loopback port, while
# tests/redis_client writes SET k:<n> <n> for n = 1, 2, … and records each
# acknowledged write.  `jetsnap snapshot -- cp -a DIR COPY` copies the data
# directory; inside the freeze a BGSAVE and a BGREWRITEAOF are triggered (each
# forks a child that writes a new file through stdio and renames it; the
# renames wait for the thaw).  Checks (issue 4 item 5):
#   - the live files that existed at Freeze do not change while frozen, and a
#     file created while frozen stays empty on disk (its writes are held);
#   - the copy passes redis-check-aof (and redis-check-rdb for a dump.rdb);
#   - a fresh server loads the copy and holds exactly k:1..k:K, with K at
#     least the writes acknowledged before the freeze began and at most one
#     more than those acknowledged when Freeze returned; the same for any
#     dump.rdb in the copy;
#   - after the thaw the server goes on, BGSAVE and BGREWRITEAOF complete,
#     it holds every acknowledged key, shuts down cleanly, and its files pass
#     both checkers; its AOF loads again with every acknowledged key, and the
#     BGSAVE's dump.rdb with the prefix written when it forked (while frozen).
set -u
# The release check (make distcheck, from scripts/check) skips the slowest
# database tests: the same build's make check has just run them.
if [ -n "${JETSNAP_DISTCHECK:-}" ]; then echo "skipped in make distcheck: make check runs it"; exit 77; fi
. "${JETSNAP_SRCDIR:-$(dirname "$0")/..}/tests/dbs_lib.sh"

dbs_init redis_e2e
need_pkgs redis-server redis-tools
run_as redis
shim=${JETSNAP_SHIM:-$builddir/.libs/libjetsnap-shim.so}
$asu test -r "$shim" && $asu test -x "$jetsnap" ||
	skip "user redis cannot read $shim or run $jetsnap (build in a directory other users can enter)"
client=$builddir/tests/redis_client
[ -x "$client" ] || fail "$client is not built (run make check)"
hold_half=0.5		# the snapshot command keeps the freeze twice this after copying

mkdir -p "$T/data" "$T/snap" "$T/log" "$T/out"
[ -z "$asu" ] || chown redis "$T/data" "$T/snap" "$T/log" "$T/out"

# A free loopback port: nothing answers PING on it.
free_port() {
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		p=$(shuf -i 20000-59999 -n 1)
		redis-cli -p "$p" ping > /dev/null 2>&1 || { echo "$p"; return 0; }
	done
	fail "found no free port"
}

# info PORT FIELD: one field of INFO, empty if the server does not answer
# within a second (its main thread may be waiting for the thaw).
info() { timeout 1 redis-cli -p "$1" info all 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"; }

# persistence PORT: $persist = the state of BGSAVE and BGREWRITEAOF, in one
# INFO call ("rdb_saves=1 aof_rewrites=1 0 0 0" once both are done).
persistence() {
	persist=$(timeout 1 redis-cli -p "$1" info persistence 2>/dev/null | tr -d '\r' | awk -F: '
		{ v[$1] = $2 }
		END { printf "rdb_saves=%s aof_rewrites=%s %s %s %s", v["rdb_saves"], v["aof_rewrites"],
			v["rdb_bgsave_in_progress"], v["aof_rewrite_in_progress"], v["aof_rewrite_scheduled"] }')
}
done_persist="rdb_saves=1 aof_rewrites=1 0 0 0"

# up PORT PID LOG: until the server on PORT, which must be PID, answers PING.
up() {
	for _ in $(seq 100); do
		kill -0 "$2" 2>/dev/null || fail "redis-server (pid $2) died at start: $(tail -5 "$3")"
		if [ "$(timeout 1 redis-cli -p "$1" ping 2>/dev/null)" = PONG ]; then
			[ "$(info "$1" process_id)" = "$2" ] ||
				fail "port $1 is served by pid $(info "$1" process_id), not by our redis-server $2"
			return 0
		fi
		sleep 0.1
	done
	fail "redis-server (pid $2) does not answer on port $1 after 10 s: $(tail -5 "$3")"
}

# server_args PORT DIR LOG APPENDONLY: our server configuration.
server_args() {
	echo "--port $1 --bind 127.0.0.1 --dir $2 --logfile $3 --appendonly $4 --appendfsync everysec --save '' --daemonize no"
}

# check_files DIR WHAT: redis-check-aof (and redis-check-rdb for dump.rdb).
check_files() {
	out=$(redis-check-aof "$1/appendonlydir/appendonly.aof.manifest" 2>&1) ||
		fail "redis-check-aof rejects $2: $out"
	case $out in *"manifest are valid"*) ;; *) fail "redis-check-aof on $2 printed: $out" ;; esac
	if [ -e "$1/dump.rdb" ]; then
		out=$(redis-check-rdb "$1/dump.rdb" 2>&1) || fail "redis-check-rdb rejects $2/dump.rdb: $out"
	fi
}

# load DIR APPENDONLY [N]: start a fresh server (no shim) on DIR and set $K,
# its k:1..k:K prefix (which must be N keys if given); stop it.
load() {
	ldir=$1 want=${3:-}
	lport=$(free_port)
	eval "set -- $(server_args "$lport" "$ldir" "$T/log/load.log" "$2")"
	$asu redis-server "$@" >> "$T/log/load.out" 2>&1 &
	lpid=$!
	started "$lpid"
	up "$lport" "$lpid" "$T/log/load.log"
	K=$("$client" check "$lport" $want 2>&1) || fail "the server loaded from $ldir does not hold the expected keys: $K"
	K=${K#prefix }
	stop_pid "$lpid"
	[ "$rc" = 0 ] || fail "the server loaded from $ldir exited $rc: $(tail -5 "$T/log/load.log")"
}

# The copy, run as the server's user while frozen by the hold script of
# tests/dbs_lib.sh, which notes the acks and the live files' checksums as
# soon as Freeze has returned, and after the copy keeps the freeze a while
# (noting the acks half-way) and notes both again before the thaw: trigger
# BGSAVE and BGREWRITEAOF, give them a few seconds (they cannot finish:
# their renames wait for the thaw), copy the data directory.
write_hold_script "$T/hold.sh"
cat > "$T/copy.sh" <<'EOF'
set -u
data=$1 copy=$2 out=$3 port=$4
# BGSAVE first, and BGREWRITEAOF once it has answered: the rewrite is then
# scheduled behind the BGSAVE child (the other order would refuse the BGSAVE).
timeout 40 redis-cli -p "$port" bgsave > "$out/bgsave" 2>&1 &
for _ in $(seq 30); do [ -s "$out/bgsave" ] && break; sleep 0.1; done
timeout 40 redis-cli -p "$port" bgrewriteaof > "$out/bgrewriteaof" 2>&1 &
# Up to 3 s, whether or not the server answers (its main thread may wait).
end=$(($(date +%s) + 3))
while [ "$(date +%s)" -lt "$end" ]; do
	st=$(timeout 1 redis-cli -p "$port" info persistence 2>/dev/null | tr -d '\r' |
		grep -E '^(rdb_saves|aof_rewrites|rdb_bgsave_in_progress|aof_rewrite_in_progress|aof_rewrite_scheduled):' | sort | tr '\n' ' ')
	[ "$st" = "aof_rewrite_in_progress:0 aof_rewrite_scheduled:0 aof_rewrites:1 rdb_bgsave_in_progress:0 rdb_saves:1 " ] &&
		{ echo done > "$out/persist_while_frozen"; break; }
	sleep 0.1
done
cp -a "$data" "$copy"
EOF

# ---- the live server, under the shim, and the writer ------------------------
port=$(free_port)
# JETSNAP_PATHS holds the data directory, not the server's log.
eval "set -- $(server_args "$port" "$T/data" "$T/log/live.log" yes)"
$asu env JETSNAP_PATHS="$T/data" "$jetsnap" exec --instance redis -- redis-server "$@" \
	> "$T/log/live.out" 2>&1 &
srv=$!
started "$srv"
up "$port" "$srv" "$T/log/live.log"

ack=$T/ack
: > "$ack"
"$client" write "$port" "$ack" > "$T/out/client.out" 2> "$T/out/client.err" &
cli=$!
started "$cli"
wait_acks "$ack" 5000 "$cli" "$T/out/client.err" 20 "before the snapshot"

# ---- the snapshot ---------------------------------------------------------------
acks_before=$(lines "$ack")
timeout 50 $asu "$jetsnap" snapshot --instance redis --timeout 40000 -- \
	sh "$T/hold.sh" "$T/data" "$ack" "$T/out" "$hold_half" \
	sh "$T/copy.sh" "$T/data" "$T/snap/copy" "$T/out" "$port" \
	> "$T/out/snap.out" 2> "$T/out/snap.err" ||
	fail "jetsnap snapshot exited $?: $(cat "$T/out/snap.err") (redis log: $(tail -5 "$T/log/live.log"))"
[ -s "$T/out/acks_end" ] || fail "the snapshot command did not finish"
acks_start=$(cat "$T/out/acks_start") acks_mid=$(cat "$T/out/acks_mid") acks_end=$(cat "$T/out/acks_end")
kill -0 "$srv" 2>/dev/null || fail "redis-server died while frozen: $(tail -5 "$T/log/live.log")"
echo "acks before freeze $acks_before, when frozen $acks_start, half-way $acks_mid, before thaw $acks_end;" \
	"BGSAVE+BGREWRITEAOF finished while frozen: $([ -e "$T/out/persist_while_frozen" ] && echo yes || echo no)"

# Held files unchanged, and nothing new reached the disk while frozen.
gone=$(LC_ALL=C comm -23 "$T/out/sum_start" "$T/out/sum_end")
[ -z "$gone" ] || fail "live files changed or vanished while frozen: $gone (now: $(cat "$T/out/sum_end"))"
empty=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
new=$(LC_ALL=C comm -13 "$T/out/sum_start" "$T/out/sum_end" | grep -v "^$empty " || true)
[ -z "$new" ] || fail "files created while frozen have data on disk (their writes were not held): $new"

# ---- the copy -------------------------------------------------------------------
copy=$T/snap/copy
check_files "$copy" "the copy"
if [ -e "$copy/dump.rdb" ]; then
	mkdir "$T/snap/rdb"
	cp "$copy/dump.rdb" "$T/snap/rdb/"
	[ -z "$asu" ] || chown -R redis "$T/snap/rdb"
fi
load "$copy" yes
echo "the copy holds k:1..k:$K"
[ "$K" -ge "$acks_before" ] ||
	fail "the copy ends at k:$K but $acks_before writes were acknowledged before the freeze began"
# The client acks right after each reply, so at most the write in flight
# when Freeze returned may be in the copy beyond the acks counted then.
[ "$K" -le $((acks_start + 1)) ] ||
	fail "the copy ends at k:$K but only $acks_start writes were acknowledged when Freeze returned: writes leaked while frozen"
if [ -e "$T/snap/rdb/dump.rdb" ]; then
	# Only our BGSAVE makes one (--save ''): made while frozen, it must not
	# hold what was acknowledged after Freeze returned either.
	load "$T/snap/rdb" no
	echo "the copy's dump.rdb holds k:1..k:$K"
	[ "$K" -ge "$acks_before" ] && [ "$K" -le $((acks_start + 1)) ] ||
		fail "the copy's dump.rdb ends at k:$K, outside [$acks_before, $((acks_start + 1))]: it was written while frozen"
fi

# ---- after the thaw ---------------------------------------------------------------
wait_acks "$ack" $((acks_end + 1000)) "$cli" "$T/out/client.err" 20 "after the thaw"
end=$(($(date +%s) + 20))
persistence "$port"
while [ "$persist" != "$done_persist" ] && [ "$(date +%s)" -lt "$end" ]; do
	sleep 0.1
	persistence "$port"
done
[ "$persist" = "$done_persist" ] ||
	fail "BGSAVE/BGREWRITEAOF did not complete within 20 s of the thaw: $persist (in progress, in progress, scheduled)"
[ "$(info "$port" rdb_last_bgsave_status)" = ok ] && [ "$(info "$port" aof_last_bgrewrite_status)" = ok ] &&
	[ "$(info "$port" aof_last_write_status)" = ok ] ||
	fail "a save failed: rdb_last_bgsave_status=$(info "$port" rdb_last_bgsave_status) aof_last_bgrewrite_status=$(info "$port" aof_last_bgrewrite_status) aof_last_write_status=$(info "$port" aof_last_write_status)"
grep -q '^Background saving started' "$T/out/bgsave" ||
	fail "BGSAVE answered: $(cat "$T/out/bgsave")"
grep -Eq '^Background append only file rewriting (started|scheduled)' "$T/out/bgrewriteaof" ||
	fail "BGREWRITEAOF answered: $(cat "$T/out/bgrewriteaof")"

stop_pid "$cli"
[ "$rc" = 0 ] || fail "the client exited $rc: $(cat "$T/out/client.err")"
acked=$(sed -n 's/^acked //p' "$T/out/client.out")
[ -n "$acked" ] && [ "$(lines "$ack")" -eq "$acked" ] ||
	fail "the client says '$(cat "$T/out/client.out")', the ack file has $(lines "$ack") lines"
out=$("$client" check "$port" "$acked" 2>&1) || fail "the live server after the thaw: $out"
echo "the live server holds all $acked acknowledged writes"

stop_pid "$srv" 20
[ "$rc" = 0 ] || fail "redis-server exited $rc at shutdown: $(tail -5 "$T/log/live.log")"
check_files "$T/data" "the live data directory"
[ -e "$T/data/dump.rdb" ] || fail "BGSAVE left no dump.rdb in the live data directory"
load "$T/data" yes "$acked"
# The BGSAVE forked while frozen, after the acks were counted at Freeze and
# before they were counted half-way: its dump.rdb (written through stdio,
# held, drained at the thaw) is the state of that moment.
mkdir "$T/snap/live-rdb"
cp "$T/data/dump.rdb" "$T/snap/live-rdb/"
[ -z "$asu" ] || chown -R redis "$T/snap/live-rdb"
load "$T/snap/live-rdb" no
[ "$K" -ge "$acks_start" ] && [ "$K" -le $((acks_mid + 1)) ] ||
	fail "the BGSAVE made while frozen holds k:1..k:$K, outside [$acks_start, $((acks_mid + 1))]"
echo "ok: the live AOF holds all $acked writes, the BGSAVE's dump.rdb k:1..k:$K"
exit 0
