#!/bin/sh
# copy_to.sh — "jetsnap snapshot --copy-to DIR" against a live instance
# (tests/copy_target): the copy is the files' state at the freeze (equal
# to a reference taken with the writer paused, and consistent across the
# two files with the writer running), keeps the layout, holes, modes and
# mtimes; refused destinations exit 2; on a loop-mounted btrfs or XFS the
# copy is made by reflink.
. "${JETSNAP_SRCDIR:-$(dirname "$0")/..}/tests/cli_lib.sh"
skip_without_shim

mnt=
loopimg=
copy_cleanup() {
	for p in $target_pids; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	target_pids=
	[ -n "$mnt" ] && umount "$mnt" 2>/dev/null
	cleanup
}
trap copy_cleanup EXIT

# start_copy_target NAME DIR: copy_target under the shim, writing in DIR/db.
start_copy_target() {
	mkdir -p "$2/db/wal"
	"$js" exec --instance "$1" -- "$JETSNAP_BUILDDIR/tests/copy_target" "$2" \
		</dev/null >/dev/null 2>&1 &
	target_pid=$!
	target_pids="$target_pids $target_pid"
	for i in $(seq 100); do
		if [ -s "$2/db/wal/log.txt" ] && "$js" list 2>/dev/null | grep -q "^$1 "; then
			pass "instance $1 (pid $target_pid) is up"
			return 0
		fi
		kill -0 "$target_pid" 2>/dev/null || break
		sleep 0.1
	done
	fail "instance $1 did not start"
	return 1
}

# wait_for FILE: up to 5 s.
wait_for() {
	for i in $(seq 50); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	fail "$1 did not appear"
	return 1
}

# same_meta A B WHAT: equal mode, mtime (to the ns) and size.
same_meta() {
	a=$(stat -c '%a %y %s' "$1")
	b=$(stat -c '%a %y %s' "$2")
	if [ "$a" = "$b" ]; then pass "$3: mode, mtime and size kept ($a)"
	else fail "$3: '$a' (original) vs '$b' (copy)"; fi
}

# sparse FILE WHAT: allocated bytes well below the size.
sparse() {
	alloc=$(( $(stat -c '%b * %B' "$1") ))
	size=$(stat -c %s "$1")
	if [ "$alloc" -lt $((size / 4)) ]; then pass "$2: sparse ($alloc of $size bytes allocated)"
	else fail "$2: not sparse ($alloc of $size bytes allocated)"; fi
}

# --- usage errors, before anything is frozen ---------------------------
mkdir -p "$tmp/full" && touch "$tmp/full/x"
expect 2 "$js" snapshot --copy-to "$tmp/full" &&
	has "$err" "is not empty" "a non-empty DIR is refused"
expect 2 "$js" snapshot --copy-to "$tmp/new" -- true &&
	has "$err" "runs no command" "--copy-to with a CMD is refused"
[ ! -e "$tmp/new" ] && pass "the refused DIR was not created" || fail "$tmp/new was created"

# --- a still writer: the copy equals a reference copy --------------------
src=$tmp/src
start_copy_target copyt "$src" || finish
sleep 0.5
touch "$src/pause"
wait_for "$src/paused"
sleep 0.1
cp -a --sparse=always "$src/db" "$tmp/ref"
if expect 0 "$js" snapshot --copy-to "$tmp/out1" --instance copyt; then
	has "$out" "copied 2 files" "the copy reports two files"
	has "$err" "ms frozen" "the summary says how long the freeze lasted"
	for f in main.db wal/log.txt; do
		if cmp -s "$tmp/ref/$f" "$tmp/out1/$f"; then pass "$f equals the reference"
		else fail "$f differs from the reference copy"; fi
		same_meta "$src/db/$f" "$tmp/out1/$f" "$f"
	done
	sparse "$tmp/out1/main.db" "the copy of main.db"
fi

# --- a running writer: one instant for both files -----------------------
rm -f "$src/pause"
sleep 0.3
if expect 0 "$js" snapshot --copy-to "$tmp/out2" --instance copyt; then
	db_round=$(head -c 40 "$tmp/out2/main.db" | sed -n '1s/^round //p')
	log_round=$(tail -n 1 "$tmp/out2/wal/log.txt" | sed -n 's/^round //p')
	# The log line is written before the db blocks: equal, or one ahead.
	if [ -n "$db_round" ] && [ -n "$log_round" ] &&
	   { [ "$log_round" -eq "$db_round" ] || [ "$log_round" -eq $((db_round + 1)) ]; }; then
		pass "the copies are of one instant (log round $log_round, db round $db_round)"
	else
		fail "inconsistent copies: log round '$log_round', db round '$db_round'"
	fi
	[ "$(tail -c 1 "$tmp/out2/wal/log.txt" | od -An -c | tr -d ' ')" = '\n' ] &&
		pass "the log copy ends with a whole line" || fail "the log copy ends mid-line"
	sparse "$tmp/out2/main.db" "main.db copied while written"
fi

# --- refused destinations after the freeze: the snapshot is aborted -----
expect 2 "$js" snapshot --copy-to "$src/db/wal/copy" --instance copyt &&
	has "$err" "is inside" "a DIR inside a frozen file's directory is refused"
[ ! -e "$src/db/wal/copy" ] && pass "the refused DIR was removed" || fail "$src/db/wal/copy left behind"
"$js" list | grep -q "^copyt .*running" && pass "copyt runs again after the refusal" ||
	fail "copyt is not running after the refusal: $("$js" list 2>&1)"
expect 2 "$js" snapshot --copy-to "$tmp/out1" --instance copyt &&
	has "$err" "is not empty" "an earlier copy is not overwritten"

# --- reflinks on a loop-mounted btrfs or XFS ----------------------------
fs=
for f in btrfs xfs; do
	if grep -qw "$f" /proc/filesystems && command -v "mkfs.$f" >/dev/null; then
		fs=$f
		break
	fi
done
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP (reflink part): not root, cannot loop-mount"
elif [ -z "$fs" ]; then
	echo "SKIP (reflink part): no btrfs or xfs in /proc/filesystems with its mkfs" \
		"(apt-get install btrfs-progs xfsprogs)"
else
	loopimg=$tmp/fs.img
	mkdir -p "$tmp/mnt"
	truncate -s 512M "$loopimg"
	if mkfs."$fs" -q "$loopimg" >/dev/null 2>&1 && mount -o loop "$loopimg" "$tmp/mnt"; then
		mnt=$tmp/mnt
		start_copy_target copyfs "$mnt/src" &&
		if expect 0 "$js" snapshot --copy-to "$mnt/copy" --instance copyfs; then
			has "$out" "2 by reflink" "on $fs, both files are reflinked"
			sparse "$mnt/copy/main.db" "the reflinked main.db"
		fi
		# Across filesystems no reflink: copy_file_range, or read/write
		# where the kernel refuses that too; still equal and sparse.
		touch "$src/pause"
		wait_for "$src/paused"
		if expect 0 "$js" snapshot --copy-to "$mnt/cross" --instance copyt; then
			lacks "$out" "bytes by reflink" "no reflink from ext4 to $fs"
			cmp -s "$src/db/main.db" "$mnt/cross/main.db" &&
				pass "main.db copied across filesystems ($(sed -n 's/^copied .*: //p' "$tmp/stdout"))" ||
				fail "main.db differs after a copy across filesystems"
			same_meta "$src/db/wal/log.txt" "$mnt/cross/wal/log.txt" "log.txt across filesystems"
			sparse "$mnt/cross/main.db" "main.db copied across filesystems"
		fi
		rm -f "$src/pause"
	else
		echo "SKIP (reflink part): cannot make or loop-mount a $fs image"
	fi
fi

finish
