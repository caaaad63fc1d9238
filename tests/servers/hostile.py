#!/usr/bin/python3
"""Scripted misbehaving SMTP server for the sender's tests (stdlib only).

  hostile.py --mode MODE --pki DIR --port-file FILE --log FILE
             [--implicit] [--maildir DIR] [--pin-file FILE] [--delay S]
             [--lines N]

One MODE per process; it serves any number of connections on one free port
of 127.0.0.1 (bound to port 0) and writes that port number to FILE (by
rename, once it listens).  Every line it receives is logged to the log
file as `C: <line>` (AUTH lines included: tests grep for "C: AUTH" to
prove no credential reached the server), what it sends as `S: <line>`,
and events as `-- ...`.  Credentials for AUTH: SMTP_USER / SMTP_PASS from
the environment (default smtpuser / smtppass).

Normal dialogue (mode "ok"): 220 greeting; EHLO offers STARTTLS before
TLS and AUTH PLAIN LOGIN after it; STARTTLS with DIR/server.{chain.pem,
key}; AUTH checks the credentials (235 / 535); MAIL and RCPT are accepted
except *@reject.test (550) and *@defer.test (450); DATA is read up to the
final "." and stored into --maildir (new/, bytes as received) if given.

Modes (each changes one thing of the normal dialogue):
  ok             as above
  nostarttls     STARTTLS not offered (502 if sent anyway), no AUTH offered
  strip          STARTTLS offered, but answered with 502 (stripping)
  inject         "220 ready\\r\\n250 INJECTED\\r\\n" in one write in reply
                 to STARTTLS, then the TLS handshake
  starttls454    454 4.7.0 in reply to STARTTLS
  cert=NAME      STARTTLS with DIR/NAME.{chain.pem,key}: NAME is one of
                 selfsigned, expired, notyet, wronghost (or server)
  tls11          TLS 1.1 only (SECLEVEL=0, min = max = TLSv1.1)
  authbeforetls  plaintext EHLO offers AUTH PLAIN LOGIN and no STARTTLS
                 (and accepts AUTH in plaintext)
  endless334     every AUTH (and every answer) gets another 334 challenge
  longline       the greeting is one reply line of 2000 bytes (+ CRLF)
  manylines      the EHLO reply has 100 lines (--lines N)
  codechange     the EHLO reply changes its code: "250-a" then "251 b"
  drop354        closes the connection right after sending 354
  dropdata       closes during DATA after the first line of the message
  dropthird      a normal dialogue, but closes the connection during the
                 third message of a connection (after its first line)
  drop-STAGE     closes the connection without a word where STAGE is:
                 greeting (before the 220), ehlo, starttls (on receiving
                 the command), tls (in the middle of the handshake: after
                 the 220, before reading the ClientHello), auth, mail,
                 rcpt, data (on receiving them), dot (after the final
                 ".", before the reply)
  421greet 421ehlo 421mail 421rcpt 421data 421dot
                 421 at that stage (greeting, EHLO, MAIL, RCPT, DATA
                 command, after the final "."), then close
  slow           every reply trickles one byte per --delay seconds (1 s)
  badgreet       554 greeting (then only QUIT is answered)
  no8bitmime     like ok, but 8BITMIME is not offered

--implicit: TLS from the first byte (SMTPS), no STARTTLS offered; the
            modes that concern TLS (cert=, tls11, ok) apply to it.
--pin-file: write the "sha256//BASE64" pin (SHA-256 of the DER
            SubjectPublicKeyInfo) of the certificate this server presents.
Stops on SIGTERM or SIGINT.
"""
import argparse
import asyncio
import base64
import hashlib
import os
import signal
import socket
import ssl
import sys
import time

MODES = {"ok", "nostarttls", "strip", "inject", "starttls454", "tls11",
         "authbeforetls", "endless334", "longline", "manylines", "codechange",
         "drop354", "dropdata", "dropthird", "421greet", "421ehlo", "421mail", "421rcpt",
         "421data", "421dot", "slow", "badgreet", "no8bitmime"}
DROP_STAGES = ("greeting", "ehlo", "starttls", "tls", "auth", "mail", "rcpt",
               "data", "dot")
MODES |= {"drop-" + s for s in DROP_STAGES}
CERTS = {"selfsigned", "expired", "notyet", "wronghost", "server"}
HOST = "hostile.test"


def der_items(data, pos, end):
    """Yield (start, header_len, content_len) of the DER items in data[pos:end]."""
    while pos < end:
        length = data[pos + 1]
        hdr = 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(data[pos + 2:pos + 2 + n], "big")
            hdr += n
        yield pos, hdr, length
        pos += hdr + length


def spki_pin(pem_file):
    """sha256//BASE64 of the SubjectPublicKeyInfo of the first certificate."""
    with open(pem_file) as f:
        pem = f.read()
    end = pem.index(ssl.PEM_FOOTER) + len(ssl.PEM_FOOTER)
    der = ssl.PEM_cert_to_DER_cert(pem[pem.index(ssl.PEM_HEADER):end])
    start, hdr, length = next(der_items(der, 0, len(der)))        # Certificate
    tbs_start, tbs_hdr, tbs_len = next(der_items(der, start + hdr, start + hdr + length))
    fields = list(der_items(der, tbs_start + tbs_hdr, tbs_start + tbs_hdr + tbs_len))
    if der[fields[0][0]] == 0xA0:                                 # [0] version
        fields = fields[1:]
    # serial, signature, issuer, validity, subject, subjectPublicKeyInfo
    s, h, n = fields[5]
    digest = hashlib.sha256(der[s:s + h + n]).digest()
    return "sha256//" + base64.b64encode(digest).decode()


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1, encoding="utf-8", errors="backslashreplace")

    def __call__(self, conn, kind, text):
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        text = text.replace("\r", "\\r").replace("\n", "\\n")
        self.f.write("%.3f #%d %s %s\n" % (time.time(), conn, kind, text))


class Session:
    counter = 0

    def __init__(self, server, reader, writer):
        Session.counter += 1
        self.id = Session.counter
        self.srv = server
        self.mode = server.mode
        self.r = reader
        self.w = writer
        self.tls = server.implicit
        self.authed = False
        self.rcpts = []
        self.ndata = 0

    def log(self, kind, text):
        self.srv.log(self.id, kind, text)

    async def send(self, text):
        """Send reply text (lines joined by CRLF, CRLF added)."""
        data = (text + "\r\n").encode("latin-1")
        for line in text.split("\r\n"):
            self.log("S:", line)
        if self.mode == "slow":
            for i in range(len(data)):
                self.w.write(data[i:i + 1])
                await self.w.drain()
                await asyncio.sleep(self.srv.delay)
        else:
            self.w.write(data)
            await self.w.drain()

    async def recv(self):
        line = await self.r.readline()
        if not line:
            raise ConnectionError("client closed the connection")
        self.log("C:", line.rstrip(b"\r\n"))
        return line

    async def close(self, why):
        self.log("--", "closing: " + why)
        try:
            self.w.close()
            await self.w.wait_closed()
        except (ConnectionError, ssl.SSLError, OSError):
            pass

    def ehlo_lines(self):
        m = self.mode
        caps = ["PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES"]
        if m == "no8bitmime":
            caps.remove("8BITMIME")
        if not self.tls:
            if m == "authbeforetls":
                caps.append("AUTH PLAIN LOGIN")
            elif m != "nostarttls":
                caps.append("STARTTLS")
        elif m not in ("nostarttls",):
            caps.append("AUTH PLAIN LOGIN")
        if m == "manylines":
            n = max(self.srv.lines, len(caps) + 2)
            caps += ["X-FILLER-%d" % i for i in range(n - len(caps) - 1)]
        if m == "codechange":
            return "250-%s\r\n251 %s" % (HOST, " ".join(caps))
        lines = [HOST] + caps
        return "\r\n".join("250%s%s" % ("-" if i < len(lines) - 1 else " ", t)
                           for i, t in enumerate(lines))

    async def run(self):
        m = self.mode
        self.log("--", "connect %s mode %s%s" % (self.w.get_extra_info("peername"), m,
                                                  " implicit TLS" if self.tls else ""))
        if m == "421greet":
            await self.send("421 4.3.2 %s service not available" % HOST)
            return await self.close("421 at greeting")
        if m == "drop-greeting":
            return await self.close("drop before the greeting")
        if m == "badgreet":
            await self.send("554 5.3.2 %s no SMTP service here" % HOST)
        elif m == "longline":
            text = "220 %s " % HOST
            await self.send(text + "x" * (2000 - len(text)))
        else:
            await self.send("220 %s ESMTP hostile test server (%s)" % (HOST, m))
        while True:
            line = await self.recv()
            cmd = line.decode("latin-1").strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "QUIT":
                await self.send("221 2.0.0 bye")
                return await self.close("QUIT")
            if m == "badgreet":
                await self.send("503 5.5.1 no service")
                continue
            stage = {"EHLO": "ehlo", "HELO": "ehlo", "STARTTLS": "starttls",
                     "AUTH": "auth", "MAIL": "mail", "RCPT": "rcpt",
                     "DATA": "data"}.get(verb)
            if stage is not None and m == "drop-" + stage and \
                    (stage != "ehlo" or self.tls):
                # EHLO: the one after TLS, so the drop hits a verified
                # session, the case that matters for "not sent".
                return await self.close("drop at %s" % verb)
            if verb in ("EHLO", "HELO"):
                if m == "421ehlo":
                    await self.send("421 4.3.2 %s closing at EHLO" % HOST)
                    return await self.close("421 at EHLO")
                if verb == "HELO":
                    await self.send("250 %s" % HOST)
                else:
                    await self.send(self.ehlo_lines())
            elif verb == "STARTTLS":
                if self.tls or m in ("nostarttls", "authbeforetls", "strip"):
                    await self.send("502 5.5.1 STARTTLS not available")
                elif m == "starttls454":
                    await self.send("454 4.7.0 TLS not available due to temporary reason")
                else:
                    if m == "inject":
                        self.log("S:", "220 ready")
                        self.log("S:", "250 INJECTED")
                        self.w.write(b"220 ready\r\n250 INJECTED\r\n")
                        await self.w.drain()
                    else:
                        await self.send("220 2.0.0 ready to start TLS")
                    if m == "drop-tls":
                        return await self.close("drop in the TLS handshake")
                    try:
                        await self.w.start_tls(self.srv.tls_ctx)
                    except (ssl.SSLError, ConnectionError, OSError) as e:
                        return await self.close("TLS handshake failed: %s" % e)
                    self.tls = True
                    self.authed = False
                    obj = self.w.get_extra_info("ssl_object")
                    self.log("--", "TLS established: %s %s" % (obj.version(), obj.cipher()[0]))
            elif verb == "AUTH":
                await self.auth(cmd)
            elif verb == "MAIL":
                if m == "421mail":
                    await self.send("421 4.3.2 closing at MAIL")
                    return await self.close("421 at MAIL")
                self.rcpts = []
                await self.send("250 2.1.0 OK")
            elif verb == "RCPT":
                if m == "421rcpt":
                    await self.send("421 4.3.2 closing at RCPT")
                    return await self.close("421 at RCPT")
                dom = cmd.rpartition("@")[2].rstrip(">").split(">")[0].lower()
                if dom == "reject.test" or dom.endswith(".reject.test"):
                    await self.send("550 5.1.1 rejected by the reject.test rule")
                elif dom == "defer.test" or dom.endswith(".defer.test"):
                    await self.send("450 4.2.0 deferred by the defer.test rule")
                else:
                    self.rcpts.append(cmd)
                    await self.send("250 2.1.5 OK")
            elif verb == "DATA":
                if m == "421data":
                    await self.send("421 4.3.2 closing at DATA")
                    return await self.close("421 at DATA")
                if not self.rcpts:
                    await self.send("554 5.5.1 no valid recipients")
                    continue
                self.ndata += 1
                await self.send("354 go ahead, end with <CRLF>.<CRLF>")
                if m == "drop354":
                    return await self.close("drop after 354")
                body = await self.data()
                if body is None:
                    return await self.close("drop during DATA")
                if m == "drop-dot":
                    return await self.close("drop after the final dot")
                if m == "421dot":
                    await self.send("421 4.3.2 closing after the message")
                    return await self.close("421 after the final dot")
                self.store(body)
                await self.send("250 2.0.0 OK message accepted")
            elif verb in ("RSET", "NOOP"):
                await self.send("250 2.0.0 OK")
            else:
                await self.send("500 5.5.2 command not recognised")

    async def auth(self, cmd):
        parts = cmd.split()
        mech = parts[1].upper() if len(parts) > 1 else ""
        if self.mode == "endless334":
            n = 0
            while True:
                n += 1
                await self.send("334 " + base64.b64encode(b"challenge %d" % n).decode())
                if (await self.recv()).strip() == b"*":
                    return await self.send("501 5.7.0 authentication cancelled")
        if not self.tls and self.mode != "authbeforetls":
            return await self.send("530 5.7.0 Must issue a STARTTLS command first")
        try:
            if mech == "PLAIN":
                if len(parts) > 2:
                    resp = parts[2]
                else:
                    await self.send("334 ")
                    resp = (await self.recv()).strip().decode("latin-1")
                if resp == "*":
                    return await self.send("501 5.7.0 authentication cancelled")
                _, user, pw = base64.b64decode(resp, validate=True).split(b"\0", 2)
            elif mech == "LOGIN":
                if len(parts) > 2:
                    user = base64.b64decode(parts[2], validate=True)
                else:
                    await self.send("334 VXNlcm5hbWU6")
                    r = (await self.recv()).strip()
                    if r == b"*":
                        return await self.send("501 5.7.0 authentication cancelled")
                    user = base64.b64decode(r, validate=True)
                await self.send("334 UGFzc3dvcmQ6")
                r = (await self.recv()).strip()
                if r == b"*":
                    return await self.send("501 5.7.0 authentication cancelled")
                pw = base64.b64decode(r, validate=True)
            else:
                return await self.send("504 5.5.4 mechanism not supported")
        except ValueError:
            return await self.send("501 5.5.2 cannot decode the response")
        if user == self.srv.user and pw == self.srv.password:
            self.authed = True
            self.log("--", "AUTH %s accepted" % mech)
            await self.send("235 2.7.0 authentication successful")
        else:
            self.log("--", "AUTH %s refused" % mech)
            await self.send("535 5.7.8 authentication credentials invalid")

    async def data(self):
        """Read DATA up to the final dot; None if the mode drops it."""
        chunks = []
        while True:
            line = await self.r.readline()
            if not line:
                raise ConnectionError("client closed the connection during DATA")
            if line in (b".\r\n", b".\n"):
                self.log("C:", ".")
                return b"".join(chunks)
            self.log("C:", "[data %d bytes]" % len(line))
            if line.startswith(b"."):
                line = line[1:]
            chunks.append(line)
            if self.mode == "dropdata" or (self.mode == "dropthird" and
                                           self.ndata == 3):
                return None

    def store(self, body):
        md = self.srv.maildir
        if not md:
            return
        name = "%d.M%dP%d_hostile_%d" % (time.time(), time.time_ns() % 1000000,
                                         os.getpid(), self.id)
        tmp = os.path.join(md, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(body)
        os.rename(tmp, os.path.join(md, "new", name))
        self.log("--", "stored " + name)


class Server:
    def __init__(self, args):
        self.mode = args.mode
        self.implicit = args.implicit
        self.delay = args.delay
        self.lines = args.lines
        self.maildir = args.maildir
        self.log = Log(args.log)
        self.user = os.environb.get(b"SMTP_USER", b"smtpuser")
        name = os.environ.get("SMTP_PASS_FILE")
        if name:
            with open(name, "rb") as f:
                self.password = f.read()
        else:
            self.password = os.environb.get(b"SMTP_PASS", b"smtppass")
        cert = "server"
        if self.mode.startswith("cert="):
            cert = self.mode[5:]
            if cert not in CERTS:
                raise SystemExit("hostile.py: unknown certificate %r" % cert)
            self.mode = "ok"
        elif self.mode not in MODES:
            raise SystemExit("hostile.py: unknown mode %r" % self.mode)
        self.chain = os.path.join(args.pki, cert + ".chain.pem")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.chain, os.path.join(args.pki, cert + ".key"))
        ctx.num_tickets = 0
        if self.mode == "tls11":
            ctx.set_ciphers("DEFAULT@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1_1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        self.tls_ctx = ctx
        if self.maildir:
            for sub in ("new", "cur", "tmp"):
                os.makedirs(os.path.join(self.maildir, sub), exist_ok=True)

    async def handle(self, reader, writer):
        s = Session(self, reader, writer)
        try:
            await s.run()
        except (ConnectionError, ssl.SSLError, OSError, asyncio.IncompleteReadError) as e:
            s.log("--", "connection ended: %s" % (e or type(e).__name__))
            await s.close("error")
        except (asyncio.LimitOverrunError, ValueError):
            s.log("--", "line longer than 1 MiB")
            await s.close("line too long")

    async def main(self, port_file, pin_file):
        server = await asyncio.start_server(
            self.handle, "127.0.0.1", 0, family=socket.AF_INET, limit=1 << 20,
            ssl=self.tls_ctx if self.implicit else None)
        port = server.sockets[0].getsockname()[1]
        if pin_file:
            with open(pin_file, "w") as f:
                f.write(spki_pin(self.chain) + "\n")
        with open(port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(port_file + ".tmp", port_file)
        self.log(0, "--", "listening on 127.0.0.1:%d mode %s%s" % (
            port, self.mode, " implicit TLS" if self.implicit else ""))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        server.close()
        self.log(0, "--", "stopped")


def main():
    ap = argparse.ArgumentParser(
        description="scripted misbehaving SMTP server",
        epilog="modes: " + " ".join(sorted(MODES)) + " cert=" + "|".join(sorted(CERTS)))
    ap.add_argument("--mode", required=True)
    ap.add_argument("--pki", required=True, help="the folder pki.sh made")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--implicit", action="store_true", help="TLS on connect (SMTPS)")
    ap.add_argument("--maildir")
    ap.add_argument("--pin-file")
    ap.add_argument("--delay", type=float, default=1.0, help="seconds per byte (slow)")
    ap.add_argument("--lines", type=int, default=100, help="EHLO lines (manylines)")
    args = ap.parse_args()
    asyncio.run(Server(args).main(args.port_file, args.pin_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
