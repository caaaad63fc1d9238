#!/usr/bin/python3
# Lock or unlock the default collection of the Secret Service on the
# session bus, without any prompt a human would have to answer (tests
# only).  The provider is $SMTPCRED_TEST_SS (tests/helpers/ss-provider.sh):
# gnome-keyring (default), keepassxc or kwallet.
#
#   keyring-ctl.py lock
#   keyring-ctl.py unlock [PASSWORD]     (default $KEYRING_PASSWORD)
#   keyring-ctl.py status                prints "locked" or "unlocked"
#   keyring-ctl.py open                  kwallet only: pamOpen the wallet
#                                        (creates it when missing)
#
# How each provider is unlocked with no dialog
# (tests/helpers/secret-service/README.md has the evidence):
#  - gnome-keyring: its private interface (the one seahorse uses), on a
#    "plain" session opened on the same connection;
#  - KeePassXC: its own org.keepassxc.KeePassXC.MainWindow.openDatabase
#    (file, password).  Its Service.Unlock prompt opens an invisible
#    dialog and never completes headless, so it is never Prompt()ed here;
#  - KWallet: org.kde.KWallet.pamOpen(wallet, PBKDF2 hash, timeout) opens
#    the wallet (what pam_kwallet does at login), then Service.Unlock's
#    Prompt completes with no UI because the wallet is already open.
# The password crosses the bus: test databases and wallets only.
import hashlib
import os
import sys
import time

import dbus

BUS_NAME = "org.freedesktop.secrets"
SERVICE = "/org/freedesktop/secrets"
SECRET_IF = "org.freedesktop.Secret.Service"
PROMPT_IF = "org.freedesktop.Secret.Prompt"
PROPS_IF = "org.freedesktop.DBus.Properties"
INTERNAL_IF = "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"
PROVIDER = os.environ.get("SMTPCRED_TEST_SS", "gnome-keyring")
WALLET = "kdewallet"


def default_collection(bus):
    svc = dbus.Interface(bus.get_object(BUS_NAME, SERVICE), SECRET_IF)
    path = svc.ReadAlias("default")
    if path == "/":
        sys.exit("keyring-ctl: no default collection")
    return svc, path


def is_locked(bus, path):
    coll = bus.get_object(BUS_NAME, path)
    return bool(coll.Get("org.freedesktop.Secret.Collection", "Locked",
                         dbus_interface=PROPS_IF))


def wait_locked(bus, path, want, what):
    """The prompts here complete with no UI, but their Completed signal
    needs a main loop: poll the Locked property instead (5 s)."""
    for _ in range(100):
        if is_locked(bus, path) == want:
            return
        time.sleep(0.05)
    sys.exit("keyring-ctl: %s: the collection did not become %s" %
             (what, "locked" if want else "unlocked"))


def run_prompt(bus, prompt):
    if prompt != "/":
        dbus.Interface(bus.get_object(BUS_NAME, prompt), PROMPT_IF).Prompt("")


def lock(bus):
    svc, path = default_collection(bus)
    _, prompt = svc.Lock([path])
    if prompt != "/" and PROVIDER == "gnome-keyring":
        sys.exit("keyring-ctl: locking asked for a prompt")
    # KeePassXC answers Lock with a prompt that completes with no UI.
    run_prompt(bus, prompt)
    wait_locked(bus, path, True, "lock")


def kwallet_open(bus, password):
    """pamOpen with the hash kwalletd derives from a typed password:
    PBKDF2-HMAC-SHA512(password, the wallet's 56-byte salt, 50000, 56)
    (other lengths are silently ignored).  No reply: poll isOpen."""
    data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser(
        "~/.local/share")
    salt_path = os.path.join(data, "kwalletd", WALLET + ".salt")
    if not os.path.exists(salt_path) or os.path.getsize(salt_path) == 0:
        with open(salt_path, "wb") as f:
            f.write(os.urandom(56))
    with open(salt_path, "rb") as f:
        salt = f.read()
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 50000, 56)
    kw = dbus.Interface(bus.get_object("org.kde.kwalletd5",
                                       "/modules/kwalletd5"),
                        "org.kde.KWallet")
    if kw.isOpen(WALLET, signature="s"):
        return
    kw.pamOpen(WALLET, dbus.ByteArray(key), 0, signature="sayi",
               ignore_reply=True)
    for _ in range(100):
        if kw.isOpen(WALLET, signature="s"):
            return
        time.sleep(0.05)
    sys.exit("keyring-ctl: pamOpen did not open the wallet")


def unlock(bus, password):
    svc, path = default_collection(bus)
    if PROVIDER == "keepassxc":
        db = os.environ["WK_KPXC_DB"]
        mw = dbus.Interface(bus.get_object("org.keepassxc.KeePassXC.MainWindow",
                                           "/keepassxc"),
                            "org.keepassxc.KeePassXC.MainWindow")
        mw.openDatabase(db, password, signature="ss")
        wait_locked(bus, path, False, "unlock")
        return
    if PROVIDER == "kwallet":
        kwallet_open(bus, password)
        _, prompt = svc.Unlock([path])
        run_prompt(bus, prompt)
        wait_locked(bus, path, False, "unlock")
        return
    _, session = svc.OpenSession("plain", dbus.String("", variant_level=1))
    internal = dbus.Interface(bus.get_object(BUS_NAME, SERVICE), INTERNAL_IF)
    secret = dbus.Struct((session, dbus.ByteArray(b""),
                          dbus.ByteArray(password.encode()), "text/plain"))
    internal.UnlockWithMasterPassword(path, secret)


def main():
    cmds = ("lock", "unlock", "status", "open")
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit("usage: keyring-ctl.py lock | unlock [PASSWORD] | status"
                 " | open [PASSWORD]")
    bus = dbus.SessionBus()
    password = sys.argv[2] if len(sys.argv) > 2 else os.environ.get(
        "KEYRING_PASSWORD", "test")
    if sys.argv[1] == "open":
        kwallet_open(bus, password)
        return
    if sys.argv[1] == "status":
        _, path = default_collection(bus)
        print("locked" if is_locked(bus, path) else "unlocked")
        return
    if sys.argv[1] == "lock":
        lock(bus)
        return
    unlock(bus, password)


if __name__ == "__main__":
    main()
