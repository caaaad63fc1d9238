#!/bin/bash
# The keyring daemon killed during a lease (issue 6, fault injection).
# smtpsend sends to a well-behaved STARTTLS + AUTH server (hostile.py, mode
# ok) and pauses inside smtpcred_lease_acquire (test builds:
# SMTPCRED_TEST_PAUSE_AT) while gnome-keyring-daemon is killed with
# SIGKILL; then the lease goes on against a bus without a Secret Service.
#
#   lease-start        before the keyring is asked anything
#   lease-resolved     account and version read, the secret not yet
#   lease-secret-read  the secret read, the audit record not yet written
#
# Before the secret is read: a typed temporary or unavailable error (69 or
# 75, never a signal), no lease recorded as taken, no AUTH on the wire,
# nothing delivered.  After it: the send completes once (the daemon is not
# needed any more).  Each time, after the daemon is started again, the
# account still has exactly one current version with the password,
# the audit chain verifies and a new send works.
# Run through tests/helpers/with-keyring.sh with $SMTPCRED and $SMTPSEND.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../integration/keyring/lib.sh
. "$top/tests/integration/keyring/lib.sh"
: "${SMTPSEND:?}"
skip_all_without_hooks

CANARY="CANARY-s3cr3t-lease-killed"
SRV=$(mktemp -d "${TMPDIR:-/tmp}/smtpcred-leasekill.XXXXXX") || { echo "Bail out! cannot create a temporary directory"; exit 1; }
chmod 711 "$SRV"
# hostile.log records AUTH lines as the server received them: it holds
# the password by design (the server's side), like any server's user db.
echo "server side: hostile.log records the AUTH it received" >"$SRV/.canary-exempt"
# shellcheck disable=SC2317  # run by the EXIT trap below
cleanup() {
	bash "$top/tests/servers/hostile.sh" stop "$SRV/srv" >/dev/null 2>&1
	[ -n "${KEEP_TEST_FILES:-}" ] || rm -rf "$SRV"
}
trap cleanup EXIT
FIFO=$WK_DIR/pause

delivered() { find "$SRV/srv/mail" -path '*/new/*' -type f 2>/dev/null | wc -l; }
auths() { grep -c 'C: AUTH' "$SRV/srv/hostile.log" 2>/dev/null; }
leases_ok() { grep -c '"event":"lease","outcome":"ok","account":"lk"' "$(audit_log)" 2>/dev/null; }

bash "$top/tests/servers/pki.sh" "$SRV/pki" >/dev/null 2>&1
PWFILE=$(secret_file pw "$CANARY")
if ! PKI_DIR=$SRV/pki SMTP_USER=u@test.example SMTP_PASS_FILE=$PWFILE \
	bash "$top/tests/servers/hostile.sh" start ok "$SRV/srv" >"$SRV/start.log" 2>&1; then
	echo "Bail out! the test server did not start: $(tail -3 "$SRV/start.log")"
	exit 1
fi
# shellcheck disable=SC1091
. "$SRV/srv/ports.env"
expect_rc 0 "$SMTPCRED" add lk --host localhost --port "$PORT" --tls starttls \
	--user u@test.example --mechs PLAIN --ca-file "$SRV/pki/ca.crt" \
	--password-stdin <"$SECRET_DIR/pw"
printf 'From: a@test.example\nTo: b@example.org\nSubject: lease killed\n\nbody\n' \
	>"$WK_DIR/msg.eml"

for step in lease-start lease-resolved lease-secret-read; do
	m0=$(delivered) a0=$(auths) l0=$(leases_ok)
	begin "$step: the keyring daemon killed during the lease: typed error or sent, never a crash"
	pause_fifo_new "$FIFO"
	SMTPCRED_TEST_PAUSE_AT=$step SMTPCRED_TEST_PAUSE_FIFO=$FIFO \
		"$SMTPSEND" --account lk --timeout 5 -f a@test.example -- b@example.org \
		<"$WK_DIR/msg.eml" >"$WK_DIR/send.out" 2>"$WK_DIR/send.err" &
	spid=$!
	kill_daemon_at_pause "$FIFO" "the send never reached $step"
	wait "$spid"
	rc=$?
	cp "$WK_DIR/send.err" "$WK_DIR/send-$step.err"
	note "smtpsend: exit $rc $(tail -1 "$WK_DIR/send.err")"
	if [ "$step" = lease-secret-read ]; then
		# The secret is in hand: the daemon is not needed any more.
		[ "$rc" = 0 ] || fail "smtpsend exited $rc: $(tail -2 "$WK_DIR/send.err")"
		assert_eq "$(($(delivered) - m0))" 1 "messages delivered"
		assert_eq "$(($(leases_ok) - l0))" 1 "lease records"
	else
		# 69: the keyring is not there; 75: it did not answer in time.
		# Never 0 and never a signal.
		rc_in "$rc" '69|75' || fail "smtpsend exited $rc: $(tail -2 "$WK_DIR/send.err")"
		assert_matches "$WK_DIR/send.err" 'secret service|session bus|did not answer|keyring|locked'
		assert_eq "$(($(delivered) - m0))" 0 "messages delivered"
		assert_eq "$(($(auths) - a0))" 0 "AUTH commands on the wire"
		assert_eq "$(($(leases_ok) - l0))" 0 "leases recorded as taken"
	fi
	start_daemon || fail "gnome-keyring-daemon did not come back"
	end

	begin "$step: afterwards one current version with the password, the audit chain verifies, a send works"
	assert_secret "$CANARY" account lk state current
	expect_rc 0 "$SMTPCRED" audit --verify
	m0=$(delivered)
	expect_rc 0 "$SMTPSEND" --account lk -f a@test.example -- b@example.org <"$WK_DIR/msg.eml"
	assert_eq "$(($(delivered) - m0))" 1 "messages delivered"
	end
done

canary_check "$CANARY"
finish
