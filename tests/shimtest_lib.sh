# shimtest_lib.sh — sourced by the shim-level shell tests (tests/shim.mk).
#
#   . "$JETSNAP_SRCDIR/tests/shimtest_lib.sh"
#   shimtest_init NAME        temp dir $work, runtime dir $rundir, cleanup on exit
#   under_shim CMD ARG...     run CMD with the shim preloaded
#   shimtest_fail MSG         print "NAME: FAIL: MSG" and exit 1
#   shimtest_skip MSG         print why and exit 77
#   same_files_as_plain WHAT  $work/{shim,frozen} hold exactly $work/plain's
#                             files, byte for byte (WHAT tags the messages)

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

# The runs under the shim, with and without freezes, must leave exactly the
# files the plain run left, byte for byte: a freeze may not change a result.
same_files_as_plain() {
	expected=$(cd "$work/plain" && ls | sort)
	[ -n "$expected" ] || shimtest_fail "the plain run wrote no files"
	for run in shim frozen; do
		got=$(cd "$work/$run" && ls | sort)
		[ "$got" = "$expected" ] ||
			shimtest_fail "the $run run wrote the files [$got], the plain run [$expected]"
		for f in $expected; do
			cmp "$work/plain/$f" "$work/$run/$f" ||
				shimtest_fail "$f differs between the plain run and the $run run$1"
		done
	done
	echo "$shimtest_name: $(echo "$expected" | wc -l) files identical across plain, shim and frozen runs$1"
}
