#!/bin/bash
# A private Postfix 3.7 with Dovecot SASL on loopback, for the sender's
# integration tests.  Needs root and scripts/install-test-servers.sh.
#
#   tests/servers/postfix.sh start DIR     (DIR is created if missing)
#   tests/servers/postfix.sh stop DIR
#
# Environment (start):
#   SMTP_USER, SMTP_PASS   the only account (default smtpuser / smtppass);
#                          any bytes except NUL and newline; ':' is fine
#   SMTP_PASS_FILE         the password from this file instead (tests: so
#                          it is in no process's environment)
#   PKI_DIR                test PKI to use (default DIR/pki, made by pki.sh)
#   SMTPCRED_SERVERS_CACHE where the install script unpacked postfix
#   SRV_START_TIMEOUT      seconds to wait for the ports (default 20)
#   SRV_TLS_TICKETS=1      send TLS session tickets (default: none)
#   SRV_MESSAGE_SIZE_LIMIT message_size_limit in bytes (default 10240000;
#                          0 = none, for the 100 MiB benchmark)
#   SRV_STRICT_PIPELINING=1  smtpd_forbid_unauth_pipelining = yes (the
#                          default from Postfix 3.9) and
#                          smtpd_data_restrictions = reject_unauth_pipelining
#                          (the usual SMTP-smuggling hardening)
#   SRV_SINK=discard       accept every message with 250 and discard it in
#                          Postfix's discard agent (nothing delivered)
#
# Listeners (127.0.0.1, free ports picked at start):
#   SUBMISSION_PORT  plaintext greeting, STARTTLS required
#                    (smtpd_tls_security_level=encrypt), AUTH PLAIN LOGIN
#                    SCRAM-SHA-256 offered only after STARTTLS
#                    (smtpd_tls_auth_only)
#   SMTPS_PORT       implicit TLS (smtpd_tls_wrappermode), AUTH PLAIN LOGIN
#                    SCRAM-SHA-256
# Both require AUTH to send (otherwise 554 5.7.1 at RCPT).  Recipients:
#   *@reject.test (and subdomains)  550 5.1.1 at RCPT
#   *@defer.test  (and subdomains)  450 4.2.0 at RCPT
#   anything else                   delivered into the Maildir DIR/mail
#                                   (new/ holds one file per message,
#                                   owned by nobody; Postfix adds
#                                   Return-Path, Delivered-To, Received)
# Server certificate: PKI_DIR/server.{key,chain.pem} (localhost, 127.0.0.1).
# No TLS session resumption: no session cache, and no TLS 1.3
# NewSessionTicket is sent (SRV_TLS_TICKETS=1 restores Postfix's default
# of one ticket per handshake).
#
# Files written in DIR:
#   ports.env    SMTP_HOST, SUBMISSION_PORT, SMTPS_PORT, MAILDIR, PKI_DIR,
#                SERVER_LOG (source it)
#   pids         the Postfix master and the Dovecot PIDs ("stop" uses it)
#   postfix.log  Postfix's log (maillog_file); dovecot.log Dovecot's
#   postfix/ dovecot/ configuration, queue and sockets; mail/ the Maildir
# DIR also holds the password (dovecot/users): keep DIR out of any tree a
# canary scan covers.
set -euo pipefail
SRV_NAME=postfix.sh
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
PF=${POSTFIX_ROOT:-$SRV_CACHE/postfix}
[ -x "$PF/usr/lib/postfix/sbin/master" ] ||
	srv_die "no postfix under $PF: run scripts/install-test-servers.sh"
command -v dovecot >/dev/null || srv_die "no dovecot: run scripts/install-test-servers.sh"
srv_running "$DIR" && srv_die "already running in $DIR (stop it first)"
srv_stop "$DIR"	# leftovers of a half-dead earlier run
getent group postdrop >/dev/null || groupadd --system postdrop
srv_check_user postfix
USER_NAME=${SMTP_USER:-smtpuser}
USER_PASS=$(srv_pass) || exit 1
PKI=$(srv_pki "$DIR")
ETC=$DIR/postfix/etc
DV=$DIR/dovecot
LOG=$DIR/postfix.log
rm -rf "$DIR/postfix" "$DV" "$DIR/ports.env"
mkdir -p "$ETC" "$DIR/postfix/spool" "$DIR/postfix/data" "$DV/run" "$DV/state"
chmod 755 "$DIR/postfix" "$DIR/postfix/spool" "$DV"
: >"$LOG"
: >"$DIR/dovecot.log"
srv_maildir "$DIR" nobody
# The queue folders, as post-install create-missing (run by "postfix
# check/start", 1.7 s) would make them from postfix-files.
# shellcheck disable=SC2016
grep -E '^\$(queue|data)_directory[^:]*:d:' "$PF/etc/postfix/postfix-files" |
	while IFS=: read -r path _ owner group mode _; do
		path=${path/\$queue_directory/$DIR/postfix/spool}
		path=${path/\$data_directory/$DIR/postfix/data}
		owner=${owner/\$mail_owner/postfix}
		group=${group/\$setgid_group/postdrop}
		[ "$group" = - ] && group=$(id -gn "$owner")
		install -d -o "$owner" -g "$group" -m "$mode" "$path"
	done
export LD_LIBRARY_PATH=$PF/usr/lib/postfix${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# ---- Dovecot: SASL server only (no IMAP/POP), passwd-file with one user.
# The password is stored base64-encoded so that any byte but NUL works.
printf '%s:{PLAIN.b64}%s\n' "$USER_NAME" "$(printf '%s' "$USER_PASS" | base64 -w0)" >"$DV/users"
srv_exempt "$DIR" dovecot/users "Dovecot's password database"
chmod 640 "$DV/users"
chgrp dovecot "$DV/users" 2>/dev/null || true
cat >"$DV/dovecot.conf" <<CONF
protocols =
base_dir = $DV/run
state_dir = $DV/state
log_path = $DIR/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login scram-sha-256
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = username_format=%u $DV/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
# no auth penalty: after a failed AUTH from 127.0.0.1 anvil would delay
# every later AUTH from it by 2, 4, 8 and up to 15 s
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
CONF

# ---- Postfix
# TLS 1.3 session tickets.  An empty tls_session_ticket_cipher only sets
# SSL_OP_NO_TICKET, and OpenSSL 3 then still sends 2 (stateful)
# NewSessionTicket messages after every handshake; the OpenSSL default
# NumTickets=0 from a private tls_config_file is what stops them (Postfix
# calls SSL_CTX_set_num_tickets(1) itself only when tickets are on).
if [ "${SRV_TLS_TICKETS:-0}" = 1 ]; then
	TICKETS_CONF="# TLS session tickets: Postfix defaults (SRV_TLS_TICKETS=1)"
else
	cat >"$ETC/openssl.cnf" <<CONF
openssl_conf = smtpcred_init
[smtpcred_init]
ssl_conf = smtpcred_ssl
[smtpcred_ssl]
system_default = smtpcred_tls
[smtpcred_tls]
NumTickets = 0
CONF
	TICKETS_CONF="# no TLS session resumption: no tickets (see openssl.cnf), no cache
tls_session_ticket_cipher =
tls_config_file = $ETC/openssl.cnf
smtpd_tls_session_cache_database =
smtpd_tls_session_cache_timeout = 0"
fi
start_once() {
	read -r P_SUB P_SMTPS < <(srv_free_ports 2)
	cat >"$ETC/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $DIR/postfix/spool
data_directory = $DIR/postfix/data
command_directory = $PF/usr/sbin
daemon_directory = $PF/usr/lib/postfix/sbin
shlib_directory = $PF/usr/lib/postfix
meta_directory = $PF/etc/postfix
mail_owner = postfix
setgid_group = postdrop
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME LD_LIBRARY_PATH
maillog_file_prefixes = $DIR
maillog_file = $LOG
syslog_name = smtpcred-postfix
myhostname = mx.postfix.test
mydomain = postfix.test
mydestination =
mynetworks = 127.0.0.1/32
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
alias_database =
biff = no
# SRV_MESSAGE_SIZE_LIMIT (bytes, 0 = none) for big-message benchmarks
message_size_limit = ${SRV_MESSAGE_SIZE_LIMIT:-10240000}
virtual_mailbox_limit = 0
smtpd_banner = \$myhostname ESMTP postfix test server
# every recipient domain is delivered into one Maildir: DIR/mail/
virtual_mailbox_domains = static:all
virtual_mailbox_base = $DIR
virtual_mailbox_maps = static:mail/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
smtpd_tls_chain_files = $PKI/server.key, $PKI/server.chain.pem
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
$TICKETS_CONF
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DV/run/auth-postfix
smtpd_sasl_auth_enable = yes
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions =
  check_recipient_access inline:{
    { reject.test = 550 5.1.1 rejected by the reject.test rule },
    { defer.test = 450 4.2.0 deferred by the defer.test rule } },
  permit
smtpd_error_sleep_time = 0
${SRV_STRICT_PIPELINING:+# SRV_STRICT_PIPELINING: what Postfix 3.9 and hardened setups do
smtpd_forbid_unauth_pipelining = yes
smtpd_data_restrictions = reject_unauth_pipelining}
${SRV_SINK:+# SRV_SINK=discard: 250 to every message, then dropped by the discard agent
virtual_transport = discard:}
CONF
	cat >"$ETC/master.cf" <<CONF
127.0.0.1:$P_SUB inet n - n - - smtpd
  -o syslog_name=smtpcred-postfix/submission
  -o smtpd_tls_security_level=encrypt
127.0.0.1:$P_SMTPS inet n - n - - smtpd
  -o syslog_name=smtpcred-postfix/smtps
  -o smtpd_tls_wrappermode=yes
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
tlsmgr    unix - - n 1000? 1 tlsmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
local     unix - n n - - local
virtual   unix - n n - - virtual
lmtp      unix - - n - - lmtp
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
CONF
	# Postfix does not read a main.cf younger than 2 s (it polls every
	# 0.3 s until the file is old enough: a 1.5 s start-up delay).
	touch -d '-1 minute' "$ETC"/*
	# setsid: the master is a process-group leader, so on SIGTERM it takes
	# its children down with it; -d: stay in the foreground (PID = $!).
	MAIL_CONFIG=$ETC setsid "$PF/usr/lib/postfix/sbin/master" -c "$ETC" -d \
		</dev/null >>"$LOG" 2>&1 &
	PF_PID=$!
	echo "$PF_PID" >>"$DIR/pids"
	srv_wait --pid "$PF_PID" "$P_SUB" "$P_SMTPS:tls"
}

T0=$EPOCHREALTIME
setsid dovecot -F -c "$DV/dovecot.conf" </dev/null >>"$DIR/dovecot.log" 2>&1 &
echo $! >"$DIR/pids"
for ((i = 0; i < SRV_START_TIMEOUT * 20; i++)); do
	[ -S "$DV/run/auth-postfix" ] && break
	srv_alive "$(head -n1 "$DIR/pids")" || break
	sleep 0.05
done
[ -S "$DV/run/auth-postfix" ] || {
	srv_stop "$DIR"
	srv_die "dovecot did not create its auth socket" "$DIR/dovecot.log"
}

tries=0
until start_once; do
	tries=$((tries + 1))
	if ! srv_alive "$PF_PID" && [ $tries -lt 3 ] &&
		"$SRV_PY" "$SRV_HERE/probe.py" inuse "$P_SUB" "$P_SMTPS"; then
		# another process took a port between the pick and the bind
		srv_say "port $P_SUB or $P_SMTPS taken meanwhile, trying other ports"
		sed -i "/^$PF_PID\$/d" "$DIR/pids"
		continue
	fi
	if ! srv_alive "$PF_PID"; then
		# The master's own start-up errors go to syslog (postlogd is not
		# up yet), which is nowhere here; "postfix check" logs into LOG
		# and finds most of their causes (ownership, permissions, syntax).
		echo "postfix.sh: the master exited; its own reason went to syslog. postfix check says:" >>"$LOG"
		"$PF/usr/sbin/postfix" -c "$ETC" check </dev/null >>"$LOG" 2>&1 || true
	fi
	srv_stop "$DIR"
	srv_die "postfix did not come up" "$LOG" "$DIR/dovecot.log"
done

cat >"$DIR/ports.env" <<ENV
SMTP_HOST=127.0.0.1
SUBMISSION_PORT=$P_SUB
SMTPS_PORT=$P_SMTPS
MAILDIR=$DIR/mail
PKI_DIR=$PKI
SERVER_LOG=$LOG
ENV
srv_say "up in $(srv_since "$T0") s: submission $P_SUB, smtps $P_SMTPS ($DIR)"
