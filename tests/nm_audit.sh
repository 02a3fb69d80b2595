#!/bin/sh
# nm_audit.sh — the exported symbols of the shim against its interposition
# table (shim/funcs.h), after firebuild's test_symbols:
#  (a) every function of the table is exported by libjetsnap-shim.so;
#  (b) nothing else is, except the names on the table's "EXTRA_EXPORTS:" line;
#  (c) every counterpart that libc exports of a wrapped function is wrapped too:
#      its 64-bit twin (X64, Xv2 -> X64v2), fortified forms (__X_2, __X_chk),
#      *at twin (Xat), pre-2.33 stat entry points (__xstat...) that binaries
#      built against older glibc still call, and the rest of its family
#      (close -> close_range, closefrom);
#  (d) every function of the issue's list that libc exports is in the table.
# Plain "__X" aliases (__write, __open...) are listed as notes, not failures:
# programs do not call them.  Prints each missing or extra symbol.
set -u
. "${JETSNAP_SRCDIR:?run this test through make check}/tests/shimtest_lib.sh"
shimtest_init nm_audit

table=$JETSNAP_SRCDIR/shim/funcs.h
[ -f "$table" ] || shimtest_fail "no interposition table at $table"
command -v nm >/dev/null 2>&1 || shimtest_fail "nm is not installed (apt-get install binutils)"
libc=$(ldd "$JETSNAP_SHIM" 2>/dev/null | awk '$1 ~ /^libc\.so/ { print $3 }')
[ -f "${libc:-}" ] || libc=/lib/x86_64-linux-gnu/libc.so.6
[ -f "$libc" ] || shimtest_fail "cannot find the libc the shim links (ldd $JETSNAP_SHIM)"

# Table entries are "X(ret, name, (params...), class)": the name is the
# second field.  The EXTRA_EXPORTS line lists identifiers; a parenthesised
# remark such as "(none — ...)" is not one.
sed -n 's/^[[:space:]]*X([^,]*,[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*,.*/\1/p' \
	"$table" | sort -u >"$work/table"
[ -s "$work/table" ] || shimtest_fail "found no X(ret, name, ...) entries in $table"
sed -n 's/.*EXTRA_EXPORTS:\(.*\)/\1/p' "$table" | sed -e 's|\*/||g' -e 's/([^)]*)//g' |
	tr -cs 'A-Za-z0-9_' '\n' | grep -E '^[A-Za-z_][A-Za-z0-9_]*$' | sort -u >"$work/extra"
# Drop version-node symbols (type A) and version suffixes; GLIBC_PRIVATE
# entry points are glibc's own business.
nm -D --defined-only "$JETSNAP_SHIM" >"$work/nm.shim" || shimtest_fail "nm -D $JETSNAP_SHIM failed"
awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' "$work/nm.shim" | sort -u >"$work/exports"
nm -D --defined-only "$libc" | awk '$2 != "A" && $3 !~ /@GLIBC_PRIVATE$/ {
	sub(/@.*/, "", $3); print $3 }' | sort -u >"$work/libc"

issue_list="write pwrite pwrite64 writev pwritev pwritev64 pwritev2 pwritev64v2 read pread
pread64 readv preadv preadv64 preadv2 preadv64v2 fstat stat lstat fstatat statx fstat64 stat64
lstat64 fstatat64 lseek lseek64 fsync fdatasync sync_file_range syncfs sync msync ftruncate
ftruncate64 truncate truncate64 fallocate fallocate64 posix_fallocate posix_fallocate64 rename
renameat renameat2 unlink unlinkat link linkat mkdir rmdir open open64 openat openat64 creat
creat64 __open_2 __open64_2 __openat_2 __openat64_2 close close_range dup dup2 dup3 fcntl fcntl64
mmap mmap64 copy_file_range sendfile sendfile64 splice"
echo "$issue_list" | tr -s ' \n' '\n\n' | grep . >"$work/issue"

awk -v W="$work" -v SHIM="$JETSNAP_SHIM" -v LIBC="$libc" '
function load(file, arr,   s) { while ((getline s < file) > 0) arr[s] = 1; close(file) }
function fail(msg) { print "  " msg; bad++ }
# The plain name a wrapped name is a form of: __open64_2 -> open, pwritev64v2 -> pwritev2.
function base(n) {
	sub(/^__/, "", n); sub(/_(2|chk)$/, "", n)
	if (n ~ /64v2$/) sub(/64v2$/, "v2", n); else sub(/64$/, "", n)
	return n
}
function lfs(b) { return b ~ /v2$/ ? substr(b, 1, length(b) - 2) "64v2" : b "64" }
function want(c, why) {
	if (!(c in libc) || (c in queued)) return
	queued[c] = why; queue[++nq] = c
}
BEGIN {
	load(W "/table", table); load(W "/extra", extra); load(W "/exports", exports)
	load(W "/libc", libc); load(W "/issue", issue)
	compat["fstat"] = "__fxstat __fxstat64"; compat["stat"] = "__xstat __xstat64"
	compat["lstat"] = "__lxstat __lxstat64"; compat["fstatat"] = "__fxstatat __fxstatat64"
	family["close"] = "close_range closefrom"; family["dup"] = "dup2 dup3"

	for (n in table) if (!(n in exports)) fail("(a) " n " is in the table but not exported by the shim")
	for (n in exports) if (!(n in table) && !(n in extra))
		fail("(b) " n " is exported by the shim but is neither in the table nor on its EXTRA_EXPORTS line")
	for (n in extra) if (!(n in exports)) fail("(b) " n " is on the EXTRA_EXPORTS line but not exported")
	for (n in issue) if ((n in libc) && !(n in table))
		fail("(d) " n " (from the issue'"'"'s list, exported by libc) is not in the table")

	# (c) A closure: a counterpart found leads to its own counterparts.
	for (n in table) want(n, "wrapped")
	for (q = 1; q <= nq; q++) {
		n = queue[q]; b = base(n); l = lfs(b)
		split(b " " l " __" b "_2 __" l "_2 __" b "_chk __" l "_chk " b "at " \
		      compat[b] " " family[b], cand, " ")
		for (i in cand) if (cand[i] != "") want(cand[i], "a counterpart of " n)
		alias["__" b] = b; alias["__" l] = l
	}
	for (a in alias)
		if ((a in libc) && !(a in table) && !(a in queued))
			print "  note: libc also exports " a ", an alias of " alias[a] ", not wrapped"
	for (q = 1; q <= nq; q++)
		if (!(queue[q] in table))
			fail("(c) " queue[q] " is exported by libc, " queued[queue[q]] ", but not wrapped")
	for (n in table) if (!(n in libc)) print "  note: " n " is in the table but libc does not export it"
	nt = 0; for (n in table) nt++
	if (bad) { printf "%d problem(s) in the exports of %s (libc: %s)\n", bad, SHIM, LIBC; exit 1 }
	printf "nm_audit: %d wrapped functions, exports match the table, every libc counterpart wrapped\n", nt
}' </dev/null >"$work/report"
status=$?
sort "$work/report"
[ "$status" -eq 0 ] || shimtest_fail "the shim's exports do not match its table (see above)"
exit 0
