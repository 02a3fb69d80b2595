# cli_lib.sh — what the CLI test scripts share; sourced, not run.
#
# Gives: $tmp (a private temp dir), a private JETSNAP_RUNTIME_DIR and
# JETSNAP_STATE_DIR, cleanup of every process started with start_target,
# and checks that count failures: the script ends with "finish".

: "${JETSNAP_BIN:?run this test through make check (JETSNAP_BIN is not set)}"
: "${JETSNAP_BUILDDIR:?run this test through make check (JETSNAP_BUILDDIR is not set)}"

tmp=$(mktemp -d /tmp/jscli.XXXXXX) || exit 99
# Short: a control socket path must fit in 108 bytes.
JETSNAP_RUNTIME_DIR=$(mktemp -d /tmp/js.XXXXXX) || exit 99
JETSNAP_STATE_DIR=$tmp/state
mkdir -p "$JETSNAP_STATE_DIR"
export JETSNAP_RUNTIME_DIR JETSNAP_STATE_DIR
unset JETSNAP_INSTANCE JETSNAP_PATHS LD_PRELOAD

# In the build tree JETSNAP_BIN is libtool's wrapper script, which costs
# 0.1 s a run; the program it runs is .libs/jetsnap (LD_LIBRARY_PATH is set
# by make check).  Use that directly when it is there: it is the same binary.
js=$JETSNAP_BIN
if [ -x "$JETSNAP_BUILDDIR/.libs/jetsnap" ] && ! head -c 4 "$JETSNAP_BIN" | grep -q ELF; then
	js=$JETSNAP_BUILDDIR/.libs/jetsnap
fi

target_pids=
failures=0
checks=0

cleanup() {
	for p in $target_pids; do
		kill "$p" 2>/dev/null
	done
	for p in $target_pids; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$tmp" "$JETSNAP_RUNTIME_DIR"
}
trap cleanup EXIT
trap 'exit 99' INT TERM HUP

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

pass() {
	echo "ok: $*"
}

# run CMD...: runs it; sets $rc, $out (stdout) and $err (stderr).
run() {
	"$@" >"$tmp/stdout" 2>"$tmp/stderr"
	rc=$?
	out=$(cat "$tmp/stdout")
	err=$(cat "$tmp/stderr")
	checks=$((checks + 1))
}

# expect RC CMD...: runs CMD and checks its exit status.  Returns nonzero
# on a mismatch, so that callers can skip the checks that depend on it.
expect() {
	want=$1
	shift
	run "$@"
	if [ "$rc" -ne "$want" ]; then
		fail "'$*' exited $rc, expected $want; stdout: $out; stderr: $err"
		return 1
	fi
	pass "'$*' exited $rc"
}

# has WHERE TEXT WHAT: checks that WHERE (the output) contains TEXT.
has() {
	case $1 in
	*"$2"*) pass "$3" ;;
	*) fail "$3: '$2' not in: $1" ;;
	esac
}

lacks() {
	case $1 in
	*"$2"*) fail "$3: '$2' unexpectedly in: $1" ;;
	*) pass "$3" ;;
	esac
}

# first_line TEXT: the first line of TEXT.
first_line() {
	printf '%s\n' "$1" | sed -n 1p
}

# start_target NAME FILE: starts tests/cli_target under the shim as instance
# NAME, appending to FILE, and waits until "jetsnap list" shows it.  Sets
# $target_pid.  jetsnap exec replaces itself with the target, so $! is the
# instance's root process.
start_target() {
	# Not into a file under $tmp: the target's stdout would be a held file too.
	"$js" exec --instance "$1" -- "$JETSNAP_BUILDDIR/tests/cli_target" "$2" \
		</dev/null >/dev/null 2>&1 &
	target_pid=$!
	target_pids="$target_pids $target_pid"
	i=0
	while [ $i -lt 100 ]; do
		if [ -s "$2" ] && "$js" list 2>/dev/null | grep -q "^$1 "; then
			pass "instance $1 (pid $target_pid) is up"
			return 0
		fi
		if ! kill -0 "$target_pid" 2>/dev/null; then
			fail "instance $1 died at start (run it by hand to see why)"
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	fail "instance $1 is not listed after 10 s; jetsnap list: $("$js" list 2>&1)"
	return 1
}

stop_target() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# The size of FILE in bytes.
size_of() {
	wc -c <"$1" | tr -d ' '
}

finish() {
	echo "$checks commands run, $failures failures"
	[ "$failures" -eq 0 ] || exit 1
	exit 0
}

# skip_without_shim: the instance tests need the shim built.
skip_without_shim() {
	if [ ! -f "${JETSNAP_SHIM:-}" ]; then
		echo "SKIP: the shim is not built (JETSNAP_SHIM='${JETSNAP_SHIM:-}')"
		exit 77
	fi
}
