# shellcheck shell=bash
# What keepassxc-secret-service.sh and kwallet-secret-service.sh share
# (sourced): PASS/FAIL reporting with timings, a temporary tree with
# private HOME and XDG dirs, the private bus, and the cleanup.
#
#   research_begin NAME [--keep]   the tree $T (kept at exit with --keep)
#   research_env                   HOME, XDG_* under $T; Qt offscreen
#   research_bus                   start the private bus (nothing can be
#                                  D-Bus-activated: private-bus.conf)
#   stop_pid PID WHAT              SIGTERM, then SIGKILL, after a polite
#                                  quit the caller asked for first
# The caller defines stop_app (called at exit) and sets APP_PID/MON_PID.

# shellcheck disable=SC2034 # PY, APP_PID: for the scripts that source this
{
	HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	PY=/usr/bin/python3 # Debian's python: the one that sees python3-dbus
	FAILS=0
	BUS_PID="" APP_PID="" MON_PID=""
}

log() { printf '%s\n' "$*" >&2; }
ok() { log "[PASS] $*"; }
bad() {
	log "[FAIL] $*"
	FAILS=$((FAILS + 1))
}

# step NAME CMD...: run CMD, print and record its wall time.
step() {
	local name=$1 t0 t1 rc=0
	shift
	t0=$(date +%s%N)
	"$@" || rc=$?
	t1=$(date +%s%N)
	printf '[time] %-58s %6d ms  rc=%d\n' "$name" $(((t1 - t0) / 1000000)) "$rc" |
		tee -a "$TIMES" >&2
	return "$rc"
}

# Wait 5 s for PID to end after the caller's polite quit, then SIGTERM and
# SIGKILL: KeePassXC catches SIGTERM and only asks itself to quit, which
# never happens while an (invisible) dialog is open.
stop_pid() { # PID WHAT
	local _
	for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$1" 2>/dev/null; then
		log "$2 did not quit; SIGTERM"
		kill "$1" 2>/dev/null
		sleep 1
		if kill -0 "$1" 2>/dev/null; then
			log "still alive after SIGTERM; SIGKILL"
			kill -9 "$1" 2>/dev/null
		fi
	fi
	wait "$1" 2>/dev/null
}

research_cleanup() {
	stop_app
	[ -n "$MON_PID" ] && kill "$MON_PID" 2>/dev/null && wait "$MON_PID" 2>/dev/null
	[ -n "$BUS_PID" ] && kill "$BUS_PID" 2>/dev/null
	if [ "$KEEP" = 1 ]; then
		log "kept $T"
	else
		rm -rf "$T"
		rmdir "$HERE/tmp" 2>/dev/null
	fi
}

research_begin() { # NAME [--keep]
	KEEP=0
	[ "${2-}" = "--keep" ] && KEEP=1
	mkdir -p "$HERE/tmp"
	T=$(mktemp -d "$HERE/tmp/$1.XXXXXX")
	TIMES="$T/times.txt"
	trap research_cleanup EXIT
	trap 'exit 130' INT TERM
}

# Private HOME and XDG dirs under $T.  No display: Qt's offscreen platform
# plugin (part of libqt5gui5) renders nothing and needs no X server;
# without it both daemons abort with "qt.qpa.xcb: could not connect to
# display".  Their dialogs are then invisible and never answered.
research_env() {
	export HOME="$T/home"
	export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share"
	export XDG_CACHE_HOME="$HOME/.cache" XDG_STATE_HOME="$HOME/.local/state"
	export XDG_RUNTIME_DIR="$T/run"
	mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
	chmod 700 "$XDG_RUNTIME_DIR"
	export QT_QPA_PLATFORM=offscreen
	unset DISPLAY WAYLAND_DISPLAY
}

# The tests' bus config (no <standard_session_servicedirs/>: Debian's
# org.freedesktop.secrets.service would start gnome-keyring, and
# org.kde.kwalletd5.service a second kwalletd5, in place of the provider
# under test), listening at $T/bus.  dbus-daemon as a non-systemd root
# warns "Failed to set fd limit": harmless.
research_start_bus() {
	BUS_PID=$(dbus-daemon --config-file="$HERE/private-bus.conf" \
		--address="unix:path=$T/bus" --fork --print-pid \
		2>"$T/dbus-daemon.log") || return 1
	export DBUS_SESSION_BUS_ADDRESS="unix:path=$T/bus"
	busctl --user status org.freedesktop.DBus >/dev/null
}
research_bus() {
	step "start private dbus-daemon" research_start_bus || {
		bad "dbus-daemon"
		exit 1
	}
}
