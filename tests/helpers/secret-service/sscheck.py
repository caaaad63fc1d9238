#!/usr/bin/python3
"""Probe an org.freedesktop.secrets (Secret Service API) provider on the
current session bus (DBUS_SESSION_BUS_ADDRESS).

Needs Debian's python3-dbus, python3-gi (GLib main loop for signals) and
python3-cryptography (AES for the DH session); run with /usr/bin/python3.

What it checks, each step timed:
  * who owns org.freedesktop.secrets (pid, exe, cmdline)
  * Service.Collections, ReadAlias("default") and the default collection's
    Label/Locked
  * OpenSession("plain") and OpenSession("dh-ietf1024-sha256-aes128-cbc-pkcs7")
    with a real DH exchange: the canary secret (stored by secret-tool) is read
    back through the encrypted session and decrypted locally
  * CreateItem with a DH-encrypted secret, read back over a plain session
  * ItemCreated / ItemChanged / ItemDeleted (+ PropertiesChanged,
    CollectionChanged) signals while creating, changing (SetSecret, Label) and
    deleting an item
  * Service.Lock, the Locked property, SearchItems while locked, an
    out-of-band unlock (--pre-unlock-cmd, a shell command) followed by
    Service.Unlock (+ Prompt if one is returned), Lock again, and with
    --headless-prompt-test an Unlock whose Prompt has no out-of-band help
    (waits --prompt-timeout seconds, then Dismiss)
  Exit status 0 when the must-have checks (canary via DH session, DH create)
  pass.
"""
import argparse
import hashlib
import hmac
import os
import secrets
import subprocess
import sys
import time

import dbus
import dbus.mainloop.glib
from gi.repository import GLib
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BUS = "org.freedesktop.secrets"
SPATH = "/org/freedesktop/secrets"
SI = "org.freedesktop.Secret.Service"
CI = "org.freedesktop.Secret.Collection"
II = "org.freedesktop.Secret.Item"
PI = "org.freedesktop.Secret.Prompt"
PROPS = "org.freedesktop.DBus.Properties"
DH_ALGO = "dh-ietf1024-sha256-aes128-cbc-pkcs7"

# RFC 2409 section 6.2, Second Oakley Group (1024-bit MODP), generator 2:
# the group the Secret Service spec names for dh-ietf1024-*.
P1024 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF", 16)

RESULTS = []


def log(msg):
    print(msg, flush=True)


def record(name, ok, detail="", t=None):
    RESULTS.append((name, ok, detail))
    tt = "" if t is None else " (%.3fs)" % t
    log("[%s] %s%s: %s" % ("PASS" if ok is True else "FAIL" if ok is False else "INFO", name, tt, detail))


def i2b(n):
    return n.to_bytes((n.bit_length() + 7) // 8 or 1, "big")


def pump(seconds):
    """Run the GLib main loop for a while so queued signals get dispatched."""
    ctx = GLib.MainContext.default()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not ctx.iteration(False):
            time.sleep(0.01)


class DHSession:
    def __init__(self, bus, service):
        self.priv = secrets.randbits(1024) % (P1024 - 2) + 1
        pub = pow(2, self.priv, P1024)
        out, self.path = service.OpenSession(DH_ALGO, dbus.ByteArray(i2b(pub)), dbus_interface=SI)
        server_pub = int.from_bytes(bytes(out), "big")
        shared = i2b(pow(server_pub, self.priv, P1024)).rjust(128, b"\0")
        # HKDF-SHA256, no salt (= 32 zero bytes), empty info, 16-byte output
        prk = hmac.new(b"\0" * 32, shared, hashlib.sha256).digest()
        self.key = hmac.new(prk, b"\x01", hashlib.sha256).digest()[:16]
        self.server_pub_len = len(bytes(out))

    def decrypt(self, iv, ct):
        d = Cipher(algorithms.AES(self.key), modes.CBC(bytes(iv))).decryptor()
        padded = d.update(bytes(ct)) + d.finalize()
        u = padding.PKCS7(128).unpadder()
        return u.update(padded) + u.finalize()

    def encrypt(self, data):
        iv = os.urandom(16)
        p = padding.PKCS7(128).padder()
        padded = p.update(data) + p.finalize()
        e = Cipher(algorithms.AES(self.key), modes.CBC(iv)).encryptor()
        return iv, e.update(padded) + e.finalize()

    def secret(self, data, content_type="text/plain"):
        iv, ct = self.encrypt(data)
        return dbus.Struct((self.path, dbus.ByteArray(iv), dbus.ByteArray(ct), content_type),
                           signature="oayays")


def timed(fn, *a, **kw):
    t = time.monotonic()
    r = fn(*a, **kw)
    return r, time.monotonic() - t


def run_prompt(bus, prompt_path, timeout, helper=""):
    """Call Prompt.Prompt("") and wait for Completed; optionally run a shell
    command (helper) 1 s after calling Prompt.  Dismiss the prompt if it has
    not completed within timeout.  Returns (completed, dismissed, result)."""
    if prompt_path == "/":
        return True, False, None
    done = {}

    def on_completed(dismissed, result):
        done["v"] = (bool(dismissed), result)

    obj = bus.get_object(BUS, prompt_path)
    m = bus.add_signal_receiver(on_completed, "Completed", PI, BUS, prompt_path)
    try:
        obj.Prompt("", dbus_interface=PI)
        if helper:
            pump(1.0)
            log("  running prompt helper: %s -> rc=%d" % (helper, subprocess.call(helper, shell=True)))
        end = time.monotonic() + timeout
        while "v" not in done and time.monotonic() < end:
            pump(0.1)
        if "v" in done:
            return True, done["v"][0], done["v"][1]
        try:
            obj.Dismiss(dbus_interface=PI)
            pump(0.5)
        except dbus.DBusException as e:
            log("  Dismiss failed: %s" % e)
        return False, done.get("v", (None,))[0], None
    finally:
        m.remove()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attr", nargs=2, action="append", default=[], metavar=("K", "V"),
                    help="attributes of the canary item stored by secret-tool")
    ap.add_argument("--canary", default="", help="expected canary secret")
    ap.add_argument("--prompt-timeout", type=float, default=5.0)
    ap.add_argument("--pre-unlock-cmd", default="",
                    help="shell command that unlocks out of band, run after Lock and before Unlock")
    ap.add_argument("--headless-prompt-test", action="store_true",
                    help="finally call Unlock+Prompt with no out-of-band help (may wedge the provider)")
    ap.add_argument("--skip-lock", action="store_true")
    ap.add_argument("--unlock-only", action="store_true",
                    help="only Unlock the default collection (answering a Prompt if returned) and exit")
    args = ap.parse_args()

    t0 = time.monotonic()
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    dbo = bus.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus")
    dbi = dbus.Interface(dbo, "org.freedesktop.DBus")

    # ---- identity: the spec has no name/version property; ask the bus
    owner = dbi.GetNameOwner(BUS)
    pid = int(dbi.GetConnectionUnixProcessID(BUS))
    exe = os.readlink("/proc/%d/exe" % pid)
    cmdline = open("/proc/%d/cmdline" % pid, "rb").read().replace(b"\0", b" ").decode().strip()
    other = sorted(str(n) for n in dbi.ListNames()
                   if not str(n).startswith(":") and dbi.GetNameOwner(n) == owner)
    record("owner", None, "unique=%s pid=%d exe=%s cmdline=%r names=%s" % (owner, pid, exe, cmdline, other))

    # ---- signals: register receivers before doing anything
    sigs = []

    def sig_handler(*a, **kw):
        if kw.get("member") in ("Completed",):
            return
        sigs.append("%s@%s%s" % (kw.get("member"), kw.get("path"),
                                 [str(x) for x in a][:1] if kw.get("member") != "PropertiesChanged"
                                 else [str(a[0]), sorted(str(k) for k in a[1])]))

    # one receiver for every signal the provider sends; record (member, path, args)
    bus.add_signal_receiver(sig_handler, None, None, BUS, None,
                            member_keyword="member", path_keyword="path")

    svc = bus.get_object(BUS, SPATH)
    sprops = dbus.Interface(svc, PROPS)
    if args.unlock_only:
        path = str(svc.ReadAlias("default", dbus_interface=SI))
        (objs, prompt), t = timed(svc.Unlock, [path], dbus_interface=SI)
        c, dis, res = run_prompt(bus, prompt, args.prompt_timeout)
        locked = bool(bus.get_object(BUS, path).Get(CI, "Locked", dbus_interface=PROPS))
        record("Unlock(%s)" % path, not locked, "unlocked=%s prompt=%s completed=%s dismissed=%s Locked=%s" % (
            [str(x) for x in objs], prompt, c, dis, locked), time.monotonic() - t0)
        return 0 if not locked else 1
    colls = [str(c) for c in sprops.Get(SI, "Collections")]
    record("Service.Collections", None, colls)
    default, t = timed(svc.ReadAlias, "default", dbus_interface=SI)
    default = str(default)
    record("ReadAlias(default)", default != "/", default, t)
    for alias in ("session", "login"):
        try:
            record("ReadAlias(%s)" % alias, None, str(svc.ReadAlias(alias, dbus_interface=SI)))
        except dbus.DBusException as e:
            record("ReadAlias(%s)" % alias, None, "error %s: %s" % (e.get_dbus_name(), e.get_dbus_message()))
    coll_path = default if default != "/" else (colls[0] if colls else None)
    if not coll_path:
        record("collection", False, "no collection at all")
        return 1
    coll = bus.get_object(BUS, coll_path)
    cprops = dbus.Interface(coll, PROPS)
    record("default collection", None, "path=%s Label=%r Locked=%s" % (
        coll_path, str(cprops.Get(CI, "Label")), bool(cprops.Get(CI, "Locked"))))

    # ---- sessions
    try:
        (_, plain_path), t = timed(svc.OpenSession, "plain", dbus.String("", variant_level=1), dbus_interface=SI)
        record("OpenSession(plain)", True, str(plain_path), t)
    except dbus.DBusException as e:
        plain_path = None
        record("OpenSession(plain)", False, "%s: %s" % (e.get_dbus_name(), e.get_dbus_message()))
    try:
        dh, t = timed(DHSession, bus, svc)
        record("OpenSession(%s)" % DH_ALGO, True, "%s server-pubkey=%d bytes" % (dh.path, dh.server_pub_len), t)
    except dbus.DBusException as e:
        dh = None
        record("OpenSession(%s)" % DH_ALGO, False, "%s: %s" % (e.get_dbus_name(), e.get_dbus_message()))
    try:
        svc.OpenSession("dh-ietf1024-sha256-aes128-cbc-pkcs7-bogus", dbus.String("", variant_level=1),
                        dbus_interface=SI)
        record("OpenSession(unknown algo)", None, "accepted?!")
    except dbus.DBusException as e:
        record("OpenSession(unknown algo)", None, "rejected: %s" % e.get_dbus_name())

    # ---- canary through the DH session
    attrs = dbus.Dictionary({k: v for k, v in args.attr}, signature="ss")
    (unlocked, locked), t = timed(svc.SearchItems, attrs, dbus_interface=SI)
    record("Service.SearchItems(canary)", len(unlocked) == 1, "unlocked=%s locked=%s" % (
        [str(x) for x in unlocked], [str(x) for x in locked]), t)
    if dh and unlocked:
        sec, t = timed(svc.GetSecrets, unlocked, dh.path, dbus_interface=SI)
        _, iv, ct, ctype = list(sec.values())[0]
        val = dh.decrypt(iv, ct).decode()
        record("GetSecrets via DH + local AES decrypt", val == args.canary,
               "got %r content_type=%r iv=%d bytes ct=%d bytes" % (val, str(ctype), len(iv), len(ct)), t)
    if plain_path and unlocked:
        item = bus.get_object(BUS, unlocked[0])
        s, t = timed(item.GetSecret, plain_path, dbus_interface=II)
        record("Item.GetSecret via plain", bytes(s[2]).decode() == args.canary, repr(bytes(s[2]).decode()), t)

    # ---- create/change/delete with signals
    if dh:
        pump(0.5)
        sigs.clear()
        props = dbus.Dictionary({
            II + ".Label": dbus.String("sscheck item", variant_level=1),
            II + ".Attributes": dbus.Dictionary({"sscheck": "1"}, signature="ss", variant_level=1),
        }, signature="sv")
        try:
            (item_path, prompt), t = timed(coll.CreateItem, props, dh.secret(b"dh-created"), True,
                                           dbus_interface=CI)
            record("CreateItem call", None, "item=%s prompt=%s" % (item_path, prompt), t)
            if str(item_path) == "/" and str(prompt) != "/":
                c, dis, res = run_prompt(bus, prompt, args.prompt_timeout)
                record("CreateItem prompt", c and not dis, "completed=%s dismissed=%s result=%s" % (c, dis, res))
                item_path = res if res else "/"
            record("CreateItem(DH secret)", str(item_path) != "/", "item=%s" % item_path)
            pump(1.0)
            record("signals after CreateItem", None, sigs[:])
            sigs.clear()
            item = bus.get_object(BUS, item_path)
            s = item.GetSecret(plain_path or dh.path, dbus_interface=II)
            got = bytes(s[2]) if plain_path else dh.decrypt(s[1], s[2])
            record("read back DH-created item", got == b"dh-created", repr(got))
            item.SetSecret(dh.secret(b"dh-changed"), dbus_interface=II)
            pump(1.0)
            record("signals after Item.SetSecret", None, sigs[:])
            sigs.clear()
            dbus.Interface(item, PROPS).Set(II, "Label", dbus.String("sscheck relabeled", variant_level=1))
            pump(1.0)
            record("signals after Set(Label)", None, sigs[:])
            sigs.clear()
            prompt, t = timed(item.Delete, dbus_interface=II)
            record("Item.Delete", None, "prompt=%s" % prompt, t)
            if str(prompt) != "/":
                c, dis, res = run_prompt(bus, prompt, args.prompt_timeout)
                record("Item.Delete prompt", c and not dis, "completed=%s dismissed=%s" % (c, dis))
            pump(1.0)
            record("signals after Item.Delete", None, sigs[:])
            sigs.clear()
        except dbus.DBusException as e:
            record("create/change/delete", False, "%s: %s" % (e.get_dbus_name(), e.get_dbus_message()))

    # ---- lock / unlock / prompt
    # Order matters: the positive path first, the headless-prompt test last,
    # because an Unlock prompt that pops a (invisible) dialog can wedge the
    # provider (KeePassXC then refuses Lock, kwalletd stays inside its modal
    # password dialog).
    def locked_now():
        return bool(cprops.Get(CI, "Locked"))

    def do_lock(tag):
        (objs, prompt), t = timed(svc.Lock, [coll_path], dbus_interface=SI)
        detail = "locked=%s prompt=%s" % ([str(x) for x in objs], prompt)
        if str(prompt) != "/":
            c, dis, res = run_prompt(bus, prompt, args.prompt_timeout)
            detail += " prompt-completed=%s dismissed=%s result=%s" % (
                c, dis, [str(x) for x in res] if res is not None else None)
        pump(0.5)
        record("Service.Lock (%s)" % tag, locked_now(), detail + " -> Locked=%s" % locked_now(), t)

    def do_unlock(tag, expect=True):
        (objs, prompt), t = timed(svc.Unlock, [coll_path], dbus_interface=SI)
        detail = "unlocked=%s prompt=%s" % ([str(x) for x in objs], prompt)
        if str(prompt) != "/":
            t0 = time.monotonic()
            c, dis, res = run_prompt(bus, prompt, args.prompt_timeout)
            detail += " prompt-completed=%s dismissed=%s result=%s after %.1fs" % (
                c, dis, [str(x) for x in res] if res is not None else None, time.monotonic() - t0)
        pump(0.5)
        record("Service.Unlock (%s)" % tag, (not locked_now()) if expect else None,
               detail + " -> Locked=%s" % locked_now(), t)

    def shell(tag, cmd):
        t0 = time.monotonic()
        rc = subprocess.call(cmd, shell=True)
        pump(0.5)
        record(tag, rc == 0, "rc=%d Locked=%s" % (rc, locked_now()), time.monotonic() - t0)

    if not args.skip_lock:
        try:
            pump(0.5)
            sigs.clear()
            do_lock("1")
            record("signals after Lock", None, sigs[:])
            sigs.clear()
            (u, l), t = timed(svc.SearchItems, attrs, dbus_interface=SI)
            record("SearchItems while locked", None, "unlocked=%s locked=%s" % (
                [str(x) for x in u], [str(x) for x in l]), t)
            if args.pre_unlock_cmd:
                shell("out-of-band unlock before Unlock (--pre-unlock-cmd)", args.pre_unlock_cmd)
            do_unlock("1, after --pre-unlock-cmd" if args.pre_unlock_cmd else "1")
            record("signals during unlock", None, sigs[:])
            sigs.clear()
            if not locked_now():
                (u, l), t = timed(svc.SearchItems, attrs, dbus_interface=SI)
                record("SearchItems after unlock", len(u) == 1, "unlocked=%s locked=%s" % (
                    [str(x) for x in u], [str(x) for x in l]), t)
            do_lock("2, re-lockable")
            if args.headless_prompt_test:
                # negative test: nothing unlocks out of band, the provider must
                # ask a human -> the prompt cannot complete headless
                do_unlock("3, no out-of-band help: headless prompt test", expect=False)
                if locked_now() and args.pre_unlock_cmd:
                    t0 = time.monotonic()
                    rc = subprocess.call(args.pre_unlock_cmd, shell=True)
                    pump(0.5)
                    record("recovery: --pre-unlock-cmd after the failed prompt", None,
                           "rc=%d Locked=%s" % (rc, locked_now()), time.monotonic() - t0)
                    do_unlock("4, recovery after the failed prompt", expect=False)
        except dbus.DBusException as e:
            record("lock/unlock", False, "%s: %s" % (e.get_dbus_name(), e.get_dbus_message()))

    # ---- must-haves
    must = [r for r in RESULTS if r[0].startswith(("GetSecrets via DH", "CreateItem(DH", "read back DH"))]
    ok = bool(must) and all(r[1] for r in must)
    log("SSCHECK %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
