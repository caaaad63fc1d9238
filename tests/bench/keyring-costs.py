#!/usr/bin/python3
"""What the Secret Service itself costs a sender, measured on one warm
connection to the session bus (tests/bench/inner.sh runs it):

  OpenSession with dh-ietf1024-sha256-aes128-cbc-pkcs7 (the encrypted
  transfer session every fresh smtpsend process opens; the service does
  its half of the Diffie-Hellman exchange, serially with every other call
  it answers) against OpenSession "plain" (no key exchange: the bare round
  trip through dbus-daemon to the service).

  keyring-costs.py N   -> prints "dh MEDIAN plain MEDIAN" in milliseconds
"""
import sys
import time

from gi.repository import Gio, GLib

SERVICE = "org.freedesktop.secrets"
ALG = "dh-ietf1024-sha256-aes128-cbc-pkcs7"


def open_close(bus, alg, arg):
    t0 = time.perf_counter()
    reply = bus.call_sync(SERVICE, "/org/freedesktop/secrets",
                          "org.freedesktop.Secret.Service", "OpenSession",
                          GLib.Variant("(sv)", (alg, arg)), None, 0, -1, None)
    elapsed = time.perf_counter() - t0
    bus.call_sync(SERVICE, reply.unpack()[1], "org.freedesktop.Secret.Session",
                  "Close", None, None, 0, -1, None)
    return elapsed * 1000


def main():
    n = int(sys.argv[1])
    bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
    # any valid public value does for timing the service's side: g^1
    pub = GLib.Variant("ay", bytes(127) + b"\x02")
    plain = GLib.Variant("s", "")
    dh, pl = [], []
    for _ in range(n):      # interleaved, so both see the same machine
        dh.append(open_close(bus, ALG, pub))
        pl.append(open_close(bus, "plain", plain))
    dh.sort()
    pl.sort()
    print("dh %.2f plain %.2f" % (dh[n // 2], pl[n // 2]))


main()
