# tests/checks_lib.sh — sourced by the tests that run every check and count
# the failures instead of stopping at the first (tests/install.mk):
#   pass MSG        "ok: MSG"
#   fail MSG        "FAIL: MSG", counted; the test goes on
#   finish WHAT     exit 1 if a check failed, else "all WHAT checks passed", exit 0

failures=0

pass() {
	echo "ok: $*"
}

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

finish() {
	if [ $failures -ne 0 ]; then
		echo "$failures check(s) failed"
		exit 1
	fi
	echo "all $1 checks passed"
	exit 0
}
