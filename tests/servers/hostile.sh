#!/bin/bash
# One scripted misbehaving SMTP server (hostile.py) as a daemon.  Needs
# only Debian's /usr/bin/python3 and openssl (for the PKI); no root.
#
#   tests/servers/hostile.sh start MODE DIR [HOSTILE.PY OPTIONS...]
#   tests/servers/hostile.sh stop DIR
#
# MODE: see hostile.py (ok nostarttls strip inject starttls454 tls11
# authbeforetls endless334 longline manylines codechange drop354 dropdata
# 421greet 421ehlo 421mail 421rcpt 421data 421dot slow badgreet no8bitmime
# cert=selfsigned|expired|notyet|wronghost).  Extra options go to
# hostile.py, e.g. --implicit (TLS on connect), --delay 0.5 (slow),
# --lines 65 (manylines).  One server per DIR; start several in several
# DIRs.
#
# Environment (start): SMTP_USER, SMTP_PASS_FILE or SMTP_PASS (default
# smtpuser / smtppass), PKI_DIR (default DIR/pki, made by pki.sh), SRV_START_TIMEOUT.
#
# Files written in DIR:
#   ports.env    SMTP_HOST, PORT, MODE, PKI_DIR, SERVER_LOG, PIN_FILE
#   pids         the server's PID ("stop" uses it)
#   hostile.log  every line received ("#CONN C: ..."), sent ("S: ...")
#                and events ("-- ..."); AUTH lines are logged as sent, so
#                DIR holds credentials when a client sent them
#   server.pin   sha256// pin of the certificate this server presents
#   mail/        Maildir of the messages accepted (mode ok and friends)
set -euo pipefail
SRV_NAME=hostile.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { echo "usage: $0 start MODE DIR [hostile.py options] | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
CMD=$1
if [ "$CMD" = stop ]; then
	[ $# -eq 2 ] || usage
	mkdir -p "$2"
	srv_stop "$(cd "$2" && pwd)"
	exit 0
fi
if [ "$CMD" != start ] || [ $# -lt 3 ]; then usage; fi
MODE=$2
DIR=$(srv_dir "$3") || exit 1
shift 3

srv_running "$DIR" && srv_die "already running in $DIR (stop it first)"
srv_stop "$DIR"
T0=$EPOCHREALTIME
PKI=$(srv_pki "$DIR")
LOG=$DIR/hostile.log
srv_exempt "$DIR" hostile.log "the server's transcript records the AUTH it received"
rm -f "$DIR/ports.env" "$DIR/port"
: >"$LOG"

# the server appends to the log itself too (both O_APPEND)
# shellcheck disable=SC2094
setsid "$SRV_PY" "$SRV_HERE/hostile.py" --mode "$MODE" --pki "$PKI" \
	--port-file "$DIR/port" --log "$LOG" --maildir "$DIR/mail" \
	--pin-file "$DIR/server.pin" "$@" </dev/null >>"$LOG" 2>&1 &
PID=$!
echo "$PID" >"$DIR/pids"
for ((i = 0; i < SRV_START_TIMEOUT * 20; i++)); do
	[ -s "$DIR/port" ] && break
	srv_alive "$PID" || break
	sleep 0.05
done
if [ ! -s "$DIR/port" ]; then
	srv_stop "$DIR"
	srv_die "hostile.py ($MODE) did not come up" "$LOG"
fi
PORT=$(cat "$DIR/port")
# only "accepts connections": several modes never send a normal greeting
srv_wait --connect-only --pid "$PID" "$PORT" || {
	srv_stop "$DIR"
	srv_die "hostile.py ($MODE) port $PORT does not answer" "$LOG"
}
cat >"$DIR/ports.env" <<ENV
SMTP_HOST=127.0.0.1
PORT=$PORT
MODE='$MODE'
PKI_DIR=$PKI
SERVER_LOG=$LOG
PIN_FILE=$DIR/server.pin
ENV
srv_say "up in $(srv_since "$T0") s: $MODE on $PORT ($DIR)"
