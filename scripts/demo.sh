#!/bin/bash
# The README's main job: build smtpcred, start a private session bus with a
# real gnome-keyring and a private Postfix (STARTTLS + SASL AUTH, test CA)
# on 127.0.0.1, store the SMTP password in the keyring, send a real
# message with smtpsend, rotate the password, and show the delivered
# message and the audit log with its verified hash chain.  Nothing outside
# temporary directories is touched.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
src=$PWD
# Never stop without saying why.
trap 'echo "demo: failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

bash scripts/install-deps.sh || { echo "demo: could not install the build and run dependencies" >&2; exit 1; }
bash scripts/install-test-servers.sh || { echo "demo: could not install the test servers" >&2; exit 1; }
unset DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS
if [ ! -f build-demo/build.ninja ]; then
	meson setup build-demo >/dev/null
fi
meson compile -C build-demo >/dev/null

export SMTPCRED="$src/build-demo/tools/smtpcred"
export SMTPSEND="$src/build-demo/tools/smtpsend"
export DEMO_SRC=$src
# shellcheck disable=SC2016  # the inner script expands its own variables
exec "$src/tests/helpers/with-keyring.sh" bash -c '
set -Eeu
trap "echo \"demo: failed (exit \$?): \$BASH_COMMAND\" >&2" ERR
step() { printf "\n\033[1m== %s\033[0m\n" "$*"; }
run() { printf "$ %s\n" "$*"; "$@"; }
# A throwaway password, handed over on a pipe: never in argv or the env.
PW=$(head -c 18 /dev/urandom | base64)

SRV=$(mktemp -d /tmp/smtpcred-demo.XXXXXX) || { echo "demo.sh: cannot create a temporary directory" >&2; exit 1; }
chmod 711 "$SRV"
trap "bash $DEMO_SRC/tests/servers/postfix.sh stop $SRV/s >/dev/null 2>&1; rm -rf $SRV" EXIT
step "a private Postfix on 127.0.0.1 (STARTTLS required, AUTH via Dovecot)"
bash "$DEMO_SRC/tests/servers/pki.sh" "$SRV/pki" >/dev/null 2>&1
# (The server is a fixture: it gets its copy of the password from us.)
SMTP_USER=alerts@example.org SMTP_PASS=$PW PKI_DIR=$SRV/pki \
	bash "$DEMO_SRC/tests/servers/postfix.sh" start "$SRV/s"
. "$SRV/s/ports.env"

step "store the SMTP password in the keyring (from a pipe, never argv)"
echo "$ smtpcred add alerts --host localhost --port $SUBMISSION_PORT --user alerts@example.org --ca-file ca.crt --password-stdin"
printf "%s" "$PW" | "$SMTPCRED" add alerts --host localhost --port "$SUBMISSION_PORT" \
	--user alerts@example.org --mechs PLAIN,LOGIN --ca-file "$SRV/pki/ca.crt" --password-stdin
run "$SMTPCRED" show alerts

step "send a real message: lease after verified TLS, AUTH, wipe (-v: redacted trace)"
printf "Hello from smtpcred.\n" > "$SRV/body.txt"
run "$SMTPSEND" --account alerts -v --from alerts@example.org --to ops@example.org \
	--subject "Grüße from smtpsend" < "$SRV/body.txt"
sleep 0.5
step "delivered into the Maildir"
f=$(find "$SRV/s/mail" -path "*/new/*" -type f | head -1)
sed -n "1,/^\r\{0,1\}$/p" "$f" | grep -E "^(Received|From|To|Subject|Date|Message-ID):" | head -8

step "rotate --verify: version 2 passes a real AUTH test (no mail) before promotion"
echo "$ smtpcred rotate alerts --verify --password-stdin"
printf "%s" "$PW" | "$SMTPCRED" rotate alerts --verify --password-stdin
run "$SMTPCRED" list
run "$SMTPCRED" check || true

step "the audit log (JSON lines, hash-chained; the lease on disk before the password is used)"
run "$SMTPCRED" audit
run "$SMTPCRED" audit --verify
echo
echo "raw record:"; "$SMTPCRED" audit --json | grep auth-result | tail -n 1
'
