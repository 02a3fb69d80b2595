#!/bin/sh
# The jetsnap tool: usage errors, help, shim-path, then list, freeze, status,
# thaw, abort, end and snapshot against a real instance (tests/cli_target
# started with "jetsnap exec").
. "${JETSNAP_SRCDIR:-$(dirname "$0")/..}/tests/cli_lib.sh"

# --- usage errors: exit 2 and say what is wrong in one line ---------------
usage_error() {
	if expect 2 "$@"; then
		has "$err" "jetsnap" "'$*' explains the usage error"
		[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] ||
			fail "'$*': the usage error is not one line: $err"
	fi
}
usage_error "$js"
usage_error "$js" bogus
usage_error "$js" --bogus
usage_error "$js" freeze --bogus
usage_error "$js" freeze extra
usage_error "$js" freeze --timeout
usage_error "$js" freeze --timeout soon
usage_error "$js" freeze --timeout -5
usage_error "$js" freeze --instance ""
usage_error "$js" thaw
usage_error "$js" thaw abc
usage_error "$js" thaw 1 2
usage_error "$js" abort
usage_error "$js" end --abort
usage_error "$js" end -x 1
usage_error "$js" status 1 2
usage_error "$js" status x
usage_error "$js" list extra
usage_error "$js" list --bogus
usage_error "$js" exec
usage_error "$js" exec --instance
usage_error "$js" snapshot
usage_error "$js" snapshot --timeout 100
usage_error "$js" shim-path extra
usage_error "$js" call
usage_error "$js" help nosuchcommand
usage_error "$js" recover extra
expect 0 "$js" recover --state-dir /nonexistent

# --- help and version ----------------------------------------------------
if expect 0 "$js" --help; then
	has "$out" "Usage: jetsnap" "jetsnap --help shows the usage"
fi
expect 0 "$js" -h
expect 0 "$js" help
if expect 0 "$JETSNAP_BIN" --version; then
	has "$out" "jetsnap " "--version names the tool"
fi
for c in exec shim-path list freeze thaw abort end status snapshot call recover; do
	if expect 0 "$js" "$c" --help; then
		has "$out" "jetsnap $c" "'jetsnap $c --help' names the command"
		[ -z "$err" ] || fail "'jetsnap $c --help' wrote to stderr: $err"
	fi
	expect 0 "$js" help "$c"
	has "$out" "jetsnap $c" "'jetsnap help $c' names the command"
done
expect 0 "$js" freeze -h

# --- the shim ------------------------------------------------------------
skip_without_shim
if expect 0 "$js" shim-path; then
	[ -f "$out" ] && pass "shim-path prints an existing file" ||
		fail "shim-path printed '$out', which is not a file"
	case $out in /*) pass "shim-path is absolute" ;; *) fail "shim-path '$out' is relative" ;; esac
fi
# Without JETSNAP_SHIM, a jetsnap in the build tree finds the built shim.
if expect 0 env -u JETSNAP_SHIM "$js" shim-path; then
	[ "$out" -ef "$JETSNAP_SHIM" ] && pass "shim-path finds the built shim" ||
		fail "shim-path without JETSNAP_SHIM gave '$out', not $JETSNAP_SHIM"
fi
if expect 1 env JETSNAP_SHIM=/nonexistent/shim.so "$js" shim-path; then
	has "$err" "JETSNAP_SHIM" "a wrong JETSNAP_SHIM is named"
fi
expect 127 "$js" exec -- /nonexistent/program
# The hold journal may not lie inside the held files.
expect 1 env JETSNAP_PATHS="$tmp" JETSNAP_STATE_DIR="$tmp/state" "$js" exec -- true
has "$err" "lies inside JETSNAP_PATHS" "exec refuses a state directory inside JETSNAP_PATHS"

# exec prepends the shim to LD_PRELOAD and names the instance.
if expect 0 env LD_PRELOAD=libc.so.6 "$js" exec --instance named -- \
	sh -c 'printf "%s\n%s\n" "$LD_PRELOAD" "$JETSNAP_INSTANCE"'; then
	[ "$(first_line "$out")" = "$JETSNAP_SHIM:libc.so.6" ] &&
		pass "exec prepends the shim to LD_PRELOAD" ||
		fail "exec set LD_PRELOAD='$(first_line "$out")'"
	has "$out" "named" "exec sets JETSNAP_INSTANCE"
fi

# --- nothing running -----------------------------------------------------
if expect 0 "$js" list; then
	has "$out" "NAME" "list prints its header with nothing running"
	lacks "$out" "cli_target" "list shows no instance yet"
fi
if expect 1 "$js" freeze; then
	has "$err" "JET_errNotInitialized (-1029)" "freeze with nothing running"
fi

# --- one instance --------------------------------------------------------
data=$tmp/data.log
start_target t1 "$data" || finish
pid=$target_pid
path=$(readlink -f "$data")

if expect 0 "$js" list; then
	has "$out" "t1" "list shows the instance's name"
	has "$out" "$pid" "list shows the instance's pid"
	has "$out" "running" "list shows the instance running"
fi
if expect 0 "$js" list --json; then
	has "$out" "\"name\":\"t1\"" "list --json names the instance"
	has "$out" "\"pid\":$pid" "list --json gives the pid"
fi
expect 0 "$js" status
has "$out" "t1" "status without an id lists the instances"

if expect 1 "$js" freeze --instance nosuch; then
	has "$err" "'nosuch'" "freeze names the unknown instance"
fi

# freeze, status, a second freeze, thaw, a second thaw
if expect 0 "$js" freeze; then
	id=$(first_line "$out")
	case $id in
	'' | *[!0-9]*) fail "freeze's first line '$id' is not a snapshot id" ;;
	*) pass "freeze printed snapshot id $id" ;;
	esac
	[ "$(printf '%s\n' "$out" | sed -n 2p)" = "$path" ] &&
		pass "freeze printed the frozen file" ||
		fail "freeze printed '$out', expected the id then $path"
	size=$(size_of "$data")
	sleep 0.3
	[ "$(size_of "$data")" = "$size" ] && pass "the file does not change while frozen" ||
		fail "the file grew from $size to $(size_of "$data") bytes while frozen"

	if expect 0 "$js" status "$id"; then
		has "$(first_line "$out")" "frozen" "status says frozen"
		has "$out" "$path" "status lists the frozen file"
	fi
	if expect 0 "$js" status --json "$id"; then
		has "$out" "\"state\":\"frozen\"" "status --json says frozen"
	fi
	expect 0 "$js" list
	has "$out" "frozen" "list shows the instance frozen"

	if expect 1 "$js" freeze; then
		has "$err" "JET_err" "a second freeze names the JET_ERR"
	fi
	if expect 1 "$js" freeze --instance t1; then
		has "$err" "JET_errOSSnapshotNotAllowed" "freezing an instance of another session"
	fi

	expect 0 "$js" thaw "$id"
	sleep 0.3
	[ "$(size_of "$data")" -gt "$size" ] && pass "the file grows again after thaw" ||
		fail "the file stayed at $size bytes after thaw"
	if expect 1 "$js" thaw "$id"; then
		has "$err" "JET_errOSSnapshotInvalidSnapId (-2404)" "a second thaw"
	fi
	expect 1 "$js" status "$id"
fi

# freeze by name, then abort
if expect 0 "$js" freeze --instance t1 --instance "$pid"; then
	id=$(first_line "$out")
	expect 0 "$js" abort "$id"
	if expect 1 "$js" thaw "$id"; then
		has "$err" "JET_errOSSnapshotInvalidSnapId" "thaw after abort"
	fi
fi

# end: not while frozen, unless aborting
if expect 0 "$js" freeze; then
	id=$(first_line "$out")
	if expect 1 "$js" end "$id"; then
		has "$err" "JET_errOSSnapshotInvalidSequence (-2401)" "end while frozen"
	fi
	expect 0 "$js" end --abort "$id"
	expect 1 "$js" end "$id"
fi

# snapshot
if expect 0 "$js" snapshot -- true; then
	has "$err" "thawed" "snapshot's summary says thawed"
	has "$err" "1 file" "snapshot's summary counts the files"
fi
if expect 0 "$js" snapshot -v --instance t1 -- sh -c '
	test -n "$JETSNAP_SNAPSHOT_ID" || exit 3
	test "$JETSNAP_SNAPSHOT_FILES" = "$1" || exit 4
	a=$(cksum <"$1"); sleep 0.3; b=$(cksum <"$1")
	test "$a" = "$b" || exit 5' sh "$path"; then
	has "$err" "$path" "snapshot -v prints the frozen files"
fi
run "$js" snapshot -- false
if [ "$rc" -ne 0 ]; then
	pass "snapshot -- false exits $rc"
	has "$err" "aborted" "snapshot aborts when the command fails"
else
	fail "snapshot -- false exited 0"
fi
expect 127 "$js" snapshot -- /nonexistent/program
# Run from inside an instance (a backup hook), jetsnap leaves it first, so
# that the command it runs is not frozen with the instance.
if expect 0 env LD_PRELOAD="$JETSNAP_SHIM" "$js" snapshot --instance t1 -- \
	sh -c 'printf "[%s]\n" "$LD_PRELOAD"'; then
	[ "$out" = "[]" ] && pass "snapshot's command runs without the shim" ||
		fail "snapshot's command ran with LD_PRELOAD=$out"
fi
# A SIGTERM for snapshot reaches its command, and the snapshot is aborted.
# (A long timeout: on a loaded machine the freeze must not expire first.)
"$js" snapshot --timeout 120000 --instance t1 -- sleep 30 >/dev/null 2>"$tmp/term.err" &
snap_pid=$!
i=0
until "$js" list | grep -q frozen || [ $i -ge 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill -TERM "$snap_pid"
wait "$snap_pid"
rc=$?
[ "$rc" -eq 143 ] && pass "snapshot killed by SIGTERM exits 143" ||
	fail "snapshot killed by SIGTERM exited $rc: $(cat "$tmp/term.err")"
has "$(cat "$tmp/term.err")" "aborted" "snapshot aborts when its command is killed"
expect 0 "$js" list
has "$out" "running" "the instance runs again after the snapshots"

# a freeze that expires before the thaw
if expect 0 "$js" freeze --timeout 200; then
	id=$(first_line "$out")
	sleep 1
	if expect 0 "$js" status "$id"; then
		has "$(first_line "$out")" "empty" "status of an expired freeze lists no instance"
	fi
	if expect 1 "$js" thaw "$id"; then
		has "$err" "JET_errOSSnapshotTimeOut (-2402)" "thaw after the freeze expired"
	fi
	expect 0 "$js" list
	has "$out" "running" "the instance resumed on its own"
	# The expired session is finished: the instance can join a new one.
	if expect 0 "$js" freeze; then
		expect 0 "$js" thaw "$(first_line "$out")"
	fi
fi

stop_target "$pid"
expect 0 "$js" list
lacks "$out" "t1" "a stopped instance is no longer listed"
finish
