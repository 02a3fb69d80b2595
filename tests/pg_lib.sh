# tests/pg_lib.sh — sourced by tests/pg_e2e.sh and `scripts/demo --postgres`:
# run Debian's PostgreSQL 15 as an unprivileged user, under jetsnap or not.
#
#   pg_need_server           0 if the server, client tools and amcheck are installed
#   pg_install               install them if missing (root only): 0 when they are there,
#                            else 1 and $pg_why says why
#   pg_as_user USER DIR…     from now on `$pg_as CMD…` runs CMD as USER (created if
#                            missing; ourselves when not root), who owns DIR…
#   pg_tools BUILDDIR DIR    copy jetsnap, libjetsnap and the shim into DIR (USER's),
#                            set $jetsnap, JETSNAP_SHIM and LD_LIBRARY_PATH to them
#   pg_free_port START       the first TCP port from START nobody listens on
#   pg_sql SOCK PORT SQL     the rows, columns separated by spaces
#   pg_wait_ready PID SOCK PORT   until the server accepts connections: 0; 1 if
#                            PID exited first, 2 after 60 s
#   pg_start DIR SOCK PORT LOG [WRAPPER…]   start DIR's server as USER (through
#                            WRAPPER…, e.g. jetsnap exec --), loopback PORT, socket
#                            in SOCK, output to LOG; $pg_pid is its pid (set before
#                            it waits), then as pg_wait_ready
#   pg_stop PID              fast shutdown (SIGINT) and wait, 30 s at most:
#                            $pg_rc is its exit status, or "timeout"
#   pg_amcheck SOCK PORT OUT every heap and index of every database, into OUT: its rc
#   pg_checksums DIR OUT     every page's checksum of a stopped cluster, into OUT: its rc
#   pg_kill_tree SIG PID     PID first (so it forks nothing unsignalled), then its children
#
# A server started as `$pg_as … postgres … &` is the shell's child and $! its
# pid: setpriv execs in place, and so do `jetsnap exec` and postgres.
pgbin=/usr/lib/postgresql/15/bin
pg_packages="postgresql-15 postgresql-client-15"
pg_as=

pg_need_server() {
	for t in postgres initdb pg_checksums pgbench psql pg_isready pg_amcheck; do
		[ -x "$pgbin/$t" ] || return 1
	done
	[ -f /usr/share/postgresql/15/extension/amcheck.control ]
}

pg_install() {
	pg_need_server && return 0
	if [ "$(id -u)" -ne 0 ]; then
		pg_why="PostgreSQL 15 is missing: install it as root (apt-get install $pg_packages)"
		return 1
	fi
	echo "installing $pg_packages" >&2
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $pg_packages; } > /dev/null 2>&1 && pg_need_server &&
		return 0
	pg_why="PostgreSQL 15 is missing and apt-get install $pg_packages failed"
	return 1
}

pg_as_user() {
	u=$1
	shift
	[ "$(id -u)" -eq 0 ] || { pg_as=; return 0; }
	id -u "$u" > /dev/null 2>&1 || useradd -M -d /nonexistent -s /usr/sbin/nologin "$u" || return 1
	chown "$u:" "$@" || return 1
	pg_as="setpriv --reuid=$u --regid=$(id -g "$u") --clear-groups --"
}

# The build tree may be private (a home directory): the user gets copies.
pg_tools() {
	real=$1/jetsnap
	# A libtool wrapper script: the real program is in .libs/.
	[ "$(head -c 4 "$real" | od -An -c | tr -d ' ')" = '177ELF' ] || real=$1/.libs/jetsnap
	cp "$real" "$2/jetsnap" && cp "$1/.libs/libjetsnap-shim.so" "$2/" &&
		cp -P "$1"/.libs/libjetsnap.so* "$2/" && chmod -R a+rX "$2" || return 1
	jetsnap=$2/jetsnap
	JETSNAP_SHIM=$2/libjetsnap-shim.so
	LD_LIBRARY_PATH=$2
	export JETSNAP_SHIM LD_LIBRARY_PATH
}

pg_free_port() {
	p=$1
	while awk -v p="$(printf '%04X' "$p")" '$4 == "0A" && toupper($2) ~ (":" p "$") { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null; do
		p=$((p + 1))
	done
	echo "$p"
}

pg_sql() {
	"$pgbin/psql" -X -qAt -F ' ' -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U postgres -d postgres -c "$3" 2>&1
}

pg_wait_ready() {
	for _ in $(seq 600); do
		"$pgbin/pg_isready" -q -h "$2" -p "$3" && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.1
	done
	return 2
}

pg_start() {
	pg_d=$1 pg_s=$2 pg_p=$3 pg_log=$4
	shift 4
	$pg_as "$@" "$pgbin/postgres" -D "$pg_d" -c port="$pg_p" -c listen_addresses=127.0.0.1 \
		-c unix_socket_directories="$pg_s" > "$pg_log" 2>&1 &
	pg_pid=$!
	pg_wait_ready "$pg_pid" "$pg_s" "$pg_p"
}

pg_stop() {
	kill -INT "$1" 2>/dev/null
	for _ in $(seq 300); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$1" 2>/dev/null; then
		pg_rc=timeout
	else
		wait "$1"
		pg_rc=$?
	fi
}

pg_amcheck() {
	"$pgbin/pg_amcheck" -h "$1" -p "$2" -U postgres --all --install-missing --heapallindexed > "$3" 2>&1
}

pg_checksums() {
	$pg_as "$pgbin/pg_checksums" --check -D "$1" > "$2" 2>&1
}

pg_kill_tree() {
	kill "-$1" "$2" 2>/dev/null
	# /proc, not ps: procps is not installed everywhere.
	for c in $(cat /proc/"$2"/task/*/children 2>/dev/null); do kill "-$1" "$c" 2>/dev/null; done
}
