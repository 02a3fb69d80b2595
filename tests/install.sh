#!/bin/sh
# install.sh — "make install DESTDIR=..." installs a usable jetsnap: the tool,
# libjetsnap.so with jetsnap.h and jetsnap.pc, the shim in $(pkglibdir), the
# three man pages and no libtool .la files; a client builds with
# "pkg-config --cflags --libs jetsnap" and runs against the installed
# library; the installed tool runs a program under the installed shim and
# freezes and thaws it; "make uninstall" leaves no file behind.

: "${JETSNAP_BUILDDIR:?run this test through make check (JETSNAP_BUILDDIR is not set)}"
. "${JETSNAP_SRCDIR:?run this test through make check (JETSNAP_SRCDIR is not set)}/tests/checks_lib.sh"

for tool in pkg-config "${CC:-cc}"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool is not installed (apt-get install pkg-config gcc)"
		exit 77
	fi
done

tmp=$(mktemp -d /tmp/jsinst.XXXXXX) || exit 99
# Short: a control socket path must fit in 108 bytes.
rt=$(mktemp -d /tmp/js.XXXXXX) || exit 99
dest=$tmp/dest
target_pid=
# shellcheck disable=SC2317 # run by the trap
cleanup() {
	if [ -n "$target_pid" ]; then
		kill "$target_pid" 2>/dev/null
		wait "$target_pid" 2>/dev/null
	fi
	rm -rf "$tmp" "$rt"
}
trap cleanup EXIT
trap 'exit 99' INT TERM HUP

# The installation directories, as the build's Makefile has them.
# shellcheck disable=SC2016 # $(...) are make's, expanded by make
# (A Makefile older than Makefile.am is remade first, and says so: keep
# only the marked line.)
dirs=$(printf 'print-dirs:\n\t@echo "JSDIRS|$(prefix)|$(bindir)|$(libdir)|$(includedir)|$(pkglibdir)|$(mandir)"\n' |
	make -s --no-print-directory -C "$JETSNAP_BUILDDIR" -f Makefile -f - print-dirs 2>&1 |
	grep '^JSDIRS|')
IFS='|' read -r _ prefix bindir libdir includedir pkglibdir mandir <<EOF
$dirs
EOF
if [ -z "$bindir" ] || [ -z "$libdir" ] || [ -z "$pkglibdir" ] || [ -z "$mandir" ]; then
	echo "cannot read the installation directories from $JETSNAP_BUILDDIR/Makefile"
	exit 99
fi
echo "prefix=$prefix bindir=$bindir libdir=$libdir pkglibdir=$pkglibdir mandir=$mandir"

if ! make -s --no-print-directory -C "$JETSNAP_BUILDDIR" install DESTDIR="$dest" \
	>"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	fail "make install DESTDIR=$dest failed"
	finish install
fi
pass "make install DESTDIR=$dest"

# exists KIND PATH: PATH (under DESTDIR) is a file (-f) or an executable (-x).
exists() {
	if test "$1" "$dest$2"; then
		pass "installed $2"
	else
		fail "$2 is not installed (test $1 $dest$2)"
	fi
}
exists -x "$bindir/jetsnap"
exists -f "$libdir/libjetsnap.so"
exists -f "$includedir/jetsnap.h"
exists -f "$libdir/pkgconfig/jetsnap.pc"
exists -f "$pkglibdir/libjetsnap-shim.so"
exists -f "$mandir/man1/jetsnap.1"
exists -f "$mandir/man3/jetsnap.3"
exists -f "$mandir/man7/jetsnap-shim.7"
if ls "$dest$libdir"/libjetsnap.so.* >/dev/null 2>&1; then
	pass "installed the versioned $(cd "$dest$libdir" && echo libjetsnap.so.*)"
else
	fail "no versioned libjetsnap.so.N in $libdir"
fi
la=$(find "$dest" -name '*.la')
if [ -z "$la" ]; then pass "no libtool .la file is installed"; else fail "libtool files installed: $la"; fi
for page in jetsnap.1 jetsnap.3 jetsnap-shim.7; do
	sect=${page##*.}
	if cmp -s "$JETSNAP_SRCDIR/docs/man/$page" "$dest$mandir/man$sect/$page"; then
		pass "man$sect/$page is docs/man/$page"
	else
		fail "man$sect/$page differs from docs/man/$page"
	fi
done

# Nothing of the build tree from here on: run from elsewhere, with only the
# installed library on the path.
cd "$tmp" || exit 99
unset JETSNAP_SHIM JETSNAP_TIMEOUT_MS JETSNAP_INSTANCE JETSNAP_PATHS LD_PRELOAD
LD_LIBRARY_PATH=$dest$libdir
JETSNAP_RUNTIME_DIR=$rt
JETSNAP_STATE_DIR=$tmp/state
export LD_LIBRARY_PATH JETSNAP_RUNTIME_DIR JETSNAP_STATE_DIR

# A client built with pkg-config against the installed header and library.
cat >"$tmp/client.c" <<'EOF'
#include <dlfcn.h>
#include <stdio.h>
#include <jetsnap.h>

int main(void)
{
	JET_API_PTR timeout = 0;
	JET_ERR err = JetGetSystemParameter(0, 0, JET_paramOSSnapshotTimeout, &timeout, NULL, 0);
	Dl_info where;

	if (err) {
		fprintf(stderr, "JetGetSystemParameter: %s\n", JetsnapErrorName(err));
		return 1;
	}
	printf("%lu\n", (unsigned long)timeout);
	/* Which libjetsnap answered: the installed one, not the build tree's. */
	if (dladdr((void *)JetGetSystemParameter, &where) && where.dli_fname)
		printf("%s\n", where.dli_fname);
	return 0;
}
EOF
PKG_CONFIG_PATH=$dest$libdir/pkgconfig
export PKG_CONFIG_PATH
if flags=$(pkg-config --define-variable=prefix="$dest$prefix" --cflags --libs jetsnap 2>"$tmp/pc.err"); then
	pass "pkg-config --cflags --libs jetsnap: $flags"
	case $flags in
	*"-L$dest$libdir"*) pass "pkg-config points at the installed library" ;;
	*) fail "pkg-config flags do not point at $dest$libdir: $flags" ;;
	esac
else
	fail "pkg-config --cflags --libs jetsnap failed: $(cat "$tmp/pc.err")"
fi
# shellcheck disable=SC2086 # the flags are words
if "${CC:-cc}" -D_GNU_SOURCE -o "$tmp/client" "$tmp/client.c" $flags -ldl >"$tmp/cc.log" 2>&1; then
	pass "a client builds with pkg-config's flags"
	out=$("$tmp/client" 2>&1)
	rc=$?
	first=$(printf '%s\n' "$out" | sed -n 1p)
	lib=$(printf '%s\n' "$out" | sed -n 2p)
	if [ $rc -eq 0 ] && [ "$first" = 70000 ]; then
		pass "the client prints the default timeout 70000"
	else
		fail "the client exited $rc and printed '$out', expected 70000"
	fi
	case $lib in
	"$dest$libdir"/*) pass "the client ran against the installed $lib" ;;
	*) fail "the client's libjetsnap is '$lib', not the installed one in $dest$libdir" ;;
	esac
else
	fail "the client does not build: $(cat "$tmp/cc.log")"
fi

# shim-path.  The installed tool looks for the shim in the build tree next
# to itself (there is none in $dest), then in the pkglibdir it was built
# for: the real $pkglibdir, not the one under DESTDIR.  So it prints
# $pkglibdir's shim if this machine has jetsnap installed there, and
# otherwise fails naming $pkglibdir.  Either way it must be $pkglibdir.
js=$dest$bindir/jetsnap
out=$("$js" shim-path 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$out" = "$pkglibdir/libjetsnap-shim.so" ]; then
	pass "installed jetsnap shim-path prints $out"
elif [ $rc -eq 1 ] && [ ! -e "$pkglibdir/libjetsnap-shim.so" ]; then
	case $out in
	*"$pkglibdir"*) pass "installed jetsnap shim-path looks in $pkglibdir (not installed there: DESTDIR)" ;;
	*) fail "installed jetsnap shim-path failed without naming $pkglibdir: $out" ;;
	esac
else
	fail "installed jetsnap shim-path exited $rc: '$out' (expected $pkglibdir/libjetsnap-shim.so)"
fi

# With JETSNAP_SHIM naming the installed shim, the installed tool runs a
# program under it, and freezes and thaws it.
shim=$dest$pkglibdir/libjetsnap-shim.so
out=$(JETSNAP_SHIM=$shim "$js" shim-path 2>&1)
if [ "$out" = "$shim" ]; then
	pass "JETSNAP_SHIM=installed shim: shim-path prints it"
else
	fail "JETSNAP_SHIM=$shim jetsnap shim-path printed '$out'"
fi
maps=$(JETSNAP_SHIM=$shim "$js" exec -- cat /proc/self/maps 2>&1)
case $maps in
*"$shim"*) pass "installed jetsnap exec preloads the installed shim" ;;
*) fail "installed jetsnap exec did not preload $shim: $maps" ;;
esac

JETSNAP_SHIM=$shim "$js" exec --instance inst_test -- sleep 30 </dev/null >/dev/null 2>&1 &
target_pid=$!
i=0
while ! "$js" list 2>/dev/null | grep -q '^inst_test '; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		fail "the instance started by the installed jetsnap never showed in 'jetsnap list'"
		finish install
	fi
	sleep 0.05
done
pass "the installed jetsnap lists its instance"
id=$("$js" freeze --instance inst_test --timeout 20000 2>"$tmp/freeze.err" | sed -n 1p)
if [ -n "$id" ] && "$js" list | grep -q '^inst_test .* frozen '; then
	pass "the installed jetsnap freezes it (snapshot $id)"
	if "$js" thaw "$id" 2>"$tmp/thaw.err"; then
		pass "the installed jetsnap thaws it"
	else
		fail "jetsnap thaw $id failed: $(cat "$tmp/thaw.err")"
	fi
else
	fail "jetsnap freeze failed or did not freeze: $(cat "$tmp/freeze.err"); $("$js" list 2>&1)"
	[ -n "$id" ] && "$js" abort "$id" >/dev/null 2>&1
fi
kill "$target_pid" 2>/dev/null
wait "$target_pid" 2>/dev/null
target_pid=

# And uninstall removes every file it installed.
cd / || exit 99
if make -s --no-print-directory -C "$JETSNAP_BUILDDIR" uninstall DESTDIR="$dest" \
	>"$tmp/uninstall.log" 2>&1; then
	left=$(find "$dest" -type f -o -type l)
	if [ -z "$left" ]; then pass "make uninstall leaves no file"; else fail "make uninstall left: $left"; fi
else
	fail "make uninstall failed: $(cat "$tmp/uninstall.log")"
fi

finish install
