#!/bin/bash
# No session bus, and a session bus without a Secret Service: every command
# that needs the keyring fails fast with a clear message and exit 69
# (check: 2, doctor: 1).  NOT run through with-keyring.sh: this script
# makes its own temporary tree and, for the second part, a bare bus.
set -u
here=$(cd "$(dirname "$0")" && pwd)

WK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/smtpcred-nobus.XXXXXX") || { echo "Bail out! cannot create a temporary directory"; exit 1; }
export WK_DIR
bus_pid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ -n "$bus_pid" ]; then
		kill "$bus_pid" 2>/dev/null
	fi
	[ -n "${KEEP_TEST_FILES:-}" ] || rm -rf "$WK_DIR"
}
trap cleanup EXIT

export HOME=$WK_DIR/home XDG_DATA_HOME=$WK_DIR/data XDG_CONFIG_HOME=$WK_DIR/config \
	XDG_CACHE_HOME=$WK_DIR/cache XDG_STATE_HOME=$WK_DIR/state
mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_STATE_HOME"
unset XDG_RUNTIME_DIR DISPLAY WAYLAND_DISPLAY SMTPCRED_AUDIT_LOG
export DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

CANARY="CANARY-s3cr3t-cli-no-bus"
PW=$CANARY
UNAVAILABLE=69
FAST=4	# seconds: a missing bus or service is not a keyring timeout (5 s)

# expect_fast WANT CMD...: like expect_rc, and done within $FAST seconds.
expect_fast() {
	local t0 t1
	t0=$(date +%s%N)
	expect_rc "$@"
	t1=$(date +%s%N)
	if [ $(((t1 - t0) / 1000000000)) -ge "$FAST" ]; then
		fail "took $(((t1 - t0) / 1000000)) ms: $*"
	fi
}

# every_command WHAT: the keyring commands all fail with WHAT.
every_command() {
	local what=$1 label=$2

	begin "$label: list exits 69 '$what'"
	expect_fast "$UNAVAILABLE" "$SMTPCRED" list
	assert_contains "$ERR" "$what"
	assert_empty "$OUT"
	end

	begin "$label: list --json exits 69 '$what'"
	expect_fast "$UNAVAILABLE" "$SMTPCRED" list --json
	assert_contains "$ERR" "$what"
	end

	begin "$label: show exits 69 '$what' (not 'not found')"
	expect_fast "$UNAVAILABLE" "$SMTPCRED" show nb1
	assert_contains "$ERR" "$what"
	assert_not_contains "$ERR" "not found"
	end

	begin "$label: add exits 69 '$what'"
	expect_fast "$UNAVAILABLE" "$SMTPCRED" add nb1 --host smtp.example.org --user nb1 \
		--password-stdin < <(printf '%s\n' "$PW-nb1")
	assert_contains "$ERR" "$what"
	end

	begin "$label: rotate exits 69 '$what'"
	expect_fast "$UNAVAILABLE" "$SMTPCRED" rotate nb1 --password-stdin < <(printf '%s\n' "$PW-nb1-v2")
	assert_contains "$ERR" "$what"
	end

	begin "$label: rollback and remove exit 69 '$what'"
	expect_fast "$UNAVAILABLE" "$SMTPCRED" rollback nb1
	assert_contains "$ERR" "$what"
	expect_fast "$UNAVAILABLE" "$SMTPCRED" remove nb1 --yes
	assert_contains "$ERR" "$what"
	end

	begin "$label: check exits 2 '$what'"
	expect_fast 2 "$SMTPCRED" check
	assert_output_contains "$what"
	end
}

# ---- no session bus ---------------------------------------------------------

every_command "no session bus" "bus address to nowhere"

begin "bus address to nowhere: doctor exits 1 with a FAIL line for the session bus"
expect_fast 1 "$SMTPCRED" doctor
assert_matches "$OUT" '^FAIL[[:space:]]+session bus'
end

begin "no DBUS_SESSION_BUS_ADDRESS and no XDG_RUNTIME_DIR: list --user exits 69 'no session bus'"
expect_fast "$UNAVAILABLE" env -u DBUS_SESSION_BUS_ADDRESS "$SMTPCRED" --user list
assert_contains "$ERR" "no session bus"
end

# Root with no session bus has no keyring to reach: it works on the
# broker's system store (issue 13), here one that does not exist.
if [ "$(id -u)" = 0 ]; then
	begin "root, no bus, no --user: the system store, and a clear word that there is none (69)"
	expect_fast "$UNAVAILABLE" env -u DBUS_SESSION_BUS_ADDRESS \
		SMTPCRED_SYSTEM_DIR="$WK_DIR/no-store" SMTPCRED_AUDIT_LOG="$WK_DIR/sys-audit.log" \
		"$SMTPCRED" list
	assert_contains "$ERR" "no system store here: 'smtpcred --system init' makes one"
	end
fi

begin "audit --verify needs no bus (exit 0, chain intact)"
expect_fast 0 "$SMTPCRED" audit --verify
assert_contains "$OUT" "chain intact"
end

begin "--help needs no bus"
expect_fast 0 "$SMTPCRED" --help
end

# ---- a session bus with no Secret Service -------------------------------------

# A bare bus: no service directories, so nothing can be activated (the
# distribution's session.conf would start gnome-keyring on demand).
cat >"$WK_DIR/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$WK_DIR/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF

begin "a bare session bus starts"
dbus-daemon --config-file="$WK_DIR/bus.conf" --fork \
	--print-address=3 --print-pid=4 3>"$WK_DIR/bus.addr" 4>"$WK_DIR/bus.pid" \
	</dev/null >"$WK_DIR/bus.log" 2>&1
bus_pid=$(head -n 1 "$WK_DIR/bus.pid")
addr=$(head -n 1 "$WK_DIR/bus.addr")
if [ -z "$bus_pid" ] || [ -z "$addr" ]; then
	fail "dbus-daemon did not start"
	excerpt "dbus-daemon" "$WK_DIR/bus.log"
	end
	finish
fi
export DBUS_SESSION_BUS_ADDRESS=$addr
expect_rc 0 dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
	org.freedesktop.DBus.ListNames
assert_not_contains "$OUT" "org.freedesktop.secrets"
end

every_command "no Secret Service" "bus without Secret Service"

begin "bus without Secret Service: doctor exits 1, session bus ok, Secret Service FAIL"
expect_fast 1 "$SMTPCRED" doctor
assert_matches "$OUT" '^ok[[:space:]]+session bus'
assert_matches "$OUT" '^FAIL[[:space:]]+Secret Service'
end

begin "nothing registered the Secret Service name on the bare bus"
expect_rc 0 dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
	org.freedesktop.DBus.ListNames
assert_not_contains "$OUT" "org.freedesktop.secrets"
end

canary_check "$CANARY"
finish
