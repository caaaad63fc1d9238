#!/bin/bash
# Run a command against a real Secret Service on a private D-Bus session bus.
#
#   [SMTPCRED_TEST_SS=gnome-keyring|keepassxc|kwallet] \
#   tests/helpers/with-keyring.sh CMD [ARGS...]
#
# The provider (default gnome-keyring) is started by
# tests/helpers/ss-provider.sh.  Everything lives in a fresh temporary
# tree (HOME, XDG_*), the default collection is created and unlocked
# without a prompt (password $KEYRING_PASSWORD, default "test"), and the
# bus, the daemon and the tree are gone when CMD ends.  Exported for CMD:
#   WK_DIR           the temporary tree
#   KEYRING_PASSWORD the collection password
#   KEYRING_CTL      "/usr/bin/python3 .../keyring-ctl.py": lock | unlock
#   SMTPCRED_TEST_SS the provider; WK_VAULT_GLOB its encrypted store files
#   SMTPCRED_AUDIT_LOG is NOT set: the default ($XDG_STATE_HOME/...) is used.
# When the provider's program is not installed, CMD does not run and a
# TAP plan "1..0 # SKIP" is printed (meson counts it as skipped).
set -eu
if [ -z "${WITH_KEYRING_INNER:-}" ]; then
	# No display: a prompt must fail fast instead of opening a window.
	unset DISPLAY WAYLAND_DISPLAY
	export WITH_KEYRING_INNER=1
	case ${SMTPCRED_TEST_SS:-gnome-keyring} in
	keepassxc) need=keepassxc ;;
	kwallet) need=kwalletd5 ;;
	*) need= ;;
	esac
	if [ -n "$need" ]; then
		if ! command -v "$need" >/dev/null; then
			echo "1..0 # SKIP $need is not installed (scripts/install-deps.sh --test)"
			exit 0
		fi
		# KeePassXC and KWallet: a bus that can activate nothing, so no
		# other Secret Service can answer in their place (the file says
		# why); Qt's offscreen platform instead of a display.
		export QT_QPA_PLATFORM=offscreen
		exec dbus-run-session \
			--config-file="$(dirname "$0")/secret-service/private-bus.conf" \
			--dbus-daemon="$(dirname "$0")/dbus-daemon-stderr.sh" \
			-- "$0" "$@"
	fi
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
	if [ "$(type -t ss_stop)" = function ]; then
		ss_stop || true
	else
		pid=$(cat "$T/keyring.pid" 2>/dev/null || true)
		if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	fi
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
# shellcheck source-path=SCRIPTDIR source=ss-provider.sh
. "$here/ss-provider.sh"
if ! ss_prepare || ! ss_start; then
	echo "with-keyring.sh: $SMTPCRED_TEST_SS did not start (log: $T/keyring.log)" >&2
	tail -20 "$T/keyring.log" >&2
	exit 1
fi
set +e
"$@"
rc=$?
exit $rc
