#!/bin/sh
# tests/recipes.sh — the recipes in docs/recipes/ run exactly as written, the
# bash completion answers, and session events reach syslog with ESE's ids.
#
# The commands come out of the docs themselves (fenced blocks whose info
# string is "sh recipe", "sh recipe pre", "yaml recipe", "ini recipe"), so
# the docs and this test cannot drift apart.  The recipes expect `jetsnap`
# on PATH and their variables (DB_DIR, RESTIC_REPOSITORY, …) in the
# environment; this test provides both and nothing else.
#
# One SQLite writer (tests/sqlite_workload, WAL mode) runs under the shim as
# the instance "app" for the restic, Velero and syslog parts; the btrfs part
# runs its own on a loop-mounted btrfs.  A part whose tool or privilege is
# missing prints why and is skipped; the test fails if any part fails, and
# skips only if every part skipped.
set -u

. "${JETSNAP_SRCDIR:-$(dirname "$0")/..}/tests/dbs_lib.sh"

dbs_init recipes
workload=$builddir/tests/sqlite_workload
recipes=$srcdir/docs/recipes

skipped=0 ran=0
skip_part() { echo "SKIP $part: $*"; skipped=$((skipped + 1)); }

[ -x "$workload" ] || fail "$workload is not built (run make check)"

mkdir "$T/bin"
ln -s "$jetsnap" "$T/bin/jetsnap"
PATH=$T/bin:$PATH
export PATH
mnt= loopdev= devlog=

# What a part leaves behind goes before the temp dir it is in.
recipes_cleanup() {
	stop_all $pids
	[ -n "$mnt" ] && umount "$mnt" 2>/dev/null
	[ -n "$loopdev" ] && losetup -d "$loopdev" 2>/dev/null
	[ -n "$devlog" ] && rm -f /dev/log
	dbs_cleanup
}
trap recipes_cleanup EXIT

# block FILE INFO: the fenced block of FILE whose info string is INFO.
block() {
	awk -v want="$2" '
		/^```/ { if (inb) { inb = 0; found = 1; next } if (substr($0, 4) == want && !found) { inb = 1; next } }
		inb { print }
	' "$1"
}
# run_block FILE INFO: run that block with sh -e, as a user would paste it.
run_block() {
	b=$(block "$1" "$2")
	[ -n "$b" ] || fail "$1 has no \`\`\`$2 block"
	printf '%s\n' "$b" > "$T/block.sh"
	sh -e "$T/block.sh"
}

# instance_state NAME: its state in `jetsnap list --json` (or "none").
instance_state() {
	"$jetsnap" list --json | python3 -c '
import json, sys
for i in json.load(sys.stdin):
    if i["name"] == sys.argv[1]:
        print(i["state"]); break
else:
    print("none")' "$1"
}

# start_app NAME DBDIR: the SQLite writer under the shim; sets app_pid.
start_app() {
	mkdir -p "$2"
	: > "$2.ack"
	JETSNAP_PATHS=$2 "$jetsnap" exec --instance "$1" -- \
		"$workload" "$2/app.db" --mode wal --sync normal --ack "$2.ack" \
		> "$2.out" 2> "$2.err" &
	app_pid=$!
	started "$app_pid"
	wait_acks "$2.ack" 100 "$app_pid" "$2.err" 10 "before the recipes"
}

# check_db DB WHAT: integrity ok, rows an unbroken prefix 1..K, K > 0.
check_db() {
	check_integrity "$1" "$2"
	read_rows "$1" "$2"
	[ "$count" -eq "$k" ] && [ "$k" -gt 0 ] ||
		fail "$1: not an unbroken prefix of commits: count, max(id) = $count $k"
	echo "$1: ok, rows 1..$k"
}

# --- syslog: a listener on /dev/log, if there is none --------------------
part=syslog
if [ -e /dev/log ]; then
	skip_part "/dev/log exists: the system logger has it, and this test cannot read its messages"
elif [ "$(id -u)" != 0 ] || ! command -v python3 >/dev/null; then
	skip_part "there is no /dev/log, and creating one needs root and python3"
else
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
open(sys.argv[1] + ".ready", "w").close()
with open(sys.argv[1], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b"\0\n") + b"\n")' "$T/syslog" &
	started $!
	devlog=1
	for _ in $(seq 50); do [ -e "$T/syslog.ready" ] && break; sleep 0.1; done
	if [ ! -e "$T/syslog.ready" ]; then
		devlog=
		skip_part "could not listen on /dev/log (did another test take it?)"
	fi
fi

command -v sqlite3 >/dev/null || fail "the sqlite3 command is missing (apt-get install sqlite3)"
command -v python3 >/dev/null || fail "python3 is missing"
DB_DIR=$T/app
export DB_DIR
start_app app "$DB_DIR"

# --- restic ---------------------------------------------------------------
part=restic
if ! command -v restic >/dev/null && [ "$(id -u)" = 0 ]; then
	apt-get install -y -qq --no-install-recommends restic >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends restic >/dev/null 2>&1; }
fi
if ! command -v restic >/dev/null; then
	skip_part "restic is missing (apt-get install restic)"
else
	RESTIC_REPOSITORY=$T/restic-repo RESTIC_PASSWORD=jetsnap-test-secret
	RESTORE_DIR=$T/restored XDG_CACHE_HOME=$T/cache
	export RESTIC_REPOSITORY RESTIC_PASSWORD RESTORE_DIR XDG_CACHE_HOME
	run_block "$recipes/restic.md" "sh recipe backup" > "$T/restic.out" 2>&1 ||
		fail "the restic backup recipe failed: $(cat "$T/restic.out")"
	run_block "$recipes/restic.md" "sh recipe restore" > "$T/restore.out" 2>&1 ||
		fail "the restic restore recipe failed: $(cat "$T/restore.out")"
	[ "$(tail -n 1 "$T/restore.out")" = ok ] ||
		fail "the restore recipe's integrity check did not print ok: $(cat "$T/restore.out")"
	check_db "$RESTORE_DIR$DB_DIR/app.db" "the database restic restored"
	[ "$(instance_state app)" = running ] || fail "app is $(instance_state app) after the restic recipe"
	ran=$((ran + 1))
fi

# --- Velero hooks -----------------------------------------------------------
part=velero
doc=$recipes/velero.md
block "$doc" "yaml recipe" > "$T/hooks.yaml"
pre=$(block "$doc" "sh recipe pre") post=$(block "$doc" "sh recipe post")
[ -s "$T/hooks.yaml" ] && [ -n "$pre" ] && [ -n "$post" ] || fail "$doc lacks its yaml, pre or post block"
if python3 -c 'import yaml' 2>/dev/null; then
	parse='import yaml, sys; a = yaml.safe_load(open(sys.argv[1]))["metadata"]["annotations"]'
else
	# Without PyYAML: these annotations are single-quoted flat scalars;
	# anything else in the block fails the test.
	parse='import sys, re
a = {}
for l in open(sys.argv[1]).read().splitlines()[2:]:
    m = re.fullmatch(r"    ([a-z./-]+): (?:\x27(.*)\x27|([^\x27\"]*))", l)
    if not m: sys.exit("cannot parse: " + l)
    a[m[1]] = m[2].replace("\x27\x27", "\x27") if m[2] is not None else m[3]'
fi
# hook WHICH: the shell command of that hook's annotation (argv /bin/sh -c CMD).
hook() {
	python3 -c "$parse"'
import json
argv = json.loads(a[sys.argv[2] + ".hook.backup.velero.io/command"])
assert argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3, argv
assert a[sys.argv[2] + ".hook.backup.velero.io/container"] == "app"
print(argv[2])' "$T/hooks.yaml" "$1" || fail "the $1 hook annotation in $doc does not parse"
}
pre_yaml=$(hook pre) || exit 1
post_yaml=$(hook post) || exit 1
[ "$pre_yaml" = "$pre" ] || fail "the pre hook annotation runs '$pre_yaml', the doc's pre hook is '$pre'"
[ "$post_yaml" = "$post" ] || fail "the post hook annotation runs '$post_yaml', the doc's post hook is '$post'"
acks=$(wc -l < "$DB_DIR.ack")
/bin/sh -c "$pre_yaml" || fail "the pre hook exited $?"
[ "$(instance_state app)" = frozen ] || fail "app is $(instance_state app) after the pre hook, not frozen"
sleep 0.5
[ "$(wc -l < "$DB_DIR.ack")" -gt "$acks" ] || fail "the database stopped committing while frozen"
/bin/sh -c "$post_yaml" > "$T/post.out" 2>&1 || fail "the post hook exited $?: $(cat "$T/post.out")"
[ "$(instance_state app)" = running ] || fail "app is $(instance_state app) after the post hook, not running"
echo "velero: annotations parse, pre hook froze app, post hook thawed it (separate processes)"
ran=$((ran + 1))

# --- syslog events ----------------------------------------------------------
# An abort (2007) and a freeze that expires (2004 from the shim, and from
# the library at the thaw, which then fails) on top of the runs above.
if [ -n "$devlog" ]; then
	part=syslog
	aborted=$("$jetsnap" freeze --instance app | head -n 1)
	"$jetsnap" abort "$aborted" || fail "abort of snapshot $aborted failed"
	id=$("$jetsnap" freeze --instance app --timeout 300 | head -n 1)
	sleep 1.5
	"$jetsnap" thaw "$id" 2> "$T/thaw.err" && fail "a thaw after the freeze expired exited 0"
	sleep 0.3
	# Other tests may log too: look for our instance and snapshots.
	for ev in "2001 freeze of snapshot $aborted started: instances app (pid $app_pid)" \
		  "2003 freeze of snapshot $aborted ended" "2007 snapshot $aborted aborted" \
		  "2001 freeze of snapshot $id started: instances app (pid $app_pid)" \
		  "2004 freeze of snapshot $id timed out in instance app (pid $app_pid)" \
		  "2004 freeze of snapshot $id timed out:" "2007 snapshot $id aborted" \
		  "2006 snapshot [0-9]* completed"; do
		grep -q "$ev" "$T/syslog" || fail "no syslog message with '$ev'; got: $(cat "$T/syslog")"
	done
	grep -q '^<1[0-5]>.*jetsnap\[[0-9]*\]: 2001 ' "$T/syslog" || fail "2001 is not logged as LOG_USER by jetsnap: $(cat "$T/syslog")"
	echo "syslog: 2001 2003 2004 2006 2007 logged:"
	grep -e "pid $app_pid" -e " snapshot $aborted " -e " snapshot $id " "$T/syslog" | sed 's/^/  /' | tail -n 8
	ran=$((ran + 1))
fi
stop_all $app_pid

# --- btrfs --------------------------------------------------------------------
part=btrfs
if [ "$(id -u)" != 0 ]; then
	skip_part "needs root (a loop-mounted btrfs)"
elif ! command -v mkfs.btrfs >/dev/null || ! command -v btrfs >/dev/null; then
	skip_part "btrfs-progs is missing (apt-get install btrfs-progs)"
elif ! truncate -s 256M "$T/btrfs.img" || ! mkfs.btrfs -q "$T/btrfs.img" >/dev/null 2>&1; then
	skip_part "mkfs.btrfs failed"
elif ! mkdir "$T/mnt" || ! loopdev=$(losetup -f --show "$T/btrfs.img" 2>/dev/null) ||
     ! mount -t btrfs "$loopdev" "$T/mnt" 2>"$T/mount.err"; then
	skip_part "cannot loop-mount a btrfs here: $(cat "$T/mount.err" 2>/dev/null)"
else
	mnt=$T/mnt
	btrfs -q subvolume create "$mnt/data" >/dev/null || fail "btrfs subvolume create failed"
	mkdir "$mnt/snapshots"
	DATA=$mnt/data SNAPSHOTS=$mnt/snapshots
	export DATA SNAPSHOTS
	start_app btrfs-app "$DATA/db"
	# The doc freezes "app"; this instance is named so only inside the block.
	sed 's/--instance app /--instance btrfs-app /' "$recipes/btrfs.md" > "$T/btrfs.md"
	run_block "$T/btrfs.md" "sh recipe" > "$T/btrfs.out" 2>&1 || fail "the btrfs recipe failed: $(cat "$T/btrfs.out")"
	snap=$(ls -d "$SNAPSHOTS"/data-* 2>/dev/null)
	[ -n "$snap" ] && [ -d "$snap" ] || fail "the btrfs recipe made no snapshot in $SNAPSHOTS: $(cat "$T/btrfs.out")"
	[ "$(btrfs property get -ts "$snap" ro)" = ro=true ] || fail "$snap is not read-only"
	cp -a "$snap/db" "$T/btrfs-copy"	# SQLite must write its -shm to open it
	check_db "$T/btrfs-copy/app.db" "the btrfs snapshot"
	stop_all $app_pid
	ran=$((ran + 1))
fi

# --- systemd drop-in ----------------------------------------------------------
part=systemd
doc=$recipes/systemd-kubernetes.md
block "$doc" "ini recipe" > "$T/dropin.conf"
[ -s "$T/dropin.conf" ] || fail "$doc has no ini recipe block"
grep -q '^Environment=LD_PRELOAD=.*/libjetsnap-shim\.so$' "$T/dropin.conf" || fail "the drop-in sets no LD_PRELOAD of the shim"
inst=$(sed -n 's/^Environment=JETSNAP_INSTANCE=//p' "$T/dropin.conf")
[ -n "$inst" ] || fail "the drop-in sets no JETSNAP_INSTANCE"
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/units/jsdemo.service.d"
	printf '[Unit]\nDescription=jetsnap drop-in check\n[Service]\nExecStart=/bin/sleep 1\n' > "$T/units/jsdemo.service"
	cp "$T/dropin.conf" "$T/units/jsdemo.service.d/jetsnap.conf"
	SYSTEMD_UNIT_PATH=$T/units: systemd-analyze verify --man=no "$T/units/jsdemo.service" > "$T/verify.out" 2>&1 ||
		fail "systemd-analyze verify rejects the drop-in: $(cat "$T/verify.out")"
	grep -q jetsnap.conf "$T/verify.out" && fail "systemd-analyze verify complains about the drop-in: $(cat "$T/verify.out")"
	echo "systemd: systemd-analyze verify accepts the drop-in"
else
	echo "systemd: systemd-analyze is missing: the drop-in is only parsed"
fi
# Its environment, with the shim we built and our runtime and state dirs,
# makes a process an instance of that name.
set --
while IFS= read -r line; do
	case $line in
	Environment=LD_PRELOAD=*) set -- "$@" "LD_PRELOAD=$JETSNAP_SHIM" ;;
	Environment=JETSNAP_RUNTIME_DIR=* | Environment=JETSNAP_STATE_DIR=*) ;;
	Environment=*) set -- "$@" "${line#Environment=}" ;;
	esac
done < "$T/dropin.conf"
env "$@" sleep 30 &
p=$!
started "$p"
for _ in $(seq 50); do [ "$(instance_state "$inst")" = running ] && break; sleep 0.1; done
[ "$(instance_state "$inst")" = running ] || fail "a process with the drop-in's environment is no instance $inst"
stop_all $p
echo "systemd: a process with the drop-in's environment runs as instance $inst"
ran=$((ran + 1))

# --- bash completion ------------------------------------------------------------
part=completion
if ! command -v bash >/dev/null; then
	skip_part "bash is missing"
else
	"$jetsnap" exec --instance comp-one -- sleep 30 &
	p1=$!
	"$jetsnap" exec --instance comp-two -- sleep 30 &
	p2=$!
	started "$p1"
	started "$p2"
	for _ in $(seq 50); do [ "$(instance_state comp-two)" = running ] && break; sleep 0.1; done
	# complete WORD...: the candidates for the last word, sorted, one a line.
	complete() {
		bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
			COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
			_jetsnap jetsnap "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
			printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort' \
			sh "$srcdir/docs/completion/jetsnap.bash" "$@"
	}
	# expect WANT WORD...
	expect() {
		want=$1
		shift
		got=$(complete "$@" | tr '\n' ' ')
		[ "$got" = "$want" ] || fail "completing '$*': got '$got', wanted '$want'"
	}
	expect "shim-path snapshot status " jetsnap s
	expect "abort call end exec freeze list recover shim-path snapshot status thaw " jetsnap ""
	expect "--instance " jetsnap freeze --ins
	expect "--instance --timeout " jetsnap freeze --
	expect "--instance --timeout --verbose -v " jetsnap snapshot -
	expect "--json " jetsnap list -
	expect "comp-one comp-two " jetsnap freeze --instance comp-
	expect "comp-one comp-two " jetsnap snapshot -v --instance comp
	expect "--abort " jetsnap end --
	complete jetsnap call JetOSSnapshotT | grep -qx JetOSSnapshotThaw || fail "completing 'jetsnap call JetOSSnapshotT' gives no JetOSSnapshotThaw"
	stop_all $p1 $p2
	echo "completion: commands, options and instance names complete"
	ran=$((ran + 1))
fi

echo "recipes: $ran parts passed, $skipped skipped"
[ "$ran" -gt 0 ] || exit 77
exit 0
