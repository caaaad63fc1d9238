#!/bin/bash
# A private Exim 4.96 (Debian's exim4-daemon-light, GnuTLS) on loopback, for
# the sender's integration tests.  Needs root and
# scripts/install-test-servers.sh.
#
#   tests/servers/exim.sh start DIR     (DIR is created if missing)
#   tests/servers/exim.sh stop DIR
#
# Environment (start):
#   SMTP_USER, SMTP_PASS   the only account (default smtpuser / smtppass);
#                          any bytes except NUL and newline
#   SMTP_PASS_FILE         the password from this file instead (tests: so
#                          it is in no process's environment)
#   PKI_DIR                test PKI to use (default DIR/pki, made by pki.sh)
#   SMTPCRED_SERVERS_CACHE where the install script unpacked exim4
#   SRV_START_TIMEOUT      seconds to wait for the ports (default 20)
#
# Listeners (127.0.0.1, free ports picked at start):
#   SUBMISSION_PORT  plaintext greeting + STARTTLS; MAIL before STARTTLS
#                    gets 530; AUTH PLAIN LOGIN offered only after TLS
#   SMTPS_PORT       implicit TLS (tls_on_connect_ports), AUTH PLAIN LOGIN
# MAIL without AUTH: 530 5.7.0.  Recipients (after AUTH):
#   *@reject.test (and subdomains)  550 5.1.1 at RCPT
#   *@defer.test  (and subdomains)  450 4.2.0 at RCPT
#   anything else                   delivered into the Maildir DIR/mail
#                                   (Exim adds Return-path, Envelope-to,
#                                   Delivery-date, Received)
# Server certificate: PKI_DIR/server.{key,chain.pem} (localhost, 127.0.0.1),
# copied into DIR/exim/ (Exim reads it as Debian-exim).
#
# Files written in DIR:
#   ports.env   SMTP_HOST, SUBMISSION_PORT, SMTPS_PORT, MAILDIR, PKI_DIR,
#               SERVER_LOG (source it)
#   pids        the Exim daemon's PID ("stop" uses it)
#   exim.log    Exim's main log (exim/log/ has reject and panic logs too)
#   exim/       configuration, spool, credentials; mail/ the Maildir
# DIR also holds the password (exim/auth.pass): keep DIR out of any tree
# a canary scan covers.
#
# Exim rules this respects: the configuration file must belong to root
# and not be writable by group or others; it re-executes itself for each
# delivery (exim_path) and keeps -C for those; the receiving and
# delivering processes run as Debian-exim (deliver_drop_privilege), so
# DIR/mail and the credential files belong to or are readable by it.
set -euo pipefail
SRV_NAME=exim.sh
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

srv_need_root
EXIM=${EXIM_BIN:-$SRV_CACHE/exim/usr/sbin/exim4}
[ -x "$EXIM" ] || srv_die "no exim4 at $EXIM: run scripts/install-test-servers.sh"
srv_running "$DIR" && srv_die "already running in $DIR (stop it first)"
srv_stop "$DIR"
EU=Debian-exim
srv_check_user "$EU"
T0=$EPOCHREALTIME
PKI=$(srv_pki "$DIR")
E=$DIR/exim
LOG=$DIR/exim.log
rm -rf "$E" "$DIR/ports.env"
mkdir -p "$E/spool" "$E/log"
chmod 755 "$E"
chown "$EU:" "$E/spool" "$E/log"
chmod 750 "$E/spool" "$E/log"
srv_maildir "$DIR" "$EU"
# exim writes its main log to exim/log/mainlog; DIR/exim.log points there
ln -sfn "exim/log/mainlog" "$LOG"

# Credentials, read at AUTH time with ${readfile} (no quoting problems:
# nothing of them goes through the configuration file's syntax).
printf '%s' "${SMTP_USER:-smtpuser}" >"$E/auth.user"
srv_pass >"$E/auth.pass" || exit 1
srv_exempt "$DIR" exim/auth.pass "Exim's password for its AUTH check"
chown "root:$EU" "$E/auth.user" "$E/auth.pass"
chmod 640 "$E/auth.user" "$E/auth.pass"

# Exim reads the key after dropping to Debian-exim: a group-readable copy.
install -m 640 -o root -g "$EU" "$PKI/server.key" "$E/tls.key"
install -m 644 "$PKI/server.chain.pem" "$E/tls.chain.pem"

start_once() {
	read -r P_SUB P_SMTPS < <(srv_free_ports 2)
	cat >"$E/exim.conf" <<CONF
# private test instance: nothing here reads /etc/exim4
exim_path = $EXIM
exim_user = $EU
exim_group = $EU
never_users = root
deliver_drop_privilege = true
primary_hostname = mx.exim.test
qualify_domain = exim.test
spool_directory = $E/spool
log_file_path = $E/log/%slog
pid_file_path = $E/exim.pid
log_selector = +smtp_protocol_error +smtp_syntax_error +tls_peerdn -host_lookup_failed
keep_environment =
local_interfaces = 127.0.0.1
# a port taken: exit at once (default: retry 9 times, 30 s apart)
daemon_startup_retries = 0
daemon_smtp_ports = $P_SUB : $P_SMTPS
tls_on_connect_ports = $P_SMTPS
tls_advertise_hosts = *
tls_certificate = $E/tls.chain.pem
tls_privatekey = $E/tls.key
host_lookup =
rfc1413_hosts =
smtp_banner = \$primary_hostname ESMTP exim test server
smtp_accept_max = 100
smtp_accept_queue_per_connection = 0
acl_smtp_mail = acl_mail
acl_smtp_rcpt = acl_rcpt
acl_smtp_data = acl_data

begin acl

acl_mail:
  deny    !encrypted = *
          message = 530 5.7.0 Must issue a STARTTLS command first
  deny    !authenticated = *
          message = 530 5.7.0 Authentication required
  accept

acl_rcpt:
  deny    !authenticated = *
          message = 554 5.7.1 Authentication required
  deny    domains = reject.test : *.reject.test
          message = 550 5.1.1 rejected by the reject.test rule
  defer   domains = defer.test : *.defer.test
          message = 450 4.2.0 deferred by the defer.test rule
  accept

acl_data:
  accept

begin routers

everything:
  driver = accept
  transport = maildir_delivery

begin transports

maildir_delivery:
  driver = appendfile
  directory = $DIR/mail
  maildir_format
  delivery_date_add
  envelope_to_add
  return_path_add
  user = $EU
  mode = 0600

begin retry

*   *   F,1h,5m

begin authenticators

plain_server:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_advertise_condition = \${if def:tls_in_cipher}
  server_condition = \${if and {{eq{\$auth2}{\${readfile{$E/auth.user}}}} \\
                               {eq{\$auth3}{\${readfile{$E/auth.pass}}}}}}
  server_set_id = \$auth2

login_server:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_advertise_condition = \${if def:tls_in_cipher}
  server_condition = \${if and {{eq{\$auth1}{\${readfile{$E/auth.user}}}} \\
                               {eq{\$auth2}{\${readfile{$E/auth.pass}}}}}}
  server_set_id = \$auth1
CONF
	chmod 644 "$E/exim.conf"
	"$EXIM" -C "$E/exim.conf" -bV >"$E/config-check.log" 2>&1 ||
		srv_die "exim rejects its configuration" "$E/config-check.log"
	# -bdf: daemon in the foreground (PID = $!); no queue runner
	setsid "$EXIM" -C "$E/exim.conf" -bdf </dev/null >>"$E/daemon.out" 2>&1 &
	EX_PID=$!
	echo "$EX_PID" >"$DIR/pids"
	srv_wait --pid "$EX_PID" "$P_SUB" "$P_SMTPS:tls"
}

tries=0
until start_once; do
	tries=$((tries + 1))
	if ! srv_alive "$EX_PID" && [ $tries -lt 3 ] &&
		"$SRV_PY" "$SRV_HERE/probe.py" inuse "$P_SUB" "$P_SMTPS"; then
		# another process took a port between the pick and the bind
		srv_say "port $P_SUB or $P_SMTPS taken meanwhile, trying other ports"
		srv_stop "$DIR"
		continue
	fi
	srv_stop "$DIR"
	srv_die "exim did not come up" "$E/daemon.out" "$E/log/paniclog" "$E/log/mainlog"
done

cat >"$DIR/ports.env" <<ENV
SMTP_HOST=127.0.0.1
SUBMISSION_PORT=$P_SUB
SMTPS_PORT=$P_SMTPS
MAILDIR=$DIR/mail
PKI_DIR=$PKI
SERVER_LOG=$E/log/mainlog
ENV
srv_say "up in $(srv_since "$T0") s: submission $P_SUB, smtps $P_SMTPS ($DIR)"
