#!/bin/sh
# drain_fault.sh — a drain that meets a full file system loses nothing.
#
# A writer appends fsync'ed 4 KiB blocks to a file on a small loop-mounted
# ext4 that has room for only a few hundred KiB more.  It is frozen until it
# has written more than that (its fsyncs return through the hold journal, which lives elsewhere), so
# the drain at Thaw meets ENOSPC.  Thaw must fail with JET_errDiskFull and a
# reason naming the file; the writer must keep going while the drain is
# pending; once space is freed the instance's retry must drain everything,
# the next thaw of the session succeed, and every acknowledged block be in
# the file, whole and in order.  Needs root and a loop device.
set -u
. "${JETSNAP_SRCDIR:?run this test through make check}/tests/shimtest_lib.sh"
shimtest_init drain_fault

[ "$(id -u)" -eq 0 ] || shimtest_skip "needs root to mount a loop file system"
command -v mkfs.ext4 >/dev/null 2>&1 || shimtest_skip "mkfs.ext4 (e2fsprogs) is not installed"
js=$JETSNAP_BUILDDIR/.libs/jetsnap
[ -x "$js" ] || js=$JETSNAP_BIN
mnt=$work/mnt
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	umount "$mnt" 2>/dev/null
	shimtest_cleanup
}
trap cleanup EXIT

mkdir -p "$mnt" "$work/state"
truncate -s 8M "$work/fs.img" && mkfs.ext4 -q -m 0 "$work/fs.img" ||
	shimtest_fail "cannot make an ext4 image"
mount -o loop "$work/fs.img" "$mnt" 2>"$work/mount.err" ||
	shimtest_skip "cannot loop-mount an ext4 image here: $(cat "$work/mount.err")"
avail=$(df --output=avail -B1 "$mnt" | tail -n 1)
fallocate -l $((avail - 300 * 1024)) "$mnt/filler" || shimtest_fail "cannot fill $mnt"

# Only the data file is held: the test reads the ack file while frozen.
export JETSNAP_RUNTIME_DIR="$rundir" JETSNAP_STATE_DIR="$work/state" JETSNAP_PATHS="$mnt"
acks=$work/acks
JETSNAP_LOG=$work/shim.log "$js" exec --instance fault -- "$JETSNAP_BUILDDIR/tests/fault_writer" "$mnt/data" "$acks" \
	2>"$work/writer.err" &
pid=$!
i=0
until "$js" list 2>/dev/null | grep -q '^fault ' || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
id=$("$js" freeze --instance fault | head -n 1)
[ -n "$id" ] || shimtest_fail "jetsnap freeze did not freeze the writer"
# 150 blocks (600 KiB) held: more than the room left, however slow the machine.
start=$(wc -l < "$acks")
i=0
until [ $(($(wc -l < "$acks") - start)) -ge 150 ] || [ $i -ge 400 ]; do sleep 0.05; i=$((i + 1)); done
[ $(($(wc -l < "$acks") - start)) -ge 150 ] ||
	shimtest_fail "the frozen writer acknowledged only $(($(wc -l < "$acks") - start)) blocks in 20 s: $(cat "$work/writer.err")"
"$js" thaw "$id" 2>"$work/thaw.err" && shimtest_fail "thaw succeeded although the file system is full"
grep -q 'JET_errDiskFull (-1808)' "$work/thaw.err" ||
	shimtest_fail "thaw did not say JET_errDiskFull: $(cat "$work/thaw.err")"
grep -q "$mnt/data" "$work/thaw.err" && grep -q 'No space left on device' "$work/thaw.err" ||
	shimtest_fail "thaw's reason does not name the file and the cause: $(cat "$work/thaw.err")"
echo "drain_fault: ok: $(tail -c 300 "$work/thaw.err")"

a1=$(wc -l < "$acks")
sleep 0.5
a2=$(wc -l < "$acks")
[ "$a2" -gt "$a1" ] || shimtest_fail "the writer stopped while the drain was pending ($a1 -> $a2 acks)"
kill -0 "$pid" 2>/dev/null || shimtest_fail "the writer died: $(cat "$work/writer.err")"
"$js" list | grep -q '^fault .*draining' || shimtest_fail "the instance is not listed as draining: $("$js" list)"
# status shows the journal, the drain's progress and the oldest held write's age.
json=$("$js" list --json)
for key in journal_bytes drained_bytes oldest_held_us; do
	echo "$json" | grep -q "\"$key\":[1-9]" ||
		shimtest_fail "jetsnap list --json shows no $key while the drain is pending: $json"
done

rm -f "$mnt/filler"
i=0
until "$js" list | grep -q '^fault .*running' || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
"$js" list | grep -q '^fault .*running' || shimtest_fail "the drain did not finish after space was freed"
"$js" thaw "$id" || shimtest_fail "the session's thaw failed after the retry drained it"
kill "$pid"
wait "$pid" 2>/dev/null
pid=
n=$(wc -l < "$acks")
size=$(stat -c %s "$mnt/data")
[ "$size" -ge $((n * 4096)) ] ||
	shimtest_fail "$n blocks were acknowledged but the file holds $size bytes"
python3 - "$mnt/data" "$n" <<'PY' || shimtest_fail "the file's blocks are not the ones written, in order"
import sys
data = open(sys.argv[1], 'rb').read()
for i in range(int(sys.argv[2])):
    if data[i * 4096:(i + 1) * 4096] != bytes([97 + i % 26]) * 4096:
        print("drain_fault: block %d is wrong" % i)
        sys.exit(1)
PY
echo "drain_fault: ok: $n acknowledged blocks whole and in order after the retried drain"
exit 0
