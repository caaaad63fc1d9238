#!/bin/bash
# SCRAM-SHA-256-PLUS with the tls-exporter channel binding, end to end:
# smtpsend (password leased from a real gnome-keyring) against
# scram-plus-server.c, an independent server side over a real OpenSSL
# handshake (no MTA in Debian 12 offers -PLUS with tls-exporter).  Run
# through with-keyring.sh.
#
#   SMTPCRED, SMTPSEND, SCRAM_SERVER  binaries under test
#
# Checks: a bound exchange delivers; TLS 1.2 (no exporter here) falls back
# to plain SCRAM or, where only -PLUS is allowed, refuses before any lease;
# a stripped -PLUS is detected by the server through the "y" flag; a
# binding the server computes differently, and a server signature that
# does not verify, both end without a message; the canary is nowhere.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../keyring/lib.sh
. "$top/tests/integration/keyring/lib.sh"
: "${SMTPSEND:?}" "${SCRAM_SERVER:?}"

CANARY="CANARY-s3cr3t-scram-plus"
# The server reads the password from a file: keep it outside $WK_DIR,
# which the canary scan covers.
SRV=$(mktemp -d "${TMPDIR:-/tmp}/smtpcred-scram.XXXXXX") || { echo "Bail out! cannot create a temporary directory"; exit 1; }
PIDS=()
# shellcheck disable=SC2317  # run by the EXIT trap below
stop_servers() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP_TEST_FILES:-}" ] || rm -rf "$SRV"
}
trap stop_servers EXIT

printf '%s' "$CANARY" >"$SECRET_DIR/pw"
printf '%s' "$CANARY" >"$SRV/pw"
# (the whole-run canary scan looks at kept test trees: say why this is one)
printf '%s\t%s\n' pw "the test server's password input" >"$SRV/.canary-exempt"
USER_=sender@test.example
{ printf 'From: %s\nTo: rcpt@example.org\nSubject: scram-plus\n\n' "$USER_"
  printf 'a body line\n'; } >"$WK_DIR/msg.eml"

# start MODE...: a server in these modes; sets PORT and LOG
start() {
	local name=${1:-default}
	LOG=$SRV/$name.log
	rm -f "$SRV/$name.port"
	"$SCRAM_SERVER" "$SRV/$name.port" "$LOG" "$SRV/pki/server.chain.pem" \
		"$SRV/pki/server.key" "$USER_" "$SRV/pw" "$@" \
		2>"$SRV/$name.err" &
	PIDS+=($!)
	for _ in $(seq 100); do
		[ -s "$SRV/$name.port" ] && break
		sleep 0.05
	done
	PORT=$(cat "$SRV/$name.port" 2>/dev/null)
	[ -n "$PORT" ] || fail "server ($name) did not start: $(cat "$SRV/$name.err")"
}
# account NAME PORT MECHS
account() {
	expect_rc 0 "$SMTPCRED" add "$1" --host localhost --port "$2" \
		--tls starttls --user "$USER_" --mechs "$3" \
		--ca-file "$SRV/pki/ca.crt" --password-stdin <"$SECRET_DIR/pw"
}
send() { # ACCOUNT EXPECTED_RC
	expect_rc "$2" "$SMTPSEND" --account "$1" -v -t <"$WK_DIR/msg.eml"
}
leases() { # ACCOUNT: lease records for it
	grep -c "\"event\":\"lease\",\"outcome\":\"ok\",\"account\":\"$1\"" \
		"$(audit_log)" 2>/dev/null
}

begin "the test PKI and the servers start on loopback"
bash "$top/tests/servers/pki.sh" "$SRV/pki" >"$SRV/pki.log" 2>&1 ||
	fail "pki.sh failed: $(tail -3 "$SRV/pki.log")"
start default; P_DEFAULT=$PORT
start tls12 tls12; P_TLS12=$PORT
start hide-plus hide-plus; P_HIDE=$PORT
start bad-cb bad-cb; P_BADCB=$PORT
start bad-sig bad-sig; P_BADSIG=$PORT
end

begin "TLS 1.3: SCRAM-SHA-256-PLUS, the binding verified by the server, delivered"
account plus "$P_DEFAULT" SCRAM-SHA-256-PLUS,SCRAM-SHA-256
send plus 0
assert_matches "$ERR" 'C: AUTH SCRAM-SHA-256-PLUS <redacted>'
assert_matches "$ERR" 'S: 235'
assert_contains "$SRV/default.log" "auth SCRAM-SHA-256-PLUS gs2=p binding=ok result=235"
assert_matches "$SRV/default.log" '^message [0-9]+$'
assert_matches "$(audit_log)" '"event":"auth-result","outcome":"ok","account":"plus".*"smtp_code":235'
end

begin "TLS 1.2 (no tls-exporter here): plain SCRAM-SHA-256 with gs2 'n', delivered"
account plus12 "$P_TLS12" SCRAM-SHA-256-PLUS,SCRAM-SHA-256
send plus12 0
assert_matches "$ERR" 'C: AUTH SCRAM-SHA-256 <redacted>'
assert_contains "$SRV/tls12.log" "auth SCRAM-SHA-256 gs2=n binding=none result=235"
end

begin "TLS 1.2 and only -PLUS allowed: refused before any lease or AUTH"
account plusonly12 "$P_TLS12" SCRAM-SHA-256-PLUS
before=$(grep -c '^auth ' "$SRV/tls12.log")
send plusonly12 69
assert_matches "$ERR" 'SCRAM-SHA-256-PLUS|mechanism'
assert_eq "$(grep -c '^auth ' "$SRV/tls12.log")" "$before" "AUTH attempts at the server"
assert_eq "$(leases plusonly12)" 0 "lease records"
end

begin "-PLUS stripped from the offer: the client says 'y', the server detects it, 535"
account stripped "$P_HIDE" SCRAM-SHA-256-PLUS,SCRAM-SHA-256
send stripped 77
assert_contains "$SRV/hide-plus.log" "auth SCRAM-SHA-256 gs2=y binding=downgrade result=535"
assert_not_contains "$SRV/hide-plus.log" "mail"
assert_matches "$(audit_log)" '"event":"auth-result","outcome":"rejected","account":"stripped"'
end

begin "an account that does not allow -PLUS says 'n' and is delivered there"
account nobind "$P_HIDE" SCRAM-SHA-256
send nobind 0
assert_contains "$SRV/hide-plus.log" "auth SCRAM-SHA-256 gs2=n binding=none result=235"
end

begin "a binding that differs at the server: 535, exit 77, no message"
account badcb "$P_BADCB" SCRAM-SHA-256-PLUS
send badcb 77
assert_contains "$SRV/bad-cb.log" "auth SCRAM-SHA-256-PLUS gs2=p binding=bad result=535"
assert_not_contains "$SRV/bad-cb.log" "mail"
end

begin "a server signature that does not verify: exchange cancelled, exit 77, no message"
account badsig "$P_BADSIG" SCRAM-SHA-256-PLUS
send badsig 77
assert_matches "$ERR" 'failed to prove it knows the password'
assert_matches "$ERR" 'C: \*'
assert_contains "$SRV/bad-sig.log" "auth SCRAM-SHA-256-PLUS gs2=p binding=ok result=501"
assert_not_contains "$SRV/bad-sig.log" "mail"
end

begin "the audit chain is intact"
expect_rc 0 "$SMTPCRED" audit --verify
end

canary_check "$CANARY"
finish
