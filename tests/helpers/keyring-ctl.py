#!/usr/bin/python3
# Lock or unlock the default collection of the gnome-keyring on the
# session bus, without any prompt (tests only).
#
#   keyring-ctl.py lock
#   keyring-ctl.py unlock [PASSWORD]     (default $KEYRING_PASSWORD)
#   keyring-ctl.py status                prints "locked" or "unlocked"
#
# Unlocking uses gnome-keyring's private interface (the one seahorse uses);
# it needs a "plain" session opened on the same connection.
import os
import sys

import dbus

BUS_NAME = "org.freedesktop.secrets"
SERVICE = "/org/freedesktop/secrets"
SECRET_IF = "org.freedesktop.Secret.Service"
PROPS_IF = "org.freedesktop.DBus.Properties"
INTERNAL_IF = "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"


def default_collection(bus):
    svc = dbus.Interface(bus.get_object(BUS_NAME, SERVICE), SECRET_IF)
    path = svc.ReadAlias("default")
    if path == "/":
        sys.exit("keyring-ctl: no default collection")
    return svc, path


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("lock", "unlock", "status"):
        sys.exit("usage: keyring-ctl.py lock | unlock [PASSWORD] | status")
    bus = dbus.SessionBus()
    svc, path = default_collection(bus)
    coll = bus.get_object(BUS_NAME, path)
    if sys.argv[1] == "status":
        locked = coll.Get("org.freedesktop.Secret.Collection", "Locked",
                          dbus_interface=PROPS_IF)
        print("locked" if locked else "unlocked")
        return
    if sys.argv[1] == "lock":
        _, prompt = svc.Lock([path])
        if prompt != "/":
            sys.exit("keyring-ctl: locking asked for a prompt")
        return
    password = sys.argv[2] if len(sys.argv) > 2 else os.environ.get(
        "KEYRING_PASSWORD", "test")
    _, session = svc.OpenSession("plain", dbus.String("", variant_level=1))
    internal = dbus.Interface(bus.get_object(BUS_NAME, SERVICE), INTERNAL_IF)
    secret = dbus.Struct((session, dbus.ByteArray(b""),
                          dbus.ByteArray(password.encode()), "text/plain"))
    internal.UnlockWithMasterPassword(path, secret)


if __name__ == "__main__":
    main()
