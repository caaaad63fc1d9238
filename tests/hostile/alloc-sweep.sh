#!/bin/bash
# Allocation failure at every site of common/ and libsend during a whole
# send (alloc-sweep.c), against the scripted server in its normal "ok"
# dialogue (STARTTLS, AUTH PLAIN).  TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${ALLOC_SWEEP:?}"
CANARY="CANARY-s3cr3t-alloc-sweep-$$"
SRV=$(mktemp -d "${TMPDIR:-/tmp}/smtpcred-sweep.XXXXXX") || { echo "Bail out! cannot create a temporary directory"; exit 1; }
chmod 711 "$SRV"
trap 'bash "$top/tests/servers/hostile.sh" stop "$SRV/d" >/dev/null 2>&1; [ -n "${KEEP_TEST_FILES:-}" ] || rm -rf "$SRV"' EXIT
bash "$top/tests/servers/pki.sh" "$SRV/pki" >/dev/null 2>&1
PWFILE=$SRV/server-pw
printf '%s' "$CANARY" >"$PWFILE"
printf '%s\t%s\n' server-pw "the test server's password input" \
	pw "the sweep's password input" >"$SRV/.canary-exempt"
if ! PKI_DIR=$SRV/pki SMTP_USER=u@test.example SMTP_PASS_FILE=$PWFILE \
	bash "$top/tests/servers/hostile.sh" start ok "$SRV/d" >"$SRV/start.log" 2>&1; then
	echo "Bail out! hostile server: $(tail -2 "$SRV/start.log")"
	exit 1
fi
# shellcheck disable=SC1091
. "$SRV/d/ports.env"
printf '%s\n' "$CANARY" >"$SRV/pw"
"$ALLOC_SWEEP" "$PORT" "$SRV/pki/ca.crt" u@test.example "$SRV/pw" >"$SRV/out" 2>"$SRV/err"
rc=$?
sed 's/^/# /' "$SRV/out" | tail -15
if [ "$rc" = 0 ]; then
	echo "ok 1 - every allocation of a whole send failed in turn: clean errors, nothing falsely sent, no crash or leak ($(tail -1 "$SRV/out"))"
else
	echo "not ok 1 - allocation failure sweep over a whole send (exit $rc)"
	tail -20 "$SRV/err" | sed 's/^/# /'
fi
if grep -qF -f "$SRV/pw" -- "$SRV/out" "$SRV/err"; then
	echo "not ok 2 - canary: not in the sweep's output"
else
	echo "ok 2 - canary: not in the sweep's output"
fi
echo "1..2"
