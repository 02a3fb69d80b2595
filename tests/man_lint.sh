#!/bin/sh
# man_lint.sh — the manual pages are clean roff and do not drift from the
# code: mandoc -T lint (and groff -ww when groff is there) report nothing,
# every command of 'jetsnap --help' and every option of 'jetsnap CMD --help'
# is in jetsnap(1), every JETSNAP_* variable of README's table is in its
# ENVIRONMENT, and every entry point and constant of jetsnap.h is in
# jetsnap(3).

: "${JETSNAP_SRCDIR:?run this test through make check (JETSNAP_SRCDIR is not set)}"
: "${JETSNAP_BIN:?run this test through make check (JETSNAP_BIN is not set)}"

man=$JETSNAP_SRCDIR/docs/man
pages="$man/jetsnap.1 $man/jetsnap.3 $man/jetsnap-shim.7"

if ! command -v mandoc >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "mandoc is missing: installing the Debian package mandoc"
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends mandoc; } >/dev/null 2>&1
	fi
	if ! command -v mandoc >/dev/null 2>&1; then
		echo "SKIP: mandoc is not installed (apt-get install mandoc, as root)"
		exit 77
	fi
fi

tmp=$(mktemp -d /tmp/jsman.XXXXXX) || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' INT TERM HUP

. "$JETSNAP_SRCDIR/tests/checks_lib.sh"

# quiet WHAT CMD...: CMD exits 0 and prints nothing.
quiet() {
	what=$1
	shift
	"$@" >"$tmp/out" 2>&1
	rc=$?
	if [ $rc -ne 0 ] || [ -s "$tmp/out" ]; then
		fail "$what (exit $rc): $(cat "$tmp/out")"
	else
		pass "$what"
	fi
}

# has FILE ERE OK FAILURE: FILE has a line that matches ERE.
has() {
	if grep -Eq -- "$2" "$1"; then
		pass "$3"
	else
		fail "$4"
	fi
}

# The tool itself, not libtool's wrapper script, when it is there.
js=$JETSNAP_BIN
if [ -n "$JETSNAP_BUILDDIR" ] && [ -x "$JETSNAP_BUILDDIR/.libs/jetsnap" ] &&
   ! head -c 4 "$JETSNAP_BIN" | grep -q ELF; then
	js=$JETSNAP_BUILDDIR/.libs/jetsnap
fi

for page in $pages; do
	if [ ! -f "$page" ]; then
		fail "$page is missing"
		continue
	fi
	quiet "mandoc -T lint -W warning $page" mandoc -T lint -W warning "$page"
	# -t: jetsnap(3) has a table.
	command -v groff >/dev/null 2>&1 && quiet "groff -ww -z -t -man $page" groff -ww -z -t -man "$page"
	# Plain text (no overstrike), as a reader sees it.
	mandoc -T ascii "$page" 2>/dev/null | sed 's/.\x08//g' >"$tmp/$(basename "$page").txt"
done

# section FILE TITLE: the text of section TITLE of a rendered page.
section() {
	awk -v title="$2" '/^[A-Z]/ { on = ($0 == title) ; next } on' "$1"
}

page1=$tmp/jetsnap.1.txt
page3=$tmp/jetsnap.3.txt

# Every command of the overview is an entry of COMMANDS.
"$js" --help >"$tmp/help" 2>&1 || fail "'jetsnap --help' failed: $(cat "$tmp/help")"
commands=$(awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' "$tmp/help")
[ -n "$commands" ] || fail "'jetsnap --help' lists no commands: $(cat "$tmp/help")"
section "$page1" COMMANDS >"$tmp/commands"
for cmd in $commands; do
	has "$tmp/commands" "^ {7}$cmd( |\$)" "jetsnap(1) describes command $cmd" \
		"jetsnap(1) has no entry for command '$cmd' in COMMANDS"
	# Every long option of its help, and -v, is in the page.
	"$js" "$cmd" --help >"$tmp/cmdhelp" 2>&1 || fail "'jetsnap $cmd --help' failed"
	# The options of its usage line and of its option table ("  -v, --verbose  ...").
	opts=$( { sed -n 1p "$tmp/cmdhelp" | grep -Eo -- '\[--?[a-z][a-z-]*' | tr -d '['
		  grep -E '^  +-' "$tmp/cmdhelp" | sed 's/   .*//' | grep -Eo -- '--?[a-z][a-z-]*'; } |
		sort -u)
	for opt in $opts; do
		has "$page1" "$opt" "jetsnap(1) mentions $cmd's option $opt" \
			"jetsnap(1) does not mention option '$opt' of 'jetsnap $cmd'"
	done
done

# Every variable of README's configuration table is an entry of ENVIRONMENT.
# shellcheck disable=SC2016 # the backquotes are README's, not a command
vars=$(sed -n 's/^| `\(JETSNAP_[A-Z_]*\)` |.*/\1/p' "$JETSNAP_SRCDIR/README.md")
[ -n "$vars" ] || fail "README.md has no JETSNAP_* table"
section "$page1" ENVIRONMENT >"$tmp/env"
for var in $vars; do
	has "$tmp/env" "^ {7}$var\$" "jetsnap(1) describes $var" \
		"jetsnap(1) has no ENVIRONMENT entry for $var (README's table has it)"
done

# Every entry point, error code, grbit and parameter of jetsnap.h is in jetsnap(3).
header=$JETSNAP_SRCDIR/api/jetsnap.h
names=$( { sed -n 's/^\(JET_ERR\|const char \*\) *\(Jet[A-Za-z]*\)(.*/\2/p' "$header"
	   sed -n 's/^#define \(JET_[A-Za-z]*\) .*/\1/p' "$header"
	   grep -o 'JETSNAP_INSTANCE_STATUS\|JET_INSTANCE_INFO' "$header"; } | sort -u)
[ -n "$names" ] || fail "found no names in $header"
for name in $names; do
	has "$page3" "\\b$name\\b" "jetsnap(3) describes $name" \
		"jetsnap(3) does not mention $name (jetsnap.h has it)"
done

# The example program of jetsnap(3) compiles against jetsnap.h as printed.
if command -v "${CC:-cc}" >/dev/null 2>&1; then
	section "$page3" EXAMPLES | sed -n '/^ *#include <stdio.h>/,/^ \{14\}}/p' |
		sed 's/^ \{14\}//' >"$tmp/example.c"
	if [ ! -s "$tmp/example.c" ]; then
		fail "found no example program in jetsnap(3)'s EXAMPLES"
	elif "${CC:-cc}" -std=gnu11 -Wall -Wextra -Werror -fsyntax-only -I"$JETSNAP_SRCDIR/api" \
		"$tmp/example.c" >"$tmp/cc.log" 2>&1; then
		pass "jetsnap(3)'s example compiles"
	else
		fail "jetsnap(3)'s example does not compile: $(cat "$tmp/cc.log")"
	fi
fi

finish "man page"
