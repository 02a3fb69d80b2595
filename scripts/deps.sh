# Sourced by scripts/check and scripts/demo: install the Debian packages a
# step needs when any is missing.  Usage: install_deps build [test] [demo]
install_deps() {
	pkgs="build-essential autoconf automake libtool pkg-config libcriterion-dev libffi-dev libsqlite3-dev sqlite3"
	for want in "$@"; do
		case $want in
		test) pkgs="$pkgs strace binutils e2fsprogs btrfs-progs xfsprogs restic python3-yaml systemd mandoc python3 bsdextrautils util-linux liblmdb-dev lmdb-utils redis-server redis-tools postgresql postgresql-contrib" ;;
		demo) pkgs="$pkgs sqlite3" ;;
		esac
	done
	missing=
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "jetsnap: missing Debian packages:$missing; install them as root (apt-get install$missing) and run again" >&2
		return 1
	fi
	echo "jetsnap: installing$missing" >&2
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing; } >&2 ||
		{ echo "jetsnap: apt-get install$missing failed" >&2; return 1; }
}
