#!/usr/bin/python3
"""Misbehaving clients of smtpcredd's socket (issue 13).

  wire-abuse.py SOCKET

Each case connects, misbehaves, and expects the broker to answer with a
result frame naming the right error (or to close), never to hang or die.
Runs as root, so the access lists allow it: the cases that get as far as
the data never complete a message, and nothing may be sent.  Prints one
line per case; exit 0 when every case got what it should.
"""
import socket
import struct
import sys
import time

SOCK = sys.argv[1]
ok = True


def frame(t, payload=b""):
    return bytes([ord(t)]) + struct.pack(">I", len(payload)) + payload


def kv(**fields):
    out = b""
    for k, v in fields.items():
        for one in (v if isinstance(v, list) else [v]):
            out += k.encode() + b"=" + str(one).encode() + b"\n"
    return out


def read_frame(s):
    h = b""
    while len(h) < 5:
        c = s.recv(5 - len(h))
        if not c:
            return None, None
        h += c
    n = struct.unpack(">I", h[1:])[0]
    body = b""
    while len(body) < n:
        c = s.recv(n - len(body))
        if not c:
            return None, None
        body += c
    return chr(h[0]), body


def result_of(s):
    """The code of the result frame the broker sends, skipping others."""
    while True:
        t, body = read_frame(s)
        if t is None:
            return None
        if t == "S":
            for line in body.decode().splitlines():
                if line.startswith("code="):
                    return int(line[5:])
            return "no code"


def case(name, send, want, go_first=False, then=None):
    global ok
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(SOCK)
    t0 = time.monotonic()
    try:
        s.sendall(send)
        if go_first:
            t, _ = read_frame(s)
            if t != "K":
                got = "no go-ahead (%s)" % t
                raise RuntimeError(got)
            if then:
                s.sendall(then)
        got = result_of(s)
    except (RuntimeError, OSError) as e:
        got = str(e)
    finally:
        s.close()
    good = got == want
    ok = ok and good
    print("%s: %s: got %s, wanted %s (%.1f s)" % (
        "ok" if good else "FAIL", name, got, want, time.monotonic() - t0))


GOOD = dict(version=1, op="send", account="alerts", purpose="abuse",
            **{"from": "a@test.example"}, rcpt="b@example.org", size=20)

case("plain text instead of a frame", b"hello broker\r\n", -11)
case("a frame over 64 KiB", struct.pack(">cI", b"R", 1 << 20), -11)
case("data before a request", frame("D", b"x"), -7)
case("a line without '='", frame("R", b"version=1\nop=send\ngarbage\n"), -2)
case("a bad escape", frame("R", b"version=1\nop=send\naccount=%zz\n"), -2)
case("an unknown protocol version", frame("R", kv(**{**GOOD, "version": 9})), -2)
case("an unknown operation", frame("R", kv(**{**GOOD, "op": "rotate"})), -2)
case("no recipients", frame("R", kv(**{k: v for k, v in GOOD.items() if k != "rcpt"})), -2)
case("1001 recipients", frame("R", kv(**{**GOOD, "rcpt": ["r%d@example.org" % i for i in range(1001)]})), -2)
case("not an account name", frame("R", kv(**{**GOOD, "account": "../etc"})), -2)
case("more data than announced", frame("R", kv(**GOOD)), -11, go_first=True,
     then=frame("D", b"Subject: x\r\n\r\n" + b"y" * 100 + b"\r\n"))
case("less data than announced", frame("R", kv(**GOOD)), -7, go_first=True,
     then=frame("D", b"Subject: x\r\n") + frame("E", b"size=12\n"))
# Gone in the middle of the message: nothing to answer, nothing sent.
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(SOCK)
s.sendall(frame("R", kv(**GOOD)))
read_frame(s)
s.sendall(frame("D", b"Subject: half\r\n"))
s.close()
# Silent until the broker gives up is 30 s: connect and go instead.
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(SOCK)
s.close()
print("ok: two clients left half-way" if ok else "")
sys.exit(0 if ok else 1)
