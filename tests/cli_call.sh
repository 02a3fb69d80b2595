#!/bin/sh
# "jetsnap call", the libffi bridge: argument syntax, the API's checks on
# invalid arguments, and a whole session driven call by call, each call in
# its own process.
. "${JETSNAP_SRCDIR:-$(dirname "$0")/..}/tests/cli_lib.sh"

# call_is RC RESULT FUNCTION ARG...: the call exits RC and prints RESULT first.
call_is() {
	call_rc=$1
	call_result=$2
	shift 2
	if expect "$call_rc" "$js" call "$@"; then
		[ "$(first_line "$out")" = "$call_result" ] && pass "$1 gives $call_result" ||
			fail "'call $*' printed '$(first_line "$out")', expected '$call_result'"
	fi
}

# output NAME: the value of the NAME=value line of the last call.
output() {
	printf '%s\n' "$out" | sed -n "s/^$1=//p" | sed -n 1p
}

# --- malformed calls: exit 2, one line -----------------------------------
for args in "NoSuchFunction" "JetOSSnapshotThaw u:0" "JetOSSnapshotThaw u:0 u:0 u:0" \
	"JetOSSnapshotThaw z:1 u:0" "JetOSSnapshotThaw 5 u:0" "JetOSSnapshotThaw u:-1 u:0" \
	"JetOSSnapshotThaw u:1 u:4294967296" "JetOSSnapshotThaw u:1 i:-2147483649" \
	"JetOSSnapshotThaw u:1 x:1g" "JetOSSnapshotThaw u: u:0" "JetOSSnapshotThaw null u:0" \
	"JetOSSnapshotPrepare s:x u:0" "JetOSSnapshotPrepare out out" \
	"JetOSSnapshotFreeze u:1 out s:x u:0" "JetFreeBuffer out" \
	"JetSetSystemParameter null u:0 u:82 u:1 t:x" \
	"JetGetSystemParameter u:0 u:0 u:82 out out u:99999999999" \
	"JetsnapLastReason u:0"; do
	# shellcheck disable=SC2086 # the words are the arguments
	if expect 2 "$js" call $args; then
		[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && pass "call $args: one-line usage error" ||
			fail "call $args: usage error is not one line: $err"
	fi
done
if expect 0 "$js" call --help; then
	has "$out" "JetOSSnapshotFreeze" "call --help lists the functions"
	has "$out" "JetsnapListInstances" "call --help lists the extensions"
fi

# --- the API's argument checks, no instance needed -----------------------
inval="JET_errInvalidParameter (-1003)"
call_is 1 "$inval" JetOSSnapshotThaw u:0 u:0
call_is 1 "$inval" JetOSSnapshotPrepare null u:0
call_is 1 "$inval" JetOSSnapshotPrepare out x:0x10
call_is 1 "$inval" JetOSSnapshotPrepare out i:-1
call_is 1 "$inval" JetOSSnapshotThaw u:1 u:1
call_is 1 "$inval" JetOSSnapshotAbort u:1 x:1
call_is 1 "$inval" JetOSSnapshotEnd u:1 x:2
call_is 1 "$inval" JetOSSnapshotFreeze u:1 null out u:0
call_is 1 "$inval" JetOSSnapshotFreeze u:1 out null u:0
call_is 1 "$inval" JetOSSnapshotGetFreezeInfo u:0 out out u:0
call_is 1 "$inval" JetOSSnapshotTruncateLog u:1 x:2
call_is 1 "$inval" JetGetInstanceInfo null out
call_is 1 "$inval" JetSetSystemParameter null u:0 u:9999 u:0 null
call_is 1 "JET_errOSSnapshotInvalidSnapId (-2404)" JetOSSnapshotThaw x:7fffffffffffffff u:0
call_is 0 "JET_errSuccess (0)" JetFreeBuffer null
call_is 0 "JET_errOSSnapshotTimeOut" JetsnapErrorName i:-2402
if expect 0 "$js" call JetGetSystemParameter u:0 u:0 u:82 out null u:0; then
	[ "$(output lParam)" = 70000 ] && pass "the default OS snapshot timeout is 70000 ms" ||
		fail "JetGetSystemParameter gave lParam=$(output lParam), expected 70000"
fi
call_is 1 "JET_errNotInitialized (-1029)" JetOSSnapshotPrepare out u:0
call_is 0 "JET_errSuccess (0)" JetsnapListInstances out out
[ "$(output cInstances)" = 0 ] && pass "no instance is listed yet" ||
	fail "JetsnapListInstances listed $(output cInstances) instances before any started"

# --- a session, one call per process -------------------------------------
skip_without_shim
data=$tmp/data.log
start_target t2 "$data" || finish
pid=$target_pid
path=$(readlink -f "$data")

call_is 0 "JET_errSuccess (0)" JetGetInstanceInfo out out
[ "$(output cInstanceInfo)" = 1 ] && [ "$(output 'instance\[0\]\.name')" = t2 ] &&
	[ "$(output 'instance\[0\]\.id')" = "$pid" ] && pass "JetGetInstanceInfo finds t2" ||
	fail "JetGetInstanceInfo printed: $out"
call_is 0 "JET_errSuccess (0)" JetsnapListInstances out out
[ "$(output 'instance\[0\]\.state')" = running ] && pass "JetsnapListInstances: t2 runs" ||
	fail "JetsnapListInstances printed: $out"

# ExplicitPrepare: enroll t2 by name, freeze, look, thaw from another process.
call_is 0 "JET_errSuccess (0)" JetOSSnapshotPrepare out x:0x8
id=$(output snapId)
case $id in '' | 0 | *[!0-9]*) fail "Prepare gave snapId='$id'"; finish ;; esac
call_is 1 "$inval" JetOSSnapshotPrepareInstance "u:$id" u:999999999 u:0
call_is 0 "JET_errSuccess (0)" JetOSSnapshotPrepareInstance "u:$id" inst:t2 u:0
call_is 1 "JET_errOSSnapshotInvalidSequence (-2401)" JetOSSnapshotThaw "u:$id" u:0
call_is 1 "$inval" JetOSSnapshotFreeze "u:$id" out out x:1
if expect 0 "$js" call JetOSSnapshotFreeze "u:$id" out out u:0; then
	[ "$(output cInstanceInfo)" = 1 ] && pass "Freeze returns one instance" ||
		fail "Freeze returned cInstanceInfo=$(output cInstanceInfo)"
	[ "$(output 'instance\[0\]\.name')" = t2 ] && pass "Freeze names t2" ||
		fail "Freeze printed: $out"
	[ "$(output 'instance\[0\]\.database\[0\]')" = "$path" ] && pass "Freeze lists the file" ||
		fail "Freeze printed: $out"
	call_is 0 "JET_errSuccess (0)" JetOSSnapshotGetFreezeInfo "u:$id" out out u:0
	[ "$(output 'instance\[0\]\.database\[0\]')" = "$path" ] &&
		pass "GetFreezeInfo lists the file" || fail "GetFreezeInfo printed: $out"
	call_is 1 "JET_errOSSnapshotInvalidSequence (-2401)" JetOSSnapshotFreeze "u:$id" out out u:0
	expect 0 "$js" status "$id"
	has "$(first_line "$out")" "frozen" "status sees the call-made freeze"
	call_is 0 "JET_errSuccess (0)" JetOSSnapshotThaw "u:$id" u:0
	# Without ContinueAfterThaw the thaw ended the session.
	call_is 1 "JET_errOSSnapshotInvalidSnapId (-2404)" JetOSSnapshotThaw "u:$id" u:0
fi

# ContinueAfterThaw: the session lives on after the thaw until End.
call_is 0 "JET_errSuccess (0)" JetOSSnapshotPrepare out x:0x4
id=$(output snapId)
call_is 0 "JET_errSuccess (0)" JetOSSnapshotFreeze "u:$id" out out u:0
call_is 0 "JET_errSuccess (0)" JetOSSnapshotThaw "u:$id" u:0
call_is 0 "JET_errSuccess (0)" JetOSSnapshotTruncateLog "u:$id" u:0
call_is 0 "JET_errSuccess (0)" JetOSSnapshotEnd "u:$id" u:0
call_is 1 "JET_errOSSnapshotInvalidSnapId (-2404)" JetOSSnapshotEnd "u:$id" u:0

# The thaw of a CLI freeze, by call.
if expect 0 "$js" freeze --instance t2; then
	id=$(first_line "$out")
	call_is 0 "JET_errSuccess (0)" JetOSSnapshotAbort "u:$id" u:0
fi

stop_target "$pid"
finish
