#!/bin/bash
# Self-test of tests/servers/: starts every server, talks to it with swaks,
# curl and openssl s_client, checks the replies, the stored mail and the
# logs, and stops it again.  Output is TAP; exit status 0 when all pass.
# Needs root (Postfix, Exim) and scripts/install-test-servers.sh.
#
#   tests/servers/selftest.sh [postfix] [exim] [aiosmtpd] [hostile]
#                               (default: all four groups)
#
# SELFTEST_KEEP=1 keeps the scratch folder (its path is printed).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WANT=("$@")
[ ${#WANT[@]} -gt 0 ] || WANT=(postfix exim aiosmtpd hostile)

W=$(mktemp -d /tmp/smtpcred-servers-selftest.XXXXXX) || { echo "Bail out! cannot create a temporary directory"; exit 1; }
chmod 711 "$W"
STARTED=()	# "script dir" pairs still to stop
cleanup() {
	local s
	for s in "${STARTED[@]}"; do
		# shellcheck disable=SC2086
		bash "$HERE/${s%% *}.sh" stop ${s#* } || true
	done
	if [ "${SELFTEST_KEEP:-0}" = 1 ]; then
		echo "# kept $W"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT

export SMTP_USER=smtpuser
export SMTP_PASS=CANARY-s3cr3t-selftest
export PKI_DIR=$W/pki
N=0
FAILED=0
ok() { N=$((N + 1)); echo "ok $N - $1"; }
not_ok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $1"; shift; local l; for l in "$@"; do echo "# $l"; done; }
check() {	# check NAME COND-RESULT(0/1) [DIAG...]
	local name=$1 res=$2
	shift 2
	if [ "$res" -eq 0 ]; then ok "$name"; else not_ok "$name" "$@"; fi
}
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

t=$(now)
bash "$HERE/pki.sh" "$PKI_DIR"
check "pki.sh makes the test PKI ($(since "$t") s)" $?
for n in server wronghost expired notyet selfsigned; do
	for f in key crt chain.pem; do [ -s "$PKI_DIR/$n.$f" ] || not_ok "pki: $n.$f missing"; done
done
v() { openssl verify -CAfile "$PKI_DIR/ca.crt" "$PKI_DIR/$1.crt" 2>&1; }
check "pki: server verifies against the CA" "$(v server | grep -c ': OK$' | sed 's/^1$/0/')"
check "pki: expired is expired" "$(v expired | grep -c 'certificate has expired' | sed 's/^1$/0/')"
check "pki: notyet is not yet valid" "$(v notyet | grep -c 'not yet valid' | sed 's/^1$/0/')"
check "pki: selfsigned is self-signed" "$(v selfsigned | grep -c 'self-signed' | sed 's/^1$/0/')"
san=$(openssl x509 -in "$PKI_DIR/wronghost.crt" -noout -ext subjectAltName | tail -n1 | tr -d ' ')
check "pki: wronghost names only wrong.example" "$([ "$san" = DNS:wrong.example ]; echo $?)" "$san"
pin=sha256//$(openssl x509 -in "$PKI_DIR/server.crt" -pubkey -noout | openssl pkey -pubin -outform DER |
	openssl dgst -sha256 -binary | base64 -w0)
check "pki: server.pin is the SPKI pin" "$([ "$pin" = "$(cat "$PKI_DIR/server.pin")" ]; echo $?)"

# A message with CRLF line ends and a line that needs dot-stuffing.
MSG=$W/msg.eml
printf 'From: a@test.example\r\nTo: b@example.org\r\nSubject: selftest\r\n\r\nmarker-%s\r\n.leading dot\r\nlast line\r\n' \
	"$$" >"$MSG"
MARK=marker-$$

CURL=(curl -sS --max-time 15 --cacert "$PKI_DIR/ca.crt" --mail-from a@test.example --upload-file "$MSG")
SWAKS=(swaks --timeout 15 --from a@test.example --body "$MARK swaks" --tls-ca-path "$PKI_DIR/ca.crt")

# count_mail DIR N: wait (5 s at most) until DIR/mail/new holds N messages
count_mail() {
	local i c
	for ((i = 0; i < 100; i++)); do
		c=$(find "$1/mail/new" -type f | wc -l)
		[ "$c" -ge "$2" ] && break
		sleep 0.05
	done
	echo "$c"
}

# mta_checks NAME DIR: the common checks of postfix, exim and aiosmtpd
mta_checks() {
	local name=$1 d=$2 out rc sent=0
	# shellcheck source=/dev/null
	. "$d/ports.env"
	local sub=$SUBMISSION_PORT smtps=$SMTPS_PORT

	out=$("${SWAKS[@]}" --server 127.0.0.1:"$sub" --tls --tls-verify --tls-sni localhost \
		--auth PLAIN --auth-user "$SMTP_USER" --auth-password "$SMTP_PASS" --to rcpt@example.org 2>&1)
	rc=$?
	check "$name: swaks STARTTLS + AUTH PLAIN, CA verified: delivered" "$rc" "swaks rc $rc" "$(tail -n3 <<<"$out")"
	[ $rc -eq 0 ] && sent=$((sent + 1))
	out=$("${SWAKS[@]}" --server 127.0.0.1:"$sub" --tls --tls-verify --tls-sni localhost \
		--auth LOGIN --auth-user "$SMTP_USER" --auth-password "$SMTP_PASS" --to rcpt@example.org 2>&1)
	rc=$?
	check "$name: swaks STARTTLS + AUTH LOGIN: delivered" "$rc" "swaks rc $rc" "$(tail -n3 <<<"$out")"
	[ $rc -eq 0 ] && sent=$((sent + 1))
	out=$("${SWAKS[@]}" --server 127.0.0.1:"$smtps" --tlsc --tls-verify --tls-sni localhost \
		--auth PLAIN --auth-user "$SMTP_USER" --auth-password "$SMTP_PASS" --to rcpt@example.org 2>&1)
	rc=$?
	check "$name: swaks implicit TLS + AUTH PLAIN: delivered" "$rc" "swaks rc $rc" "$(tail -n3 <<<"$out")"
	[ $rc -eq 0 ] && sent=$((sent + 1))
	out=$("${CURL[@]}" --ssl-reqd --url "smtp://localhost:$sub" --user "$SMTP_USER:$SMTP_PASS" \
		--mail-rcpt c@example.com 2>&1)
	rc=$?
	check "$name: curl smtp:// --ssl-reqd + AUTH: rc 0" "$rc" "curl rc $rc: $out"
	[ $rc -eq 0 ] && sent=$((sent + 1))
	out=$("${CURL[@]}" --url "smtps://localhost:$smtps" --user "$SMTP_USER:$SMTP_PASS" \
		--mail-rcpt c@example.com 2>&1)
	rc=$?
	check "$name: curl smtps:// + AUTH: rc 0" "$rc" "curl rc $rc: $out"
	[ $rc -eq 0 ] && sent=$((sent + 1))
	out=$("${CURL[@]}" --url "smtps://localhost:$smtps" --user "$SMTP_USER:wrong-password" \
		--mail-rcpt c@example.com 2>&1)
	rc=$?
	check "$name: curl with a wrong password: rc 67" "$([ $rc -eq 67 ]; echo $?)" "curl rc $rc: $out"
	out=$("${SWAKS[@]}" --server 127.0.0.1:"$sub" --tls --auth PLAIN --auth-user "$SMTP_USER" \
		--auth-password wrong-password --to rcpt@example.org 2>&1)
	check "$name: swaks with a wrong password: 535" "$(grep -qE '^<~\* +535' <<<"$out"; echo $?)" \
		"$(grep -E '^<~?\*' <<<"$out" | tail -n2)"
	out=$("${SWAKS[@]}" --server 127.0.0.1:"$sub" --tls --auth PLAIN --auth-user "$SMTP_USER" \
		--auth-password "$SMTP_PASS" --to x@reject.test 2>&1)
	check "$name: RCPT x@reject.test: 550" "$(grep -qE '^<~\* +550' <<<"$out"; echo $?)" \
		"$(grep -E '^<~?\*' <<<"$out" | tail -n2)"
	out=$("${SWAKS[@]}" --server 127.0.0.1:"$sub" --tls --auth PLAIN --auth-user "$SMTP_USER" \
		--auth-password "$SMTP_PASS" --to y@sub.defer.test 2>&1)
	check "$name: RCPT y@sub.defer.test: 450" "$(grep -qE '^<~\* +450' <<<"$out"; echo $?)" \
		"$(grep -E '^<~?\*' <<<"$out" | tail -n2)"
	out=$("${CURL[@]}" -v --ssl-reqd --url "smtp://localhost:$sub" --user "$SMTP_USER:$SMTP_PASS" \
		--mail-rcpt ok@example.org --mail-rcpt x@reject.test --mail-rcpt y@defer.test \
		--mail-rcpt-allowfails 2>&1)
	rc=$?
	check "$name: mixed recipients (250, 550, 450) with --mail-rcpt-allowfails: rc 0" \
		"$([ $rc -eq 0 ] && grep -q '^< 550' <<<"$out" && grep -q '^< 450' <<<"$out"; echo $?)" \
		"curl rc $rc" "$(grep -E '^< [0-9]{3} ' <<<"$out" | tail -n6)"
	[ $rc -eq 0 ] && sent=$((sent + 1))
	out=$(swaks --timeout 15 --server 127.0.0.1:"$sub" --quit-after EHLO 2>&1)
	check "$name: plaintext EHLO offers STARTTLS and no AUTH" \
		"$(grep -q '^<-  250.STARTTLS' <<<"$out" && ! grep -q '^<-  250.AUTH' <<<"$out"; echo $?)" \
		"$(grep '^<-' <<<"$out" | tr '\n' ' ')"
	out=$(swaks --timeout 15 --server 127.0.0.1:"$sub" --from a@test.example --to b@example.org 2>&1)
	check "$name: MAIL before STARTTLS: 530" "$(grep -qE '^<\*\* +530' <<<"$out"; echo $?)" \
		"$(grep -E '^<\*\*' <<<"$out" | tail -n2)"
	out=$("${SWAKS[@]}" --server 127.0.0.1:"$sub" --tls --to b@example.org 2>&1)
	check "$name: no AUTH after TLS: refused (5xx at MAIL or RCPT)" \
		"$(grep -qE '^<~\* +5[0-9][0-9]' <<<"$out"; echo $?)" "$(grep -E '^<~?\*' <<<"$out" | tail -n2)"
	out=$("${CURL[@]}" --ssl-reqd --url "smtp://localhost:$sub" --user "$SMTP_USER:$SMTP_PASS" \
		--mail-rcpt c@example.com --pinnedpubkey "$(cat "$PKI_DIR/server.pin")" 2>&1)
	rc=$?
	check "$name: curl --pinnedpubkey server.pin: rc 0" "$rc" "curl rc $rc: $out"
	[ $rc -eq 0 ] && sent=$((sent + 1))
	out=$("${CURL[@]}" --ssl-reqd --url "smtp://localhost:$sub" --user "$SMTP_USER:$SMTP_PASS" \
		--mail-rcpt c@example.com --pinnedpubkey "$(cat "$PKI_DIR/otherkey.pin")" 2>&1)
	rc=$?
	check "$name: curl --pinnedpubkey otherkey.pin: rc 90" "$([ $rc -eq 90 ]; echo $?)" "curl rc $rc: $out"
	out=$(/usr/bin/python3 - "$sub" <<-'PY'
		import socket, sys
		s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
		f = s.makefile("rb")
		def reply():
		    while True:
		        line = f.readline()
		        if line[3:4] != b"-":
		            return line.decode("latin-1").strip()
		reply()
		s.sendall(b"EHLO t\r\n")
		reply()
		s.sendall(b"AUTH PLAIN AHNtdHB1c2VyAHdyb25n\r\n")
		print(reply())
		PY
	)
	check "$name: AUTH before STARTTLS (not offered, sent anyway): 5xx" \
		"$(grep -qE '^5[0-9][0-9] ' <<<"$out"; echo $?)" "$out"
	if [ "$name" = postfix ]; then
		out=$(/usr/bin/python3 - "$sub" "$PKI_DIR/ca.crt" <<-'PY'
			# RFC 7677 SCRAM-SHA-256 client, checks the server signature too
			import base64, hashlib, hmac, os, socket, ssl, sys
			user, pw = os.environb[b"SMTP_USER"], os.environb[b"SMTP_PASS"]
			s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
			def reply(f):
			    while True:
			        line = f.readline().decode().rstrip()
			        if line[3:4] != "-":
			            return line
			f = s.makefile("rb")
			reply(f)
			s.sendall(b"EHLO t\r\nSTARTTLS\r\n")
			reply(f)
			reply(f)
			t = ssl.create_default_context(cafile=sys.argv[2]).wrap_socket(s, server_hostname="localhost")
			f = t.makefile("rb")
			t.sendall(b"EHLO t\r\n")
			reply(f)
			first = b"n=" + user + b",r=" + base64.b64encode(os.urandom(18))
			t.sendall(b"AUTH SCRAM-SHA-256 " + base64.b64encode(b"n,," + first) + b"\r\n")
			sf = base64.b64decode(reply(f)[4:])
			d = dict(kv.split(b"=", 1) for kv in sf.split(b","))
			salted = hashlib.pbkdf2_hmac("sha256", pw, base64.b64decode(d[b"s"]), int(d[b"i"]))
			ck = hmac.new(salted, b"Client Key", "sha256").digest()
			final = b"c=biws,r=" + d[b"r"]
			am = first + b"," + sf + b"," + final
			sig = hmac.new(hashlib.sha256(ck).digest(), am, "sha256").digest()
			proof = base64.b64encode(bytes(a ^ b for a, b in zip(ck, sig)))
			t.sendall(base64.b64encode(final + b",p=" + proof) + b"\r\n")
			r = reply(f)
			want = b"v=" + base64.b64encode(hmac.new(hmac.new(salted, b"Server Key", "sha256").digest(), am, "sha256").digest())
			ok = r.startswith("334 ") and base64.b64decode(r[4:]) == want
			t.sendall(b"\r\n")
			print(("server signature ok " if ok else "server signature WRONG ") + reply(f))
			PY
		)
		check "$name: AUTH SCRAM-SHA-256 (Dovecot): server signature ok, 235" \
			"$(grep -q '^server signature ok 235' <<<"$out"; echo $?)" "$out"
	fi
	local tickets
	tickets=$( (sleep 1; echo QUIT) | timeout 10 openssl s_client -starttls smtp \
		-connect 127.0.0.1:"$sub" -CAfile "$PKI_DIR/ca.crt" -msg 2>&1 | grep -c 'NewSessionTicket')
	echo "# $name: TLS 1.3 NewSessionTicket messages per connection: $tickets"

	local c
	c=$(count_mail "$d" "$sent")
	check "$name: $sent messages in the Maildir" "$([ "$c" -eq "$sent" ]; echo $?)" "found $c"
	check "$name: the stored messages carry the message text" \
		"$(grep -rlq "$MARK" "$d/mail/new"; echo $?)"
	if [ "$name" = aiosmtpd ]; then
		local f same=1
		for f in "$d"/mail/new/*; do cmp -s "$f" "$MSG" && same=0; done
		check "$name: a message is stored byte for byte as sent (dot-unstuffed)" "$same"
		out=$(cat "$d"/mail/envelope/*.json)
		check "$name: the envelope sidecar has the AUTH user, TLS and recipients" \
			"$(grep -q '"auth_user": "smtpuser"' <<<"$out" && grep -q '"protocol": "TLSv1.3"' <<<"$out" &&
				grep -q '"ok@example.org"' <<<"$out" && ! grep -q 'reject.test' <<<"$out"; echo $?)"
	fi
	local logs=("$SERVER_LOG")
	[ -f "$d/dovecot.log" ] && logs+=("$d/dovecot.log")
	check "$name: the password is in no server log" \
		"$(! grep -q "$SMTP_PASS" "${logs[@]}"; echo $?)"
}

start() {	# start SCRIPT DIR [ARGS...]: start and time it; 1 on failure
	local s=$1 d=$2 t
	shift 2
	t=$(now)
	if bash "$HERE/$s.sh" start "$@" "$d"; then
		STARTED+=("$s $d")
		ok "$s.sh start ($(since "$t") s)"
		return 0
	fi
	not_ok "$s.sh start"
	return 1
}
stop() {	# stop SCRIPT DIR: stop, time it, check nothing of it is left
	local s=$1 d=$2 t pids
	pids=$(cat "$d/pids" 2>/dev/null)
	t=$(now)
	bash "$HERE/$s.sh" stop "$d"
	local left=0 p
	for p in $pids; do
		ps -e -o pid=,pgid=,stat= | awk -v g="$p" '($1 == g || $2 == g) && $3 !~ /^Z/ { f = 1 } END { exit !f }' &&
			left=1
	done
	check "$s.sh stop leaves no process ($(since "$t") s)" "$left"
	local keep=()
	for p in "${STARTED[@]}"; do [ "$p" != "$s $d" ] && keep+=("$p"); done
	STARTED=("${keep[@]}")
}

for g in "${WANT[@]}"; do
	case $g in
	postfix | exim | aiosmtpd)
		if start "$g" "$W/$g"; then
			mta_checks "$g" "$W/$g"
			stop "$g" "$W/$g"
		fi
		;;
	hostile)
		# MODE  EXPECTED-CURL-RC  AUTH-MAY-REACH-THE-SERVER(0/1)  [hostile.py options]
		while read -r mode want authok opts; do
			[ -n "$mode" ] || continue
			d=$W/hostile-${mode//=/-}${opts:+-implicit}
			# shellcheck disable=SC2086
			bash "$HERE/hostile.sh" start "$mode" "$d" $opts >/dev/null 2>"$d.start.err" ||
				{ not_ok "hostile $mode: start" "$(cat "$d.start.err")"; continue; }
			STARTED+=("hostile $d")
			# shellcheck source=/dev/null
			. "$d/ports.env"
			scheme=smtp
			reqd=--ssl-reqd
			if [ -n "$opts" ]; then scheme=smtps; reqd=; fi
			maxt=10
			[ "$mode" = slow ] && maxt=3
			t=$(now)
			# shellcheck disable=SC2086
			out=$("${CURL[@]}" --max-time $maxt $reqd --url "$scheme://localhost:$PORT" \
				--user "$SMTP_USER:$SMTP_PASS" --mail-rcpt b@example.org 2>&1 | head -n1)
			rc=${PIPESTATUS[0]}
			el=$(since "$t")
			check "hostile $mode${opts:+ $opts}: curl rc $want (got $rc in $el s: ${out:-ok})" \
				"$([ "$rc" = "$want" ]; echo $?)"
			if [ "$authok" = 0 ]; then
				check "hostile $mode${opts:+ $opts}: no AUTH reached the server" \
					"$(! grep -q ' C: AUTH' "$SERVER_LOG"; echo $?)"
			fi
			bash "$HERE/hostile.sh" stop "$d"
			keep=()
			for p in "${STARTED[@]}"; do [ "$p" != "hostile $d" ] && keep+=("$p"); done
			STARTED=("${keep[@]}")
		done <<-'TABLE'
			ok             0  1
			ok             0  1  --implicit
			nostarttls     64 0
			strip          64 0
			inject         8  0
			starttls454    64 0
			cert=selfsigned 60 0
			cert=expired   60 0
			cert=expired   60 0  --implicit
			cert=notyet    60 0
			cert=wronghost 60 0
			tls11          35 0
			tls11          35 0  --implicit
			authbeforetls  64 0
			endless334     67 1
			longline       0  1
			manylines      0  1
			codechange     64 0
			drop354        56 1
			dropdata       56 1
			421greet       8  0
			421ehlo        9  0
			421mail        55 1
			421rcpt        55 1
			421data        55 1
			421dot         8  1
			slow           28 0
			badgreet       8  0
			no8bitmime     0  1
		TABLE

		# protocol details curl does not show
		d=$W/hostile-detail
		bash "$HERE/hostile.sh" start tls11 "$d" >/dev/null 2>&1 && STARTED+=("hostile $d")
		# shellcheck source=/dev/null
		. "$d/ports.env"
		out=$(echo QUIT | timeout 10 openssl s_client -starttls smtp -connect 127.0.0.1:"$PORT" \
			-CAfile "$PKI_DIR/ca.crt" -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' 2>&1)
		check "hostile tls11: s_client -tls1_1 @SECLEVEL=0 negotiates TLSv1.1" \
			"$(grep -q 'Protocol  *: TLSv1.1' <<<"$out"; echo $?)"
		bash "$HERE/hostile.sh" stop "$d"
		for m in longline manylines codechange inject; do
			bash "$HERE/hostile.sh" start $m "$d" >/dev/null 2>&1 || continue
			# shellcheck source=/dev/null
			. "$d/ports.env"
			raw=$(/usr/bin/python3 - "$PORT" <<-'PY'
				import socket, sys, time
				s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
				s.sendall(b"EHLO t\r\nSTARTTLS\r\n")
				time.sleep(0.5)
				data = s.recv(65536)
				print(len(data), data.count(b"\r\n"), repr(data[-60:]))
				PY
			)
			case $m in
			longline)
				len=$(grep -m1 ' S: 220' "$SERVER_LOG" | sed 's/^[^ ]* [^ ]* S: //' | tr -d '\n' | wc -c)
				check "hostile longline: greeting line of 2000 bytes + CRLF ($raw)" \
					"$([ "$len" -eq 2000 ]; echo $?)" "logged greeting: $len bytes" ;;
			manylines) check "hostile manylines: EHLO reply of 100 lines" \
				"$([ "$(grep -c ' S: 250[- ]' "$SERVER_LOG")" -eq 100 ]; echo $?)" "$(grep -c ' S: 250[- ]' "$SERVER_LOG")" ;;
			codechange) check "hostile codechange: 250-... then 251 ..." \
				"$(grep -q ' S: 251 ' "$SERVER_LOG"; echo $?)" ;;
			inject) check "hostile inject: 220 and 250 INJECTED in one read ($raw)" \
				"$(grep -q "250 INJECTED" <<<"$raw"; echo $?)" ;;
			esac
			bash "$HERE/hostile.sh" stop "$d"
		done
		keep=()
		for p in "${STARTED[@]}"; do [ "$p" != "hostile $d" ] && keep+=("$p"); done
		STARTED=("${keep[@]}")
		;;
	*) not_ok "unknown group $g" ;;
	esac
done

echo "1..$N"
echo "# $((N - FAILED)) passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
