# shellcheck shell=bash
# Shared parts of the tests/servers/*.sh start/stop scripts (sourced).
#
# Conventions every server script follows:
#   - one instance per DIR; everything it writes stays in DIR;
#   - DIR/ports.env: shell assignments (SMTP_HOST=127.0.0.1, *_PORT=...);
#   - DIR/pids: the PIDs to stop, one per line; "stop DIR" sends them
#     SIGTERM, waits (bounded), then SIGKILL;
#   - ports are picked at run time (probe.py ports), only 127.0.0.1.

SRV_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRV_PY=/usr/bin/python3	# Debian's: it sees python3-aiosmtpd
SRV_CACHE=${SMTPCRED_SERVERS_CACHE:-/var/cache/smtpcred-test-servers}
SRV_START_TIMEOUT=${SRV_START_TIMEOUT:-20}	# seconds for the ports to answer

srv_say() { echo "${SRV_NAME:-servers}: $*" >&2; }

# srv_die MESSAGE [LOGFILE...]: print MESSAGE and the tail of every log.
srv_die() {
	local msg=$1 f
	shift
	srv_say "$msg"
	for f in "$@"; do
		[ -s "$f" ] || continue
		echo "----- last lines of $f -----" >&2
		tail -n 40 "$f" >&2
	done
	exit 1
}

srv_free_ports() { "$SRV_PY" "$SRV_HERE/probe.py" ports "$1"; }

# srv_wait [--connect-only] PORT[:tls]...: bounded by SRV_START_TIMEOUT.
srv_wait() { "$SRV_PY" "$SRV_HERE/probe.py" wait --timeout "$SRV_START_TIMEOUT" "$@"; }

# srv_alive PID...: true while every PID runs.
srv_alive() {
	local p
	for p in "$@"; do kill -0 "$p" 2>/dev/null || return 1; done
}

# srv_stop DIR: stop the PIDs listed in DIR/pids (TERM, up to 10 s, KILL).
srv_stop() {
	local dir=$1 p i left
	[ -f "$dir/pids" ] || return 0
	mapfile -t left <"$dir/pids"
	for p in "${left[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for ((i = 0; i < 200; i++)); do
		local still=()
		for p in "${left[@]}"; do
			[ -n "$p" ] && kill -0 "$p" 2>/dev/null && still+=("$p")
		done
		left=("${still[@]}")
		[ ${#left[@]} -eq 0 ] && break
		sleep 0.05
	done
	for p in "${left[@]}"; do
		srv_say "pid $p did not stop on SIGTERM, sending SIGKILL"
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -f "$dir/pids"
}

# srv_pki DIR: the test PKI folder ($PKI_DIR, default DIR/pki), made once.
srv_pki() {
	local pki=${PKI_DIR:-$1/pki}
	bash "$SRV_HERE/pki.sh" "$pki" || srv_die "cannot make the test PKI in $pki"
	(cd "$pki" && pwd)
}

# srv_maildir DIR USER: make DIR/mail a Maildir that USER can write (the
# MTAs never deliver as root).  DIR itself gets o+x so USER can reach it;
# the folders above DIR must already be searchable by USER.
srv_maildir() {
	local dir=$1 user=$2
	mkdir -p "$dir/mail/new" "$dir/mail/cur" "$dir/mail/tmp"
	chmod o+x "$dir"
	chown -R "$user:" "$dir/mail"
	chmod 700 "$dir/mail" "$dir/mail/new" "$dir/mail/cur" "$dir/mail/tmp"
	setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups \
		test -w "$dir/mail/new" ||
		srv_die "user $user cannot reach $dir/mail: make the folders above $dir searchable (chmod o+x)"
}

# srv_need_root: the MTAs start as root and drop privileges themselves.
srv_need_root() {
	[ "$(id -u)" -eq 0 ] || srv_die "must run as root (the MTA drops privileges itself)"
}

# srv_check_user NAME: create a missing system user (the install script
# normally did).
srv_check_user() {
	getent passwd "$1" >/dev/null ||
		useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$1"
}

# srv_since T0: seconds since T0 (an $EPOCHREALTIME value), 2 decimals.
srv_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
