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
# shellcheck disable=SC2034  # used by the scripts that source this
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

# srv_wait [--connect-only] [--pid PID] PORT[:tls]...: bounded by
# SRV_START_TIMEOUT; gives up early when PID ends.
srv_wait() { "$SRV_PY" "$SRV_HERE/probe.py" wait --timeout "$SRV_START_TIMEOUT" "$@"; }

# srv_alive PID...: true while every PID runs (a zombie does not count).
srv_alive() {
	local p st
	for p in "$@"; do
		st=$(ps -o stat= -p "$p" 2>/dev/null) || return 1
		case $st in Z*) return 1 ;; esac
	done
}

# srv_running DIR: true while a PID listed in DIR/pids is alive.
srv_running() {
	local p
	[ -f "$1/pids" ] || return 1
	while read -r p; do
		[ -n "$p" ] && srv_alive "$p" && return 0
	done <"$1/pids"
	return 1
}

# srv_group_alive PID...: true while one of the PIDs, or a process in one
# of their process groups, is alive (every daemon is started with setsid,
# so its PID is also its process group, which its children inherit).
srv_group_alive() {
	local g
	for g in "$@"; do
		ps -e -o pid=,pgid=,stat= |
			awk -v g="$g" '($1 == g || $2 == g) && $3 !~ /^Z/ { f = 1 } END { exit !f }' &&
			return 0
	done
	return 1
}

# srv_stop DIR: stop what DIR/pids lists.  Every daemon is started with
# setsid, so its PID is also its process group: SIGTERM goes to the whole
# group at once (Dovecot's master alone takes 1.2 s to exit and leaves its
# children behind for up to 30 s), then wait up to 10 s for the group to
# end, then SIGKILL what is left.  A PID that is not a group leader (any
# more) gets the signal alone.
srv_stop() {
	local dir=$1 p i pids=()
	[ -f "$dir/pids" ] || return 0
	mapfile -t pids < <(grep -E '^[0-9]+$' "$dir/pids")
	for p in "${pids[@]}"; do srv_signal TERM "$p"; done
	for ((i = 0; i < 200; i++)); do
		srv_group_alive "${pids[@]}" || break
		sleep 0.05
	done
	for p in "${pids[@]}"; do
		if srv_group_alive "$p"; then
			srv_say "process group $p did not stop on SIGTERM, sending SIGKILL"
			kill -KILL -- "-$p" 2>/dev/null || true
		fi
	done
	rm -f "$dir/pids"
}

# srv_signal SIG PID: to PID's process group if PID leads one, else to PID.
srv_signal() {
	local pg
	pg=$(ps -o pgid= -p "$2" 2>/dev/null | tr -d ' ') || true
	if [ "$pg" = "$2" ]; then
		kill "-$1" -- "-$2" 2>/dev/null || true
	else
		kill "-$1" "$2" 2>/dev/null || true
	fi
}

# srv_dir DIR: create DIR and print its absolute path.  The MTA
# configuration files take paths unquoted, so only [A-Za-z0-9._/+-] is
# allowed in it.
srv_dir() {
	local d
	mkdir -p "$1"
	d=$(cd "$1" && pwd)
	case $d in
	*[!A-Za-z0-9._/+-]*) srv_die "unusable folder name '$d': only letters, digits and ._/+- please" ;;
	esac
	echo "$d"
}

# srv_pass: the account's password, from the file $SMTP_PASS_FILE (tests
# pass it so, never through the environment of every server process) or
# $SMTP_PASS, default "smtppass".
srv_pass() {
	if [ -n "${SMTP_PASS_FILE:-}" ]; then
		cat -- "$SMTP_PASS_FILE" || srv_die "cannot read SMTP_PASS_FILE $SMTP_PASS_FILE"
	else
		printf '%s' "${SMTP_PASS:-smtppass}"
	fi
}

# srv_exempt DIR GLOB REASON: DIR/GLOB holds the account's password by
# design (the server's side: its user database, its transcript of AUTH).
# The whole-run canary scan (tests/hygiene/canary-run.py) skips exactly
# those files and prints the reason.
srv_exempt() {
	printf '%s\t%s\n' "$2" "$3" >>"$1/.canary-exempt"
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
