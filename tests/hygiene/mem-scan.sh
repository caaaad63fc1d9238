#!/bin/bash
# No secret left in memory after a send (issue 6): for AUTH PLAIN, LOGIN
# and SCRAM-SHA-256 against a real Postfix + Dovecot, mem-scan leases the
# canary from a real gnome-keyring, sends, frees the session and scans its
# own memory for the canary in raw, UTF-16 and base64 forms.  Run through
# with-keyring.sh.  TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../integration/keyring/lib.sh
. "$top/tests/integration/keyring/lib.sh"
: "${MEM_SCAN:?}"

CANARY="CANARY-s3cr3t-memscan-$$"
SRV=$(mktemp -d "${TMPDIR:-/tmp}/smtpcred-mem.XXXXXX") || { echo "Bail out! cannot create a temporary directory"; exit 1; }
chmod 711 "$SRV"
trap 'bash "$top/tests/servers/postfix.sh" stop "$SRV/s" >/dev/null 2>&1; [ -n "${KEEP_TEST_FILES:-}" ] || rm -rf "$SRV"' EXIT
bash "$top/tests/servers/pki.sh" "$SRV/pki" >/dev/null 2>&1
printf '%s' "$CANARY" >"$SECRET_DIR/pw"
PWFILE=$SECRET_DIR/pw
if ! SMTP_USER=mem@test.example SMTP_PASS_FILE=$PWFILE PKI_DIR=$SRV/pki \
	bash "$top/tests/servers/postfix.sh" start "$SRV/s" >"$SRV/start.log" 2>&1; then
	echo "Bail out! postfix did not start: $(tail -2 "$SRV/start.log")"
	exit 1
fi
# shellcheck disable=SC1091
. "$SRV/s/ports.env"
# The canary as hex of its bytes XOR 0x5a: never in clear in argv.
MASKED=$(printf '%s' "$CANARY" | /usr/bin/python3 -c 'import sys; print(bytes(b ^ 0x5a for b in sys.stdin.buffer.read()).hex())')

begin "the scanner finds every form of the password when it is there (planted)"
expect_rc 0 "$MEM_SCAN" --plant mem@test.example "$MASKED"
assert_matches "$OUT" '^forms found [0-9]+$'
n=$(sed -n 's/^patterns //p' "$OUT")
assert_matches "$OUT" "^forms found $n\$"
end

for mech in PLAIN LOGIN SCRAM-SHA-256; do
	name=mem-$(echo "$mech" | tr '[:upper:]' '[:lower:]' | tr -cd 'a-z0-9-')
	begin "AUTH $mech: after the send, no trace of the password in any readable mapping"
	expect_rc 0 "$SMTPCRED" add "$name" --host localhost --port "$SUBMISSION_PORT" \
		--user mem@test.example --mechs "$mech" --ca-file "$SRV/pki/ca.crt" \
		--password-stdin <"$SECRET_DIR/pw"
	expect_rc 0 "$MEM_SCAN" "$name" mem@test.example "$MASKED" \
		mem@test.example rcpt@example.org
	assert_matches "$OUT" '^patterns [0-9]+$'
	assert_matches "$OUT" '^hits 0$'
	end
done

# The admin CLI's own processes: each stops (test builds) before exiting
# until the scan of its memory is done.
# paused_scan LABEL CMD...: run CMD paused at exit, scan it, let it go.
paused_scan() {
	local fifo=$SRV/pause pid rc
	rm -f "$fifo" "$fifo.ready"
	mkfifo "$fifo"
	SMTPCRED_TEST_EXIT_FIFO=$fifo "$@" <"$SECRET_DIR/pw" >"$SRV/cli.out" 2>&1 &
	cpid=$!
	for _ in $(seq 200); do [ -s "$fifo.ready" ] && break; sleep 0.05; done
	pid=$(cat "$fifo.ready" 2>/dev/null)
	if [ -z "$pid" ]; then
		fail "the command did not reach its pause: $(tail -2 "$SRV/cli.out")"
		: >"$fifo" & wait
		return 1
	fi
	/usr/bin/python3 "$here/proc-scan.py" "$pid" "$SECRET_DIR/pw" \
		mem@test.example >"$SRV/scan.out" 2>&1
	rc=$?
	: >"$fifo"	# release it
	wait "$cpid" || fail "the command failed: $* ($(tail -2 "$SRV/cli.out"))"
	[ "$rc" = 0 ] || { fail "password found in the memory of: $*"; excerpt scan "$SRV/scan.out"; }
	assert_matches "$SRV/scan.out" '^hits 0$'
}

begin "proc-scan finds the password in a process that holds it (planted)"
/usr/bin/python3 -c 'import sys, time; s = open(sys.argv[1], "rb").read(); print("up", flush=True); time.sleep(30)' \
	"$SECRET_DIR/pw" >"$SRV/holder.out" 2>&1 &
holder=$!
for _ in $(seq 100); do grep -q up "$SRV/holder.out" && break; sleep 0.05; done
/usr/bin/python3 "$here/proc-scan.py" "$holder" "$SECRET_DIR/pw" >"$SRV/scan.out" 2>&1
kill "$holder"; wait "$holder" 2>/dev/null
assert_matches "$SRV/scan.out" '^HIT raw '
end

begin "smtpcred add: no trace of the password in its memory at exit"
paused_scan "$SMTPCRED" add mem-add --host localhost --port "$SUBMISSION_PORT" \
	--user mem@test.example --mechs PLAIN --ca-file "$SRV/pki/ca.crt" --password-stdin
end

begin "smtpcred rotate --verify (a real AUTH): no trace of the password in its memory at exit"
paused_scan "$SMTPCRED" rotate mem-add --verify --password-stdin
end

canary_check "$CANARY"
finish
