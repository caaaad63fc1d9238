#!/bin/bash
# The scripted aiosmtpd server (aiosmtpd_server.py) as a daemon.  Needs
# python3-aiosmtpd (scripts/install-test-servers.sh); root is not needed.
#
#   tests/servers/aiosmtpd.sh start DIR     (DIR is created if missing)
#   tests/servers/aiosmtpd.sh stop DIR
#
# Environment (start): SMTP_USER, SMTP_PASS_FILE or SMTP_PASS (default
# smtpuser / smtppass),
# PKI_DIR (default DIR/pki, made by pki.sh), SRV_START_TIMEOUT (20 s).
#
# Ports and rules: see aiosmtpd_server.py (SUBMISSION_PORT: STARTTLS
# required; SMTPS_PORT: implicit TLS; AUTH PLAIN LOGIN; reject.test 550,
# defer.test 450 at RCPT).
#
# Files written in DIR:
#   ports.env     SMTP_HOST, SUBMISSION_PORT, SMTPS_PORT, MAILDIR, PKI_DIR,
#                 SERVER_LOG (source it)
#   pids          the server's PID ("stop" uses it)
#   aiosmtpd.log  the server's log (no secrets, no message text)
#   mail/         the Maildir: mail/new/NAME holds the DATA bytes exactly,
#                 mail/envelope/NAME.json the envelope, AUTH user and TLS
set -euo pipefail
SRV_NAME=aiosmtpd.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ $# -eq 2 ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
CMD=$1
DIR=$(srv_dir "$2") || exit 1

if [ "$CMD" = stop ]; then
	srv_stop "$DIR"
	exit 0
fi
[ "$CMD" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

"$SRV_PY" -c 'import aiosmtpd' 2>/dev/null ||
	srv_die "$SRV_PY cannot import aiosmtpd: run scripts/install-test-servers.sh"
srv_running "$DIR" && srv_die "already running in $DIR (stop it first)"
srv_stop "$DIR"
T0=$EPOCHREALTIME
PKI=$(srv_pki "$DIR")
LOG=$DIR/aiosmtpd.log
rm -f "$DIR/ports.env" "$DIR/ports.tmp"
mkdir -p "$DIR/mail"
: >"$LOG"

# the server appends to the log itself too (both O_APPEND)
# shellcheck disable=SC2094
setsid "$SRV_PY" "$SRV_HERE/aiosmtpd_server.py" --ports-file "$DIR/ports.tmp" \
	--maildir "$DIR/mail" --cert "$PKI/server.chain.pem" --key "$PKI/server.key" \
	--log "$LOG" </dev/null >>"$LOG" 2>&1 &
PID=$!
echo "$PID" >"$DIR/pids"

# the server writes its ports file once both ports listen
for ((i = 0; i < SRV_START_TIMEOUT * 20; i++)); do
	[ -s "$DIR/ports.tmp" ] && break
	srv_alive "$PID" || break
	sleep 0.05
done
if [ ! -s "$DIR/ports.tmp" ]; then
	srv_stop "$DIR"
	srv_die "aiosmtpd did not come up" "$LOG"
fi
# shellcheck source=/dev/null
. "$DIR/ports.tmp"
srv_wait --pid "$PID" "$SUBMISSION_PORT" "$SMTPS_PORT:tls" || {
	srv_stop "$DIR"
	srv_die "aiosmtpd ports do not answer" "$LOG"
}
{
	cat "$DIR/ports.tmp"
	echo "MAILDIR=$DIR/mail"
	echo "PKI_DIR=$PKI"
	echo "SERVER_LOG=$LOG"
} >"$DIR/ports.env"
rm -f "$DIR/ports.tmp"
srv_say "up in $(srv_since "$T0") s: submission $SUBMISSION_PORT, smtps $SMTPS_PORT ($DIR)"
