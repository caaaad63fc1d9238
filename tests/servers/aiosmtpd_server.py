#!/usr/bin/python3
"""Scripted SMTP server (python3-aiosmtpd 1.4) for the sender's tests.

Run with Debian's /usr/bin/python3 (the pyenv python3 on PATH cannot see
python3-aiosmtpd); normally through aiosmtpd.sh.

  aiosmtpd_server.py --ports-file FILE --maildir DIR --cert CHAIN --key KEY
                     [--log FILE] [--hostname NAME]

Environment: SMTP_USER, SMTP_PASS (default smtpuser / smtppass), compared
byte for byte.

Listens on two ports of 127.0.0.1, both bound to port 0 (no race):
  SUBMISSION_PORT  plaintext greeting, STARTTLS required before anything
                   else (530), AUTH PLAIN LOGIN offered only after TLS
  SMTPS_PORT       implicit TLS, AUTH PLAIN LOGIN
MAIL without AUTH: 530 5.7.0.  Recipients:
  *@reject.test (and subdomains)  550 5.1.1 at RCPT
  *@defer.test  (and subdomains)  450 4.2.0 at RCPT
  anything else                   accepted
Each message is stored in the Maildir DIR: DIR/new/NAME holds exactly the
bytes received between DATA and the final ".", dot-unstuffed, nothing
added or re-encoded; DIR/envelope/NAME.json holds the envelope: mail_from,
rcpt_tos (accepted ones), mail_options, auth_user, tls (protocol,
cipher), port ("submission" or "smtps"), peer, size.

When both ports listen, FILE gets (atomically, by rename)
  SMTP_HOST=127.0.0.1
  SUBMISSION_PORT=N
  SMTPS_PORT=N
Stops on SIGTERM or SIGINT.
"""
import argparse
import asyncio
import hmac
import json
import logging
import os
import signal
import socket
import ssl
import sys
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult

# AUTH without auth_require_tls on the smtps port is deliberate (see smtps())
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")

REJECT = "550 5.1.1 rejected by the reject.test rule"
DEFER = "450 4.2.0 deferred by the defer.test rule"


def domain_rule(address):
    domain = address.rpartition("@")[2].strip().lower().rstrip(">")
    for name, reply in (("reject.test", REJECT), ("defer.test", DEFER)):
        if domain == name or domain.endswith("." + name):
            return reply
    return None


class Authenticator:
    def __init__(self, user, password):
        self.user = user
        self.password = password

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (mechanism in ("PLAIN", "LOGIN")
              and hmac.compare_digest(bytes(auth_data.login or b""), self.user)
              and hmac.compare_digest(bytes(auth_data.password or b""), self.password))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class Handler:
    def __init__(self, maildir, port_name):
        self.maildir = maildir
        self.port_name = port_name
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = domain_rule(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = "%d.M%dP%d_%s_%d.aiosmtpd" % (time.time(), time.time_ns() % 1000000,
                                             os.getpid(), self.port_name, self.count)
        body = envelope.original_content or b""
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(body)
        # after STARTTLS, and with implicit TLS, the transport is the TLS one
        obj = server.transport.get_extra_info("ssl_object") if server.transport else None
        tls = {"protocol": obj.version(), "cipher": obj.cipher()[0]} if obj else None
        login = session.auth_data.login if session.auth_data else None
        side = {
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "rcpt_options": envelope.rcpt_options,
            "auth_user": login.decode("utf-8", "replace") if login else None,
            "tls": tls,
            "port": self.port_name,
            "peer": list(session.peer) if session.peer else None,
            "size": len(body),
        }
        with open(os.path.join(self.maildir, "envelope", name + ".json"), "w") as f:
            json.dump(side, f, indent=1)
        os.rename(tmp, os.path.join(self.maildir, "new", name))
        logging.info("stored %s from %s to %s (%d bytes, %s)", name, envelope.mail_from,
                     envelope.rcpt_tos, len(body), self.port_name)
        return "250 2.0.0 OK queued as " + name


def read_password():
    """From the file $SMTP_PASS_FILE, else $SMTP_PASS, else smtppass."""
    name = os.environ.get("SMTP_PASS_FILE")
    if name:
        with open(name, "rb") as f:
            return f.read()
    return os.environb.get(b"SMTP_PASS", b"smtppass")


async def serve(args):
    user = os.environb.get(b"SMTP_USER", b"smtpuser")
    password = read_password()
    auth = Authenticator(user, password)
    for sub in ("new", "cur", "tmp", "envelope"):
        os.makedirs(os.path.join(args.maildir, sub), exist_ok=True)

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.num_tickets = 0  # no TLS 1.3 session tickets (as the Postfix server)

    loop = asyncio.get_running_loop()

    def submission():
        return SMTP(Handler(args.maildir, "submission"), hostname=args.hostname,
                    ident="aiosmtpd test server", tls_context=ctx,
                    require_starttls=True, auth_required=True, auth_require_tls=True,
                    authenticator=auth, decode_data=False)

    def smtps():
        # aiosmtpd 1.4 does not count implicit TLS as TLS: with
        # auth_require_tls=True it would hide AUTH on this port.
        return SMTP(Handler(args.maildir, "smtps"), hostname=args.hostname,
                    ident="aiosmtpd test server", require_starttls=False,
                    auth_required=True, auth_require_tls=False,
                    authenticator=auth, decode_data=False)

    srv1 = await loop.create_server(submission, "127.0.0.1", 0, family=socket.AF_INET)
    srv2 = await loop.create_server(smtps, "127.0.0.1", 0, family=socket.AF_INET, ssl=ctx)
    p1 = srv1.sockets[0].getsockname()[1]
    p2 = srv2.sockets[0].getsockname()[1]
    tmp = args.ports_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("SMTP_HOST=127.0.0.1\nSUBMISSION_PORT=%d\nSMTPS_PORT=%d\n" % (p1, p2))
    os.rename(tmp, args.ports_file)
    logging.info("listening: submission %d, smtps %d", p1, p2)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    srv1.close()
    srv2.close()
    logging.info("stopped")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ports-file", required=True)
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--cert", required=True, help="certificate chain (PEM)")
    ap.add_argument("--key", required=True)
    ap.add_argument("--log", help="log file (default stderr)")
    ap.add_argument("--hostname", default="mx.aiosmtpd.test")
    args = ap.parse_args()
    logging.basicConfig(filename=args.log, level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
