# shimtest_lib.sh — sourced by the shim-level shell tests (tests/shim.mk).
#
#   . "$JETSNAP_SRCDIR/tests/shimtest_lib.sh"
#   shimtest_init NAME        temp dir $work, runtime dir $rundir, cleanup on exit
#   under_shim CMD ARG...     run CMD with the shim preloaded
#   shimtest_fail MSG         print "NAME: FAIL: MSG" and exit 1
#   shimtest_skip MSG         print why and exit 77

shimtest_fail() {
	echo "$shimtest_name: FAIL: $*" >&2
	exit 1
}

shimtest_skip() {
	echo "$shimtest_name: SKIP: $*"
	exit 77
}

shimtest_cleanup() {
	# Each run is its own instance; its socket dir must be short (108-byte
	# sun_path), so it lives in /tmp, not under the build dir.
	[ -n "${rundir:-}" ] && rm -rf "$rundir"
	[ -n "${work:-}" ] && [ -z "${KEEP_TEST_DIR:-}" ] && rm -rf "$work"
	return 0
}

shimtest_init() {
	shimtest_name=$1
	: "${JETSNAP_BUILDDIR:?run this test through make check, which sets JETSNAP_BUILDDIR}"
	: "${JETSNAP_SHIM:?run this test through make check, which sets JETSNAP_SHIM}"
	[ -f "$JETSNAP_SHIM" ] || shimtest_fail "the shim $JETSNAP_SHIM is not built: run make first"
	work=$(mktemp -d "${TMPDIR:-/tmp}/$shimtest_name.XXXXXX") ||
		shimtest_fail "cannot create a temporary directory"
	rundir=$(mktemp -d /tmp/js.XXXXXX) || shimtest_fail "cannot create a runtime directory"
	chmod 700 "$rundir"
	trap shimtest_cleanup EXIT
	trap 'exit 1' HUP INT TERM
	[ -n "${KEEP_TEST_DIR:-}" ] && echo "$shimtest_name: keeping $work"
	return 0
}

under_shim() {
	env LD_PRELOAD="$JETSNAP_SHIM" JETSNAP_RUNTIME_DIR="$rundir" "$@"
}
