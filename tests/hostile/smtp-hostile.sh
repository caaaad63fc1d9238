#!/bin/bash
# smtpsend against scripted misbehaving servers (tests/servers/hostile.py),
# with the password in a real gnome-keyring (run through with-keyring.sh).
# Every refusal before AUTH must take no lease (the audit log shows none)
# and put no AUTH on the wire (the server's log shows none); nothing is
# ever reported as sent unless the server accepted the final dot.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../integration/keyring/lib.sh
. "$top/tests/integration/keyring/lib.sh"
: "${SMTPSEND:?}" "${SEND_BATCH:?}" "${CA_SWAP:?}"

CANARY="CANARY-s3cr3t-hostile"
SRV=$(mktemp -d "${TMPDIR:-/tmp}/smtpcred-hostile.XXXXXX") || { echo "Bail out! cannot create a temporary directory"; exit 1; }
chmod 711 "$SRV"
# shellcheck disable=SC2317  # run by the EXIT trap below
cleanup() {
	local d
	for d in "$SRV"/m-*; do
		[ -d "$d" ] && bash "$top/tests/servers/hostile.sh" stop "$d" >/dev/null 2>&1
	done
	[ -n "${KEEP_TEST_FILES:-}" ] || rm -rf "$SRV"
}
trap cleanup EXIT
bash "$top/tests/servers/pki.sh" "$SRV/pki" >/dev/null 2>&1
printf '%s' "$CANARY" >"$SECRET_DIR/pw"
printf '%s' "$CANARY-wrong" >"$SECRET_DIR/wrong"
PWFILE=$SECRET_DIR/pw
printf 'From: a@test.example\nTo: b@example.org\nSubject: hostile\n\nbody\n' \
	>"$WK_DIR/msg.eml"
printf 'From: a@test.example\nTo: b@example.org\nSubject: 8 bit\n\nGr\xc3\xbc\xc3\x9fe\n' \
	>"$WK_DIR/msg8.eml"
N=0

# run_mode MODE WANT_RC MESSAGE_ERE EXPECT_AUTH [--pin|--implicit|--timeout S]
run_mode() {
	local mode=$1 want=$2 ere=$3 auth=$4 opt=${5:-} d name pin=() tls=starttls
	local extra=() mechs=PLAIN,LOGIN pwfile=$SECRET_DIR/pw rcpt=b@example.org
	local msgfile=$WK_DIR/msg.eml
	N=$((N + 1))
	d=$SRV/m-$N
	name=h$N
	case $opt in
	--pin) pin=(--pin "$(cat "$SRV/pki/otherkey.pin")") ;;
	--implicit) tls=implicit ;;
	--timeout) extra=(--timeout 3) ;;
	--mechs=*) mechs=${opt#--mechs=} ;;
	--wrong-password) pwfile=$SECRET_DIR/wrong ;;
	--rcpt=*) rcpt=${opt#--rcpt=} ;;
	--8bit) msgfile=$WK_DIR/msg8.eml; extra=(-v) ;;
	esac
	begin "$mode${opt:+ $opt}: exit $want, '$ere'$([ "$auth" = no ] && echo ', no lease, no AUTH on the wire')"
	implicit=()
	[ "$tls" = implicit ] && implicit=(--implicit)
	if ! PKI_DIR=$SRV/pki SMTP_USER=u@test.example SMTP_PASS_FILE=$PWFILE \
		bash "$top/tests/servers/hostile.sh" start "$mode" "$d" \
		"${implicit[@]}" >"$SRV/start-$N.log" 2>&1; then
		fail "hostile server $mode did not start: $(tail -3 "$SRV/start-$N.log")"
		end
		return
	fi
	# shellcheck disable=SC1091
	. "$d/ports.env"
	expect_rc 0 "$SMTPCRED" add "$name" --host localhost --port "$PORT" \
		--tls "$tls" --user u@test.example --mechs "$mechs" \
		--ca-file "$SRV/pki/ca.crt" "${pin[@]}" --password-stdin <"$pwfile"
	expect_rc "$want" "$SMTPSEND" --account "$name" "${extra[@]}" \
		-f a@test.example -- "$rcpt" <"$msgfile"
	[ "$ere" = - ] || assert_matches "$ERR" "$ere"
	if [ "$auth" = no ]; then
		if grep -q "\"event\":\"lease\",\"outcome\":\"ok\",\"account\":\"$name\"" "$(audit_log)"; then
			fail "a lease was taken for $name"
		fi
		if grep -qi 'C: AUTH' "$d/hostile.log"; then
			fail "AUTH reached the server"
		fi
	fi
	# A refused send delivered nothing.
	if [ "$want" != 0 ] && [ -n "$(find "$d/mail" -path '*/new/*' -type f 2>/dev/null)" ]; then
		fail "a message was delivered although smtpsend failed"
	fi
	bash "$top/tests/servers/hostile.sh" stop "$d" >/dev/null 2>&1
	end
}

run_mode ok 0 - yes
run_mode nostarttls 69 'does not offer STARTTLS' no
run_mode strip 69 'STARTTLS refused.*502' no
run_mode inject 76 'after its STARTTLS reply' no
run_mode starttls454 75 'STARTTLS refused.*454' no
run_mode cert=selfsigned 69 'certificate of .localhost. refused: self.signed' no
run_mode cert=expired 69 'certificate of .localhost. refused: certificate has expired' no
run_mode cert=notyet 69 'certificate of .localhost. refused: certificate is not yet valid' no
run_mode cert=wronghost 69 'certificate of .localhost. refused' no
# The TLS 1.1-only test server hangs up on our ClientHello without sending
# a byte (Python's ssl sends no protocol_version alert), which on the wire
# is the same as a connection dropped mid-handshake: we cannot tell them
# apart, and a drop must stay retryable (75).  A server that answers and
# then fails the handshake is refused as permanent (69).  Either way: no
# lease, no AUTH.
run_mode tls11 '69|75' 'TLS handshake failed|closed the connection during the TLS handshake' no
run_mode ok 69 'does not match the pin' no --pin
run_mode authbeforetls 69 'does not offer STARTTLS' no
# LOGIN answers challenges, and their number is bounded; PLAIN sends its
# initial response pipelined (PIPELINING is offered), so a challenge to
# it is a protocol error at once.
run_mode endless334 76 'too many AUTH challenges|malformed AUTH challenge' yes --mechs=LOGIN
run_mode endless334 76 'asked for more after AUTH PLAIN' yes --mechs=PLAIN
run_mode longline 76 'limit|longer' no
run_mode manylines 76 'limit' no
run_mode codechange 76 'malformed reply' no
run_mode drop354 75 'closed the connection' yes
run_mode dropdata 75 'closed|broke|connection' yes
run_mode 421greet 75 '421' no
run_mode 421ehlo 75 '421' no
run_mode 421mail 75 '421' yes
run_mode 421rcpt 75 '421|refused' yes
run_mode 421data 75 '421' yes
run_mode 421dot 75 '421' yes
# The connection dropped without a word at every stage of a send: always
# a temporary failure (75, so queues retry), never "sent", and no lease
# before AUTH.
run_mode drop-greeting 75 'closed|connection' no
run_mode drop-ehlo 75 'closed|connection' no
run_mode drop-starttls 75 'closed|connection' no
run_mode drop-tls 75 'closed|connection|handshake' no
run_mode drop-auth 75 'closed|connection' yes
run_mode drop-mail 75 'closed|connection' yes
run_mode drop-rcpt 75 'closed|connection' yes
run_mode drop-data 75 'closed|connection' yes
run_mode drop-dot 75 'closed|connection' yes
run_mode slow 75 'timed out' no --timeout
# This server offers no SMTPUTF8: a recipient with a non-ASCII local part
# is refused before MAIL (an IDN domain would go out as its A-label).
run_mode ok 69 'not ASCII and the server does not offer SMTPUTF8' yes "--rcpt=$(printf 'j\xc3\xbcrgen@example.org')"
begin "a non-ASCII address without SMTPUTF8: nothing after AUTH reached the server"
assert_not_matches "$SRV/m-$N/hostile.log" 'C: MAIL FROM'
end
# A raw message with 8-bit text, to a server without 8BITMIME: refused
# before MAIL (raw input is never re-encoded behind the sender's back).
run_mode no8bitmime 69 '8-bit data and the server does not offer 8BITMIME' yes --8bit
begin "8-bit data without 8BITMIME: the server did not offer it, and saw no MAIL FROM"
assert_not_matches "$ERR" 'S: 250[- ]8BITMIME'
assert_not_matches "$SRV/m-$N/hostile.log" 'C: MAIL FROM'
end
# The same message where 8BITMIME is offered goes out as BODY=8BITMIME.
run_mode ok 0 - yes --8bit
begin "8-bit data with 8BITMIME: MAIL FROM carries BODY=8BITMIME"
assert_matches "$SRV/m-$N/hostile.log" 'C: MAIL FROM:<a@test.example>.* BODY=8BITMIME'
end
# A wrong password, and a server that takes MAIL, RCPT and DATA without
# AUTH (this one does): the envelope rode behind the pipelined AUTH, but
# after the 535 the connection is dropped, so the message never follows
# its 354 and nothing is delivered.
run_mode ok 77 'AUTH failed.*535' yes --wrong-password
begin "after the refused pipelined AUTH: the envelope went out, no message line did"
d=$SRV/m-$N
assert_matches "$d/hostile.log" 'AUTH PLAIN refused'
assert_matches "$d/hostile.log" 'C: MAIL FROM'
if grep -q 'data [0-9]* bytes' "$d/hostile.log"; then
	fail "a message line reached the server after the refused AUTH"
fi
assert_matches "$(audit_log)" '"event":"auth-result","outcome":"rejected","account":"h'"$N"'"'
end
run_mode badgreet 69 '554' no

# A pipelined batch (each message's MAIL/RCPT/DATA ride behind the dot of
# the one before) whose connection breaks during the third message: the
# first two are sent, the third and everything after it are reported as
# not sent, and the server stored exactly two.
begin "batch of 5, connection dropped in the 3rd: 1-2 sent, 3-5 not sent; CA file swaps honoured in one process"
d=$SRV/m-batch
if PKI_DIR=$SRV/pki SMTP_USER=u@test.example SMTP_PASS_FILE=$PWFILE \
	bash "$top/tests/servers/hostile.sh" start dropthird "$d" >"$SRV/start-batch.log" 2>&1; then
	# shellcheck disable=SC1091
	. "$d/ports.env"
	expect_rc 0 "$SMTPCRED" add hbatch --host localhost --port "$PORT" \
		--user u@test.example --mechs PLAIN \
		--ca-file "$SRV/pki/ca.crt" --password-stdin <"$SECRET_DIR/pw"
	expect_rc 1 "$SEND_BATCH" hbatch 5 a@test.example b@example.org
	assert_matches "$OUT" '^1 sent 250'
	assert_matches "$OUT" '^2 sent 250'
	for i in 3 4 5; do
		assert_matches "$OUT" "^$i failed -3 "
	done
	assert_matches "$OUT" '^sent 2$'
	assert_eq "$(find "$d/mail" -path '*/new/*' -type f | wc -l)" 2 \
		"messages the server stored"
	# No reconnect and nothing sent after the break: three MAIL commands
	# (the 4th message's would have ridden behind the 3rd's dot).
	assert_eq "$(grep -c ' C: MAIL FROM' "$d/hostile.log")" 3 "MAIL commands seen"

	# TLS contexts are shared within a process, never past a change of
	# the CA file: good CA, then a foreign one (refused before AUTH),
	# then the good one again, in one process.
	cp "$SRV/pki/ca.crt" "$SRV/swap-ca.crt"
	expect_rc 0 "$SMTPCRED" add hswap --host localhost --port "$PORT" \
		--user u@test.example --mechs PLAIN \
		--ca-file "$SRV/swap-ca.crt" --password-stdin <"$SECRET_DIR/pw"
	auths=$(grep -c ' C: AUTH' "$d/hostile.log")
	expect_rc 0 "$CA_SWAP" hswap "$SRV/swap-ca.crt" "$SRV/pki/ca.crt" \
		"$SRV/pki/selfsigned.crt" a@test.example b@example.org
	assert_matches "$OUT" '^failed -6 .*certificate'
	assert_eq "$(grep -c ' C: AUTH' "$d/hostile.log")" "$((auths + 2))" \
		"AUTH commands (none for the foreign CA)"
	bash "$top/tests/servers/hostile.sh" stop "$d" >/dev/null 2>&1
else
	fail "hostile server dropthird did not start: $(tail -3 "$SRV/start-batch.log")"
fi
end

canary_check "$CANARY"
finish
