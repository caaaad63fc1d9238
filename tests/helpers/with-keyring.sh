#!/bin/bash
# Run a command against a real gnome-keyring on a private D-Bus session bus.
#
#   tests/helpers/with-keyring.sh CMD [ARGS...]
#
# Everything lives in a fresh temporary tree (HOME, XDG_*), the `login`
# collection is created and unlocked without a prompt (password
# $KEYRING_PASSWORD, default "test"), and the bus, the daemon and the tree
# are gone when CMD ends.  Exported for CMD:
#   WK_DIR           the temporary tree
#   KEYRING_PASSWORD the collection password
#   KEYRING_CTL      "/usr/bin/python3 .../keyring-ctl.py": lock | unlock
#   SMTPCRED_AUDIT_LOG is NOT set: the default ($XDG_STATE_HOME/...) is used.
set -eu
if [ -z "${WITH_KEYRING_INNER:-}" ]; then
	# No display: a prompt must fail fast instead of opening a window.
	unset DISPLAY WAYLAND_DISPLAY
	export WITH_KEYRING_INNER=1
	# Services the bus starts on demand (a fresh gnome-keyring-daemon
	# after a test killed the first) inherit the bus daemon's stdout and
	# print their environment there: keep it off CMD's stdout (TAP).
	exec dbus-run-session --dbus-daemon="$(dirname "$0")/dbus-daemon-stderr.sh" \
		-- "$0" "$@"
fi
unset WITH_KEYRING_INNER
here=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/smtpcred-kr.XXXXXX") || {
	echo "with-keyring.sh: cannot create a temporary directory in ${TMPDIR:-/tmp}" >&2; exit 1; }
# shellcheck disable=SC2317  # run by the EXIT trap below
cleanup() {
	local pid
	pid=$(cat "$T/keyring.pid" 2>/dev/null || true)
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	# KEEP_TEST_FILES: left for the whole-run canary scan (scripts/test.sh)
	[ -n "${KEEP_TEST_FILES:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
export HOME=$T/home XDG_DATA_HOME=$T/data XDG_CONFIG_HOME=$T/config \
	XDG_CACHE_HOME=$T/cache XDG_STATE_HOME=$T/state XDG_RUNTIME_DIR=$T/run
mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_STATE_HOME"
mkdir -p "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
export KEYRING_PASSWORD=${KEYRING_PASSWORD:-test}
export WK_DIR=$T
export KEYRING_CTL="/usr/bin/python3 $here/keyring-ctl.py"
printf '%s' "$KEYRING_PASSWORD" |
	gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>"$T/keyring.log"
# The daemon forks; ask the bus for its PID so it is torn down with the
# tree (exactly this bus's daemon, even with tests running in parallel).
pid=
for _ in $(seq 1 50); do
	pid=$(dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
		org.freedesktop.DBus.GetConnectionUnixProcessID \
		string:org.freedesktop.secrets 2>/dev/null | awk '/uint32/ {print $2}')
	[ -n "$pid" ] && break
	sleep 0.02
done
echo "${pid:-}" >"$T/keyring.pid"
set +e
"$@"
rc=$?
exit $rc
