#!/bin/sh
# strace_tripwire.sh — strace as a tripwire (libeatmydata's way of testing a
# preload library): the write made before the freeze must be flushed before
# Freeze returns; while the target is frozen, no write-, size- or
# name-changing system call may touch its held file; after Thaw the held
# writes must reach the kernel before Thaw returns and before any later
# write, never a write made after an fsync before one made before it (the
# drain may merge and reorder the writes between two fsyncs).
#
# The target (tests/tripwire_target.c) writes "JS-MARK frozen/thawing/thawed"
# markers to /dev/null, which strace shows when they happen, and a manifest
# of the records it wrote while frozen.
set -u
. "${JETSNAP_SRCDIR:?run this test through make check}/tests/shimtest_lib.sh"
shimtest_init strace_tripwire

command -v strace >/dev/null 2>&1 ||
	shimtest_skip "strace is not installed (apt-get install strace)"

held=$work/held.dat
manifest=$work/manifest.txt
trace=$work/strace.log
calls=write,pwrite64,pwritev,pwritev2,writev,ftruncate,fallocate,truncate
calls=$calls,rename,renameat,renameat2,unlink,unlinkat,fsync,fdatasync,sync_file_range,sync,syncfs
calls=$calls,copy_file_range,sendfile,splice

# The target's stdout/stderr go to a file of our own, so that nothing the
# harness owns is held, and so that its messages come out after the freeze.
# TRIPWIRE_STDIO=1: record 7 goes through a stdio stream (fseek, fwrite,
# fflush), which must be held like the others (shim/stdio.c).
status=0
strace -f -y -s 64 -o "$trace" -e trace="$calls" \
	env LD_PRELOAD="$JETSNAP_SHIM" JETSNAP_RUNTIME_DIR="$rundir" TRIPWIRE_STDIO=1 \
	"$JETSNAP_BUILDDIR/tests/tripwire_target" "$held" "$manifest" \
	>"$work/target.out" 2>&1 || status=$?
cat "$work/target.out"
[ "$status" -eq 0 ] || {
	echo "--- last lines of the trace:"; tail -n 30 "$trace"
	shimtest_fail "tripwire_target exited with status $status (see its message above)"
}
[ -s "$manifest" ] || shimtest_fail "the target wrote no manifest"

# One awk pass: join strace's "<unfinished ...>"/"resumed>" halves, split the
# trace at the markers, and check each part.  Prints one line per violation.
awk -v held="$held" -v manifest="$manifest" '
function fail(msg) { print "  " msg; bad++ }
# The number after the last "= " (the return value), or -1.
function retval(s,   i) {
	i = match(s, /\) += -?[0-9]+/)
	if (!i) return -1
	s = substr(s, RSTART, RLENGTH); sub(/^\) += /, "", s); return s + 0
}
# The explicit file offset of a positioned write, or -1 if it has none.
function offset(name, s,   t) {
	if (name == "pwrite64" && match(s, /, -?[0-9]+\) += /)) {
		t = substr(s, RSTART + 2, RLENGTH); sub(/\).*/, "", t); return t + 0
	}
	if ((name == "pwritev" || name == "pwritev2") && match(s, /\], [0-9]+, -?[0-9]+/)) {
		t = substr(s, RSTART, RLENGTH); sub(/^\], [0-9]+, /, "", t); return t + 0
	}
	return -1
}
# The record tag at the start of the first string argument, or "".
function tag(s) {
	return match(s, /"JSREC[0-9][0-9]/) ? substr(s, RSTART + 1, 7) : ""
}
# The stretch (1, 2, ...) whose records hold every byte of [o, o + len),
# the current one first; 0 if none does.
function stretch_of(o, len,   t, b, ok) {
	for (t = cur; t <= nstretch; t++) {
		ok = 1
		for (b = o; b < o + len && ok; b++) if (!((t, b) in need)) ok = 0
		if (ok) return t
	}
	return 0
}
# Every byte of stretches cur..last must have been drained by now.
function complete_up_to(last, when,   t, k, b) {
	for (t = cur; t <= last; t++)
		for (k = 1; k <= nrec; k++) {
			if (rst[k] != t) continue
			for (b = roff[k]; b < roff[k] + rlen[k]; b++)
				if (!((t, b) in covered)) {
					fail("byte " b " of " rtag[k] " (stretch " t ") was not drained " when)
					break
				}
		}
}
BEGIN {
	nstretch = 1; cur = 1
	while ((getline line < manifest) > 0) {
		split(line, f, " ")
		if (f[1] == "BARRIER") { nstretch++; continue }
		nrec++
		rtag[nrec] = f[1]; roff[nrec] = f[2] + 0; rlen[nrec] = f[3] + 0; rst[nrec] = nstretch
		toff[f[1]] = roff[nrec]; tst[f[1]] = nstretch
		for (b = roff[nrec]; b < roff[nrec] + rlen[nrec]; b++) need[nstretch, b] = 1
	}
	ref = "<" held ">"
}
{
	line = $0
	pid = $1; sub(/^[0-9]+ +/, "", line)
	if (line ~ /^(---|\+\+\+)/) next
	if (line ~ /<unfinished \.\.\.>$/) {
		sub(/ *<unfinished \.\.\.>$/, "", line); pending[pid] = line; next
	}
	if (line ~ /^<\.\.\. [a-z0-9_]+ resumed>/) {
		sub(/^<\.\.\. [a-z0-9_]+ resumed> */, "", line)
		line = pending[pid] line; delete pending[pid]
	}
	n++; ev[n] = line
	name = line; sub(/\(.*/, "", name); evname[n] = name
	if (line ~ /"JS-MARK frozen/) mark["frozen"] = mark["frozen"] ? -1 : n
	if (line ~ /"JS-MARK thawing/) mark["thawing"] = mark["thawing"] ? -1 : n
	if (line ~ /"JS-MARK thawed/) mark["thawed"] = mark["thawed"] ? -1 : n
}
END {
	F = mark["frozen"]; T = mark["thawing"]; D = mark["thawed"]
	if (F <= 0 || T <= 0 || D <= 0 || !(F < T && T < D)) {
		fail("the markers are missing, repeated or out of order (frozen " F ", thawing " T \
		     ", thawed " D "): the target did not run its freeze window")
		exit 1
	}
	k = 1; before = 0; after = 0
	for (i = 1; i <= n; i++) {
		s = ev[i]
		# A whole-system or whole-filesystem flush covers the held file too.
		if (i < F && before && (evname[i] == "sync" || evname[i] == "syncfs")) flushed = i
		if (index(s, held) == 0) continue
		if (i < F) {
			if (tag(s) == "JSREC00") before = i
			else if (before && evname[i] ~ /^(fsync|fdatasync)$/) flushed = i
			continue
		}
		if (i < T) {
			fail("while frozen: " s); continue
		}
		if (evname[i] == "fsync" || evname[i] == "fdatasync") continue
		if (i < D && evname[i] !~ /^(write|writev|pwrite64|pwritev|pwritev2)$/) {
			fail("while draining, not a write: " s); continue
		}
		if (i > D) {
			if (tag(s) == "JSREC99" && !after) after = i
			else fail("after Thaw returned, a write that is not the target'"'"'s \"after\" record: " s)
			continue
		}
		# Draining: each piece of each write must lie in the records of the
		# current stretch (between two barriers) or start a later one once
		# the current one is complete; a piece that starts with a tag starts
		# that record, at its offset.
		o = offset(evname[i], s)
		if (o < 0) { fail("while draining, a write without an offset: " s); continue }
		if (evname[i] == "pwrite64") {
			piece_tag[1] = tag(s); piece_len[1] = retval(s); npieces = 1
		} else {
			npieces = 0; rest = s
			while (match(rest, /iov_base="[^"]*"(\.\.\.)?, iov_len=[0-9]+/)) {
				p = substr(rest, RSTART, RLENGTH); rest = substr(rest, RSTART + RLENGTH)
				npieces++
				piece_tag[npieces] = p ~ /^iov_base="JSREC[0-9][0-9]/ ? substr(p, 11, 7) : ""
				sub(/.*iov_len=/, "", p); piece_len[npieces] = p + 0
			}
		}
		for (q = 1; q <= npieces; q++) {
			# A tagged piece names its record, and so its stretch.
			st = piece_tag[q] != "" ? tst[piece_tag[q]] : stretch_of(o, piece_len[q])
			if (st && st < cur) {
				fail("while draining, " piece_tag[q] " (stretch " st ") came after stretch " cur \
				     " had begun: a write overtook an fsync made after it")
			} else if (!st) {
				fail("while draining, bytes " o " to " o + piece_len[q] " are in no held record: " s)
			} else {
				if (st > cur) { complete_up_to(st - 1, "before bytes " o " of stretch " st); cur = st }
				if (piece_tag[q] != "" && (toff[piece_tag[q]] != o || tst[piece_tag[q]] != cur))
					fail("while draining, " piece_tag[q] " was written at offset " o " in stretch " cur \
					     ", made at " toff[piece_tag[q]] " in stretch " tst[piece_tag[q]])
				for (b = o; b < o + piece_len[q]; b++) covered[cur, b] = 1
				drained++
			}
			o += piece_len[q]
		}
	}
	complete_up_to(nstretch, "between Thaw and its return")
	if (!before) fail("the \"before\" record JSREC00 was not written before the freeze")
	else if (!flushed) fail("the \"before\" record JSREC00 was not flushed (fsync/fdatasync) before Freeze returned")
	if (!after) fail("the \"after\" record JSREC99 did not reach the file after Thaw")
	if (!bad) printf "strace_tripwire: %d held records drained in %d pieces, in %d stretches in order, none while frozen\n", nrec, drained, nstretch
	exit bad ? 1 : 0
}' "$trace" || {
	echo "--- the trace's markers and lines about $held (KEEP_TEST_DIR=1 keeps $trace):"
	grep -n -e 'JS-MARK' -e "$held" "$trace" | head -n 80
	shimtest_fail "the trace breaks the freeze guarantees (violations listed above)"
}
exit 0
