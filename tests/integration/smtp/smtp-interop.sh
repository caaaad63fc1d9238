#!/bin/bash
# smtpsend and libsmtpsend against a real MTA on 127.0.0.1, with the
# password in a real gnome-keyring (run through with-keyring.sh).
#
#   SERVER=postfix|exim|aiosmtpd  (tests/servers/$SERVER.sh)
#   SMTPCRED, SMTPSEND, SEND_BATCH  binaries under test
#
# Checks: a builder message (non-ASCII subject, html alternative, 5 MiB
# binary attachment) arrives byte-for-byte as built; a batch of 100 over
# one connection takes one lease; mixed per-recipient results; the audit
# log has the lease and the AUTH result; the trace redacts AUTH; the
# canary password is nowhere.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../keyring/lib.sh
. "$top/tests/integration/keyring/lib.sh"
: "${SERVER:?}" "${SMTPSEND:?}" "${SEND_BATCH:?}"

CANARY="CANARY-s3cr3t-interop-$SERVER"
# The server's own files hold the password: keep them outside $WK_DIR,
# which the canary scan covers.
SRV=$(mktemp -d "${TMPDIR:-/tmp}/smtpcred-srv.XXXXXX") || { echo "Bail out! cannot create a temporary directory"; exit 1; }
chmod 711 "$SRV"	# the MTA delivers as nobody below it
# shellcheck disable=SC2317  # run by the EXIT trap below
stop_server() {
	bash "$top/tests/servers/$SERVER.sh" stop "$SRV/s" >/dev/null 2>&1
	[ -d "$SRV/strict" ] && bash "$top/tests/servers/postfix.sh" stop "$SRV/strict" >/dev/null 2>&1
	[ -n "${KEEP_TEST_FILES:-}" ] || rm -rf "$SRV"
}
trap stop_server EXIT

printf '%s' "$CANARY" >"$SECRET_DIR/pw"
PWFILE=$SECRET_DIR/pw
begin "$SERVER starts on loopback with the test PKI"
bash "$top/tests/servers/pki.sh" "$SRV/pki" >"$SRV/pki.log" 2>&1 ||
	fail "pki.sh failed: $(tail -3 "$SRV/pki.log")"
if SMTP_USER=sender@test.example SMTP_PASS_FILE=$PWFILE PKI_DIR=$SRV/pki \
	bash "$top/tests/servers/$SERVER.sh" start "$SRV/s" >"$SRV/start.log" 2>&1; then
	# shellcheck disable=SC1091
	. "$SRV/s/ports.env"
else
	fail "the server did not start: $(tail -5 "$SRV/start.log")"
	end
	finish	# exits
fi
end

MAILDIR=${MAILDIR:-$SRV/s/mail}
count_mail() { find "$MAILDIR" -path '*/new/*' -type f 2>/dev/null | wc -l; }

begin "an account on the server's STARTTLS port, password from a pipe"
expect_rc 0 "$SMTPCRED" add mta --host localhost --port "$SUBMISSION_PORT" \
	--tls starttls --user sender@test.example --mechs PLAIN,LOGIN \
	--ca-file "$SRV/pki/ca.crt" --password-stdin <"$SECRET_DIR/pw"
end

# The message: non-ASCII subject, text + html, a 5 MiB binary attachment.
head -c $((5 * 1024 * 1024)) /dev/urandom >"$WK_DIR/attach.bin"
printf '<p>Gr\xc3\xbc\xc3\x9fe, <b>html</b></p>\n' >"$WK_DIR/body.html"
printf 'Hello,\nthis is the text part.\n.\nA lone dot above.\n' >"$WK_DIR/body.txt"
SUBJECT=$(printf 'Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln \xe2\x80\x94 interop')

begin "builder form: smtpsend exits 0 and one message is delivered"
before=$(count_mail)
expect_rc 0 "$SMTPSEND" --account mta -v --from sender@test.example \
	--to rcpt@example.org --subject "$SUBJECT" --html "$WK_DIR/body.html" \
	--attach "$WK_DIR/attach.bin" <"$WK_DIR/body.txt"
cp "$ERR" "$WK_DIR/trace.txt"
for _ in $(seq 1 50); do [ "$(count_mail)" -gt "$before" ] && break; sleep 0.1; done
assert_eq "$(count_mail)" "$((before + 1))" "messages in the Maildir"
end

begin "the delivered message parses and every part is byte-identical"
file=$(find "$MAILDIR" -path '*/new/*' -type f -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
if ! $PYTHON - "$file" "$WK_DIR/attach.bin" "$WK_DIR/body.txt" "$WK_DIR/body.html" "$SUBJECT" \
	>"$WK_DIR/parse.out" 2>&1 <<'PY'; then
import email, email.policy, sys
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
att = open(sys.argv[2], "rb").read()
text = open(sys.argv[3], "rb").read().decode()
html = open(sys.argv[4], "rb").read().decode()
assert str(msg["Subject"]) == sys.argv[5], ("subject", str(msg["Subject"]))
assert msg["Message-ID"] and msg["Date"], "Date/Message-ID"
parts = {p.get_content_type(): p for p in msg.walk() if not p.is_multipart()}
assert parts["text/plain"].get_content().replace("\r\n", "\n") == text, "text"
assert parts["text/html"].get_content().replace("\r\n", "\n") == html, "html"
got = parts["application/octet-stream"].get_content()
assert got == att, ("attachment", len(got), len(att))
assert msg.get_content_type() == "multipart/mixed"
print("ok")
PY
	fail "parse: $(tail -5 "$WK_DIR/parse.out")"
fi
end

begin "the -v trace shows the dialogue with AUTH redacted"
assert_matches "$WK_DIR/trace.txt" 'C: AUTH (PLAIN|LOGIN)'
assert_contains "$WK_DIR/trace.txt" "<redacted>"
assert_matches "$WK_DIR/trace.txt" 'S: 235'
assert_matches "$WK_DIR/trace.txt" 'TLS: TLSv1\.[23]'
end

# RFC 4954 4: AUTH PLAIN with its initial response may lead a pipelined
# group; with a server that offers PIPELINING the envelope goes out
# before the reply to AUTH, and the server takes it.
begin "AUTH PLAIN pipelined with the envelope where PIPELINING is offered"
if awk '/TLS: TLSv/ { tls = 1 } tls && /S: 250[- ]PIPELINING/ { p = 1 } END { exit !p }' \
	"$WK_DIR/trace.txt"; then
	order=$(awk '/C: MAIL FROM/ && !m { m = NR } /S: 235/ && !a { a = NR }
		END { print (m && a && m < a) ? "pipelined" : "waited" }' "$WK_DIR/trace.txt")
	assert_eq "$order" pipelined "MAIL FROM written before the 235"
else
	order=$(awk '/C: MAIL FROM/ && !m { m = NR } /S: 235/ && !a { a = NR }
		END { print (m && a && a < m) ? "waited" : "pipelined" }' "$WK_DIR/trace.txt")
	assert_eq "$order" waited "no PIPELINING: MAIL FROM only after the 235"
fi
end

# SIZE: a message larger than the server takes is refused before MAIL
# (RFC 1870), with AUTH (pipelined or not) settled and audited first;
# the connection stays usable and nothing is delivered.
limit=$(awk '/TLS: TLSv/ { tls = 1 } tls && /S: 250[- ]SIZE [0-9]+/ { n = $NF } END { print n + 0 }' \
	"$WK_DIR/trace.txt")
if [ "$limit" -gt 0 ]; then
	begin "a message over the server's SIZE ($limit) is refused before MAIL, exit 65"
	{ printf 'From: sender@test.example\nTo: rcpt@example.org\nSubject: too big\n\n'
	  yes 'This line is part of a message larger than the server takes. 0123456789' |
		head -c $((limit + 4096)); } >"$WK_DIR/big.eml"
	before=$(count_mail)
	results_before=$(grep -c '"event":"auth-result","outcome":"ok","account":"mta"' "$(audit_log)" || true)
	expect_rc 65 "$SMTPSEND" --account mta -v -t <"$WK_DIR/big.eml"
	assert_matches "$ERR" "larger than the server accepts \\($limit bytes\\)"
	assert_not_matches "$ERR" 'C: MAIL FROM'
	assert_matches "$ERR" 'S: 235'
	assert_eq "$(( $(grep -c '"event":"auth-result","outcome":"ok","account":"mta"' "$(audit_log)" || true) - results_before ))" 1 \
		"AUTH results audited"
	sleep 0.5
	assert_eq "$(count_mail)" "$before" "messages in the Maildir"
	rm -f "$WK_DIR/big.eml"
	end
else
	tap_skip "a message over the server's SIZE is refused before MAIL" \
		"the server offers no SIZE limit after TLS"
fi

# DSN (RFC 3461) end to end: Postfix advertises DSN and, for NOTIFY=SUCCESS,
# mails a delivery report to the envelope sender (test.example delivers
# into the same Maildir), quoting our ENVID.
if [ "$SERVER" = postfix ]; then
	begin "DSN parameters reach the server: a success report with our ENVID comes back"
	envid="interop-dsn-$$"
	expect_rc 0 env SEND_BATCH_DSN="SUCCESS;HDRS;$envid" "$SEND_BATCH" mta 1 \
		sender@test.example dsn@example.org
	report=
	for _ in $(seq 1 100); do
		report=$(grep -l "Original-Envelope-Id: $envid" "$MAILDIR"/new/* 2>/dev/null | head -1)
		[ -n "$report" ] && break
		sleep 0.1
	done
	if [ -z "$report" ]; then
		fail "no delivery report quoting ENVID $envid"
	else
		assert_matches "$report" 'report-type=delivery-status'
		assert_matches "$report" '^Action: delivered'
		assert_matches "$report" '^Final-Recipient: rfc822; ?dsn@example.org'
	fi
	end
fi

begin "a batch of 100 over one connection: all delivered, one lease"
before=$(count_mail)
leases_before=$(grep -c '"event":"lease","outcome":"ok"' "$(audit_log)" || true)
expect_rc 0 "$SEND_BATCH" mta 100 sender@test.example batch@example.org
for _ in $(seq 1 100); do [ "$(count_mail)" -ge "$((before + 100))" ] && break; sleep 0.1; done
assert_eq "$(count_mail)" "$((before + 100))" "messages in the Maildir"
leases_after=$(grep -c '"event":"lease","outcome":"ok"' "$(audit_log)" || true)
assert_eq "$((leases_after - leases_before))" 1 "leases for the batch"
end

begin "a batch of 20 with every 5th refused: 16 delivered, 4 refused (550), one lease"
before=$(count_mail)
leases_before=$(grep -c '"event":"lease","outcome":"ok"' "$(audit_log)" || true)
expect_rc 0 "$SEND_BATCH" mta 20 sender@test.example batch@example.org 5
for i in 5 10 15 20; do
	assert_matches "$OUT" "^$i failed -8 rcpt "
done
assert_matches "$OUT" '^sent 16$'
for _ in $(seq 1 100); do [ "$(count_mail)" -ge "$((before + 16))" ] && break; sleep 0.1; done
assert_eq "$(count_mail)" "$((before + 16))" "messages in the Maildir"
leases_after=$(grep -c '"event":"lease","outcome":"ok"' "$(audit_log)" || true)
assert_eq "$((leases_after - leases_before))" 1 "leases for the batch"
end

begin "mixed results: one delivered, 550 and 450 reported per recipient"
before=$(count_mail)
printf 'From: sender@test.example\nTo: a@example.org\nSubject: mixed\n\nbody\n' \
	>"$WK_DIR/mixed.eml"
expect_rc 0 "$SMTPSEND" --account mta -f sender@test.example -- \
	ok@example.org no@reject.test later@defer.test <"$WK_DIR/mixed.eml"
assert_matches "$ERR" 'no@reject\.test refused: 550'
assert_matches "$ERR" 'later@defer\.test refused: 450'
# ENHANCEDSTATUSCODES (RFC 2034): the per-recipient result carries the
# enhanced status where the server offers it
if grep -qE 'S: 250[- ]ENHANCEDSTATUSCODES' "$WK_DIR/trace.txt"; then
	assert_matches "$ERR" 'no@reject\.test refused: 550 5\.[0-9]{1,3}\.[0-9]{1,3}$'
	assert_matches "$ERR" 'later@defer\.test refused: 450 4\.[0-9]{1,3}\.[0-9]{1,3}$'
fi
for _ in $(seq 1 50); do [ "$(count_mail)" -gt "$before" ] && break; sleep 0.1; done
assert_eq "$(count_mail)" "$((before + 1))" "messages in the Maildir"
end

begin "sendmail -t: recipients from To/Cc/Bcc, Bcc removed, sender from From"
before=$(count_mail)
printf 'From: Sender <sender@test.example>\nTo: t1@example.org\nBcc: hidden@example.org\nSubject: dash-t\n\n.leading dot\nbody\n' \
	>"$WK_DIR/t.eml"
expect_rc 0 "$SMTPSEND" --account mta -t <"$WK_DIR/t.eml"
for _ in $(seq 1 50); do [ "$(count_mail)" -gt "$before" ] && break; sleep 0.1; done
[ "$(count_mail)" -gt "$before" ] || fail "nothing delivered"
if find "$MAILDIR" -path '*/new/*' -type f -newer "$WK_DIR/t.eml" -print0 |
	xargs -0 -r grep -l '^Bcc:' | grep -q .; then
	fail "a delivered copy still has the Bcc header"
fi
end

begin "every recipient refused: exit 67, nothing delivered"
before=$(count_mail)
expect_rc 67 "$SMTPSEND" --account mta -f sender@test.example -- \
	no@reject.test <"$WK_DIR/mixed.eml"
assert_eq "$(count_mail)" "$before" "messages in the Maildir"
end

# Postfix 3.9 disconnects clients that pipeline where RFC 2920 and RFC
# 4954 do not allow it (smtpd_forbid_unauth_pipelining, default yes
# there), and many setups reject it at DATA (reject_unauth_pipelining,
# the usual SMTP-smuggling hardening).  Our AUTH PLAIN + envelope is
# allowed pipelining: a second Postfix with both takes it.
if [ "$SERVER" = postfix ]; then
	begin "Postfix with strict pipelining checks takes the pipelined AUTH and envelope"
	if SRV_STRICT_PIPELINING=1 SMTP_USER=sender@test.example SMTP_PASS_FILE=$PWFILE \
		PKI_DIR=$SRV/pki bash "$top/tests/servers/postfix.sh" start "$SRV/strict" \
		>"$SRV/strict.log" 2>&1; then
		# shellcheck disable=SC1091  # written at run time by postfix.sh
		strict_port=$(. "$SRV/strict/ports.env"; echo "$SUBMISSION_PORT")
		expect_rc 0 "$SMTPCRED" add strict --host localhost --port "$strict_port" \
			--tls starttls --user sender@test.example --mechs PLAIN \
			--ca-file "$SRV/pki/ca.crt" --password-stdin <"$SECRET_DIR/pw"
		expect_rc 0 "$SMTPSEND" --account strict -v -f sender@test.example -- \
			strict@example.org <"$WK_DIR/mixed.eml"
		cp "$ERR" "$WK_DIR/strict-trace.txt"
		order=$(awk '/C: MAIL FROM/ && !m { m = NR } /S: 235/ && !a { a = NR }
			END { print (m && a && m < a) ? "pipelined" : "waited" }' "$WK_DIR/strict-trace.txt")
		assert_eq "$order" pipelined "MAIL FROM written before the 235"
		expect_rc 0 "$SEND_BATCH" strict 3 sender@test.example strict@example.org
		n=0
		for _ in $(seq 1 50); do
			n=$(find "$SRV/strict/mail" -path '*/new/*' -type f 2>/dev/null | wc -l)
			[ "$n" -ge 4 ] && break
			sleep 0.1
		done
		assert_eq "$n" 4 "messages delivered by the strict server"
		if grep -qiE 'synchroni[sz]ation|improper use of SMTP command pipelining' \
			"$SRV/strict/postfix.log"; then
			fail "the strict server complained about our pipelining"
		fi
		bash "$top/tests/servers/postfix.sh" stop "$SRV/strict" >/dev/null 2>&1
	else
		fail "the strict Postfix did not start: $(tail -3 "$SRV/strict.log")"
	fi
	end
fi

begin "the audit log has the leases and the AUTH results (235), chain intact"
assert_matches "$(audit_log)" '"event":"lease","outcome":"ok","account":"mta"'
assert_matches "$(audit_log)" '"event":"auth-result","outcome":"ok","account":"mta".*"smtp_code":235'
expect_rc 0 "$SMTPCRED" audit --verify
end

begin "a wrong password: AUTH refused, exit 77, reported to the audit log"
printf '%s' "$CANARY-wrong" >"$SECRET_DIR/pw2"
expect_rc 0 "$SMTPCRED" add mta-bad --host localhost --port "$SUBMISSION_PORT" \
	--tls starttls --user sender@test.example --mechs PLAIN \
	--ca-file "$SRV/pki/ca.crt" --password-stdin <"$SECRET_DIR/pw2"
expect_rc 77 "$SMTPSEND" --account mta-bad -f sender@test.example -- \
	ok@example.org <"$WK_DIR/mixed.eml"
assert_matches "$(audit_log)" '"event":"auth-result","outcome":"rejected","account":"mta-bad"'
end

if [ -n "${SMTPS_PORT:-}" ]; then
	begin "implicit TLS port: delivered"
	before=$(count_mail)
	expect_rc 0 "$SMTPCRED" add mta-tls --host localhost --port "$SMTPS_PORT" \
		--tls implicit --user sender@test.example --mechs PLAIN,LOGIN \
		--ca-file "$SRV/pki/ca.crt" --password-stdin <"$SECRET_DIR/pw"
	expect_rc 0 "$SMTPSEND" --account mta-tls -f sender@test.example -- \
		ok@example.org <"$WK_DIR/mixed.eml"
	for _ in $(seq 1 50); do [ "$(count_mail)" -gt "$before" ] && break; sleep 0.1; done
	assert_eq "$(count_mail)" "$((before + 1))" "messages in the Maildir"
	end
fi

if [ "$SERVER" = postfix ]; then
	begin "SCRAM-SHA-256 (RFC 7677) against Dovecot: delivered, server signature checked"
	before=$(count_mail)
	expect_rc 0 "$SMTPCRED" add mta-scram --host localhost --port "$SUBMISSION_PORT" \
		--tls starttls --user sender@test.example --mechs SCRAM-SHA-256 \
		--ca-file "$SRV/pki/ca.crt" --password-stdin <"$SECRET_DIR/pw"
	expect_rc 0 "$SMTPSEND" --account mta-scram -v -f sender@test.example -- \
		ok@example.org <"$WK_DIR/mixed.eml"
	assert_matches "$ERR" 'C: AUTH SCRAM-SHA-256 <redacted>'
	assert_matches "$ERR" 'S: 235'
	for _ in $(seq 1 50); do [ "$(count_mail)" -gt "$before" ] && break; sleep 0.1; done
	assert_eq "$(count_mail)" "$((before + 1))" "messages in the Maildir"
	end
fi

begin "rotate --verify: a real AUTH test, no mail; a wrong one is refused"
before=$(count_mail)
expect_rc 0 "$SMTPCRED" rotate mta --verify --password-stdin <"$SECRET_DIR/pw"
expect_rc 1 "$SMTPCRED" rotate mta --verify --password-stdin <"$SECRET_DIR/pw2"
assert_matches "$ERR" 'did not verify'
assert_eq "$(count_mail)" "$before" "messages in the Maildir"
end

canary_check "$CANARY"
finish
