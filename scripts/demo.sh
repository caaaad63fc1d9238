#!/bin/bash
# The README's main job: build smtpcred, start a private session bus with a
# real gnome-keyring, store a credential, rotate it, roll it back, and show
# the audit log and its verified hash chain.  Nothing outside a temporary
# directory is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

bash scripts/install-deps.sh
unset DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS
if [ ! -f build-demo/build.ninja ]; then
	meson setup build-demo >/dev/null
fi
meson compile -C build-demo >/dev/null

export SMTPCRED="$src/build-demo/tools/smtpcred"
exec "$src/tests/helpers/with-keyring.sh" bash -c '
set -eu
step() { printf "\n\033[1m== %s\033[0m\n" "$*"; }
run() { printf "$ %s\n" "$*"; "$@"; }
sc() { "$SMTPCRED" "$@"; }
# A throwaway password, handed over on a pipe: never in argv or the env.
pw() { head -c 18 /dev/urandom | base64; }

step "store a credential (password from a pipe, never on the command line)"
echo "$ smtpcred add alerts --host smtp.example.org --port 587 --user alerts@example.org --max-age 90 --password-stdin"
pw | sc add alerts --host smtp.example.org --port 587 --user alerts@example.org \
	--max-age 90 --password-stdin
run "$SMTPCRED" show alerts

step "rotate: stage version 2, promote it, keep version 1 as previous"
echo "$ smtpcred rotate alerts --password-stdin"
pw | sc rotate alerts --password-stdin
run "$SMTPCRED" list

step "roll back inside the grace window"
run "$SMTPCRED" rollback alerts
run "$SMTPCRED" show alerts

step "monitoring"
run "$SMTPCRED" check || true

step "the audit log (JSON lines, hash-chained, fsynced)"
run "$SMTPCRED" audit
run "$SMTPCRED" audit --verify
echo
echo "raw record:"; "$SMTPCRED" audit --json | tail -n 1
'
