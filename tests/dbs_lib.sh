# tests/dbs_lib.sh — sourced by the real-database tests (tests/dbs.mk).
#
#   . "$JETSNAP_SRCDIR/tests/dbs_lib.sh"
#   dbs_init NAME          temp dir $T, runtime dir $JETSNAP_RUNTIME_DIR (short) and
#                          state dir $JETSNAP_STATE_DIR (exported, mode 0700),
#                          cleanup on exit
#   run_as USER            from now on $asu runs a command as USER (created if
#                          missing), who owns both dirs and can enter $T:
#                          `$asu CMD ARG… &` execs in place, so $! is CMD's pid
#   fail MSG / skip MSG    "NAME: FAIL: MSG" and exit 1 / "NAME: SKIP: MSG" and exit 77
#   need_pkgs PKG...       install missing Debian packages (root), else skip
#   started PID            stop PID at exit (TERM, then KILL)
#   stop_all PID...        stop them now: TERM, two seconds, then KILL
#   stop_pid PID [SECS]    stop PID now with SIGTERM; $rc = its exit status, or
#                          "timeout" if it had to be killed after SECS (10)
#   lines FILE             its line count (0 if missing)
#   wait_acks FILE N PID ERRFILE SECONDS WHAT   until FILE has N lines
#   write_hold_script FILE the command a test gives `jetsnap snapshot` (below)
#   sql DB QUERY           SQLite: the result rows, columns separated by spaces
#   check_integrity DB WHAT   SQLite: PRAGMA integrity_check says "ok"
#   read_rows DB WHAT      SQLite: $count and $k (max(id)) of table t

builddir=${JETSNAP_BUILDDIR:-$(pwd)}
srcdir=${JETSNAP_SRCDIR:-$builddir}
# The real program, not the libtool wrapper: another user may not be able to
# run the wrapper (it may want to write into .libs).
jetsnap=$builddir/.libs/jetsnap
[ -x "$jetsnap" ] || jetsnap=${JETSNAP_BIN:-$builddir/jetsnap}
LD_LIBRARY_PATH=$builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
pids=
asu=

fail() { echo "$dbs_name: FAIL: $*" >&2; exit 1; }
skip() { echo "$dbs_name: SKIP: $*"; exit 77; }

need_pkgs() {
	missing=
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	[ "$(id -u)" -eq 0 ] || skip "missing Debian packages:$missing (apt-get install$missing)"
	echo "$dbs_name: installing$missing"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; } \
		> "$T/apt.log" 2>&1 || skip "apt-get install$missing failed: $(tail -3 "$T/apt.log")"
}

# Databases refuse root.  setpriv execs the command in place (runuser would
# fork and wait), so "$!" of a backgrounded `$asu CMD &` is CMD's own pid.
run_as() {
	[ "$(id -u)" -eq 0 ] || return 0	# already unprivileged: run as ourselves
	if ! id -u "$1" >/dev/null 2>&1; then
		useradd -r -M -s /usr/sbin/nologin "$1" || skip "useradd $1 failed"
	fi
	asu="setpriv --reuid=$1 --regid=$(id -g "$1") --init-groups --"
	chmod 755 "$T"
	chown "$1" "$JETSNAP_RUNTIME_DIR" "$JETSNAP_STATE_DIR"
}

started() { pids="$pids $1"; }

stop_pid() {
	kill -TERM "$1" 2>/dev/null
	tries=$((${2:-10} * 10))
	while kill -0 "$1" 2>/dev/null && [ "$tries" -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1"
		wait "$1"
		rc=timeout
	else
		wait "$1"
		rc=$?
	fi
	pids=$(echo "$pids" | sed "s/ $1\b//")
}

# A process left frozen by a failed step may not reach its signal handler:
# give it two seconds, then kill it for good.
stop_all() {
	for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
	for p in "$@"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		pids=$(echo "$pids" | sed "s/ $p\b//")
	done
}

dbs_cleanup() {
	stop_all $pids
	[ -n "${KEEP_TEST_DIR:-}" ] && { echo "$dbs_name: kept $T"; return 0; }
	rm -rf "$T" "$JETSNAP_RUNTIME_DIR"
}

dbs_init() {
	dbs_name=$1
	[ -x "$jetsnap" ] || { echo "$dbs_name: FAIL: $jetsnap is not built (run make)" >&2; exit 1; }
	T=$(mktemp -d "/tmp/$dbs_name.XXXXXX") || { echo "$dbs_name: FAIL: mktemp" >&2; exit 1; }
	JETSNAP_RUNTIME_DIR=$(mktemp -d /tmp/js.XXXXXX) || fail "mktemp failed"
	# The hold journal goes with the test, never into a home directory.
	JETSNAP_STATE_DIR=$T/state
	export JETSNAP_RUNTIME_DIR JETSNAP_STATE_DIR
	trap dbs_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	chmod 700 "$JETSNAP_RUNTIME_DIR"
	mkdir -m 700 "$JETSNAP_STATE_DIR"
}

lines() { if [ -f "$1" ]; then wc -l < "$1" | tr -d ' '; else echo 0; fi; }

wait_acks() {
	tries=$(($5 * 10))
	while [ "$(lines "$1")" -lt "$2" ]; do
		kill -0 "$3" 2>/dev/null || fail "the writer died $6: $(cat "$4")"
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "the writer has $(lines "$1") acks after $5 s, wanted $2 ($6)"
		sleep 0.1
	done
}

# write_hold_script FILE: FILE is the command run while frozen,
#   sh FILE DIR ACK OUT HOLD CMD...
# It notes the acks (OUT/acks_start) and the checksums of DIR's files
# (OUT/sum_start, sorted; SQLite's -shm wal-index, which is never held,
# left out) as soon as Freeze has returned, runs CMD (the copy), keeps the
# freeze HOLD seconds so the database has to work frozen, notes the acks
# half-way (OUT/acks_mid), and after HOLD seconds more notes both again
# (OUT/acks_end, OUT/sum_end) just before the thaw.
write_hold_script() {
	cat > "$1" <<'EOF'
set -eu
dir=$1 ack=$2 out=$3 hold=$4
shift 4
fingerprint() { (cd "$dir" && find . -type f ! -name '*-shm' -exec sha256sum {} + | LC_ALL=C sort); }
wc -l < "$ack" > "$out/acks_start"
fingerprint > "$out/sum_start"
"$@"
sleep "$hold"
wc -l < "$ack" > "$out/acks_mid"
sleep "$hold"
wc -l < "$ack" > "$out/acks_end"
fingerprint > "$out/sum_end"
EOF
}

sql() { sqlite3 -batch -separator ' ' "$1" "$2" 2>&1; }

check_integrity() {
	res=$(sql "$1" 'PRAGMA integrity_check')
	[ "$res" = ok ] || fail "integrity_check on $2 printed: $res"
}

read_rows() {
	rows_of=$2
	set -- $(sql "$1" 'SELECT count(*), coalesce(max(id), 0) FROM t')
	[ $# -eq 2 ] || fail "cannot read $rows_of: $*"
	count=$1 k=$2
}
