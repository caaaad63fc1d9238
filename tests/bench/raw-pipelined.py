#!/usr/bin/python3
"""The ceiling for workload (a): a bare client that does nothing but push
pre-built 2 KiB messages through one STARTTLS + AUTH PLAIN connection, as
pipelined as SMTP allows.  Not a product, only a yardstick: no parsing
beyond reply codes, no message building, password on the command line.

  raw-pipelined.py PORT N MODE CA USER PASSWORD
    MODE data: each message's MAIL/RCPT/DATA ride behind the previous dot
    MODE bdat: CHUNKING, up to 32 whole messages in flight
Prints the elapsed seconds.
"""
import base64
import socket
import ssl
import sys
import time


def reply(f):
    while True:
        line = f.readline()
        if not line:
            raise SystemExit("connection closed")
        if line[3:4] != b"-":
            return line


def main():
    port, n, mode, ca, user, pw = (int(sys.argv[1]), int(sys.argv[2]),
                                   sys.argv[3], sys.argv[4], sys.argv[5],
                                   sys.argv[6])
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")
    reply(f)
    s.sendall(b"EHLO bench\r\n")
    reply(f)
    s.sendall(b"STARTTLS\r\n")
    reply(f)
    t = ssl.create_default_context(cafile=ca).wrap_socket(
        s, server_hostname="localhost")
    f = t.makefile("rb")
    t.sendall(b"EHLO bench\r\n")
    reply(f)
    t.sendall(b"AUTH PLAIN " + base64.b64encode(
        b"\0" + user.encode() + b"\0" + pw.encode()) + b"\r\n")
    if not reply(f).startswith(b"235"):
        raise SystemExit("AUTH refused")
    body = (b"From: %s\r\nTo: sink@example.org\r\nSubject: bench\r\n\r\n"
            % user.encode() + (b"a" * 75 + b"\r\n") * 26)
    env = b"MAIL FROM:<%s>\r\nRCPT TO:<sink@example.org>\r\n" % user.encode()
    t0 = time.monotonic()
    if mode == "bdat":
        sent = done = 0
        while done < n:
            while sent < n and sent - done < 32:
                t.sendall(env + b"BDAT %d LAST\r\n" % len(body) + body)
                sent += 1
            for _ in range(3):
                reply(f)
            done += 1
    else:
        t.sendall(env + b"DATA\r\n")
        for _ in range(3):
            reply(f)
        for i in range(n):
            more = i < n - 1
            t.sendall(body + b".\r\n" + (env + b"DATA\r\n" if more else b""))
            reply(f)
            for _ in range(3 if more else 0):
                reply(f)
    print("%.3f" % (time.monotonic() - t0))


main()
