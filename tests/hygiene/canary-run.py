#!/usr/bin/python3
"""The canary across a whole test run (issue 6).

Every test that handles a password uses a canary, "CANARY-s3cr3t-<test>".
This looks for any of them where a password must never be, over the
whole run of the integration suite rather than test by test:

  canary-run.py watch HITS_FILE
      Until SIGTERM (root): read /proc/PID/cmdline and /proc/PID/environ
      of every process as it execs (the kernel's process-event connector)
      and of every process every 50 ms; write one line per hit (the
      canary masked) and, at the end, "# seen N processes, E exec events,
      S sweeps".

  canary-run.py plant DIR
      With the watcher running: start two short processes with the
      canary "CANARY-s3cr3t-watcher-selftest" in their environment and
      argv, and write it into DIR/canary-selftest/ in each form.  The
      report requires the watcher and the file scan to find exactly those
      (so a scan that sees nothing fails), and counts nothing else.

  canary-run.py report HITS_FILE ROOT...
      Print TAP: the watcher's hits, then every regular file under each
      ROOT (the run's temporary trees, kept with KEEP_TEST_FILES=1, and
      the meson logs) searched for the canary in plain text, UTF-16 and
      base64 at each of the three alignments (which covers AUTH PLAIN's
      "\\0user\\0password" and AUTH LOGIN).  A directory may hold a file
      ".canary-exempt" with lines "GLOB<TAB>REASON" for files that hold
      the password by design (a test server's user database, a test's
      own input file); those are skipped, and listed with the reason.
"""
import base64
import errno
import fnmatch
import os
import signal
import socket
import struct
import sys
import time

PREFIX = b"CANARY-s3cr3t-"
SELFTEST = PREFIX + b"watcher-selftest"


def forms():
    """Byte patterns that betray any canary."""
    out = {"plain": PREFIX,
           "utf-16le": PREFIX.decode().encode("utf-16-le"),
           "utf-16be": PREFIX.decode().encode("utf-16-be")}
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + PREFIX)
        first = 0 if pad == 0 else 4  # skip the quad mixed with padding
        last = ((pad + len(PREFIX)) // 3) * 4  # only whole quads
        out["base64+%d" % pad] = enc[first:last]
    return out


FORMS = forms()


def find(data):
    return [name for name, pat in FORMS.items() if pat in data]


def mask(data):
    """Around the first canary, with the canary's prefix masked."""
    text = data.replace(b"\0", b" ").decode("utf-8", "replace")
    i = max(text.find(PREFIX.decode()), 0)
    return (text[max(0, i - 60):i] + "<canary>" +
            text[i + len(PREFIX):i + len(PREFIX) + 60])


# ---- watch ----------------------------------------------------------------

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_EVENT_EXEC = 0x00000002


def connector():
    """A socket on the kernel's process events, or None."""
    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM,
                          NETLINK_CONNECTOR)
        s.bind((os.getpid(), CN_IDX_PROC))
        op = struct.pack("=I", PROC_CN_MCAST_LISTEN)
        cn = struct.pack("=IIIIHH", CN_IDX_PROC, CN_VAL_PROC, 0, 0,
                         len(op), 0) + op
        nl = struct.pack("=IHHII", 16 + len(cn), 3, 0, 0, os.getpid()) + cn
        s.send(nl)
        s.setblocking(False)
        # A burst of execs (50 clients at once) must not overflow it.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        return s
    except OSError:
        return None


OVERRUNS = [0]


def exec_pids(sock):
    pids = []
    while True:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return pids
        except OSError as e:
            # ENOBUFS: the kernel dropped events while we were busy.  The
            # processes behind them are still seen by the sweeps (every
            # 50 ms); the report says how often this happened.
            if e.errno != errno.ENOBUFS:
                raise
            OVERRUNS[0] += 1
            return pids
        off = 0
        while off + 16 <= len(data):
            length = struct.unpack_from("=I", data, off)[0]
            if length < 16:
                break
            msg = data[off + 16:off + length]
            # cn_msg (20 bytes), then proc_event: what, cpu, timestamp
            if len(msg) >= 20 + 16 + 8:
                what = struct.unpack_from("=I", msg, 20)[0]
                if what == PROC_EVENT_EXEC:
                    pids.append(struct.unpack_from("=I", msg, 36)[0])
            off += (length + 3) & ~3


def check_pid(pid, seen, out):
    for what in ("cmdline", "environ"):
        try:
            with open("/proc/%d/%s" % (pid, what), "rb") as f:
                data = f.read()
        except OSError:
            continue
        hit = find(data)
        if hit:
            key = (pid, what, data)
            if key not in seen:
                seen.add(key)
                try:
                    with open("/proc/%d/comm" % pid) as f:
                        comm = f.read().strip()
                except OSError:
                    comm = "?"
                out.write("%s pid %d (%s) %s [%s]: %s\n" % (
                    "SELFTEST" if SELFTEST in data else "HIT",
                    pid, comm, what, ",".join(hit), mask(data)))
                out.flush()


def watch(path):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    sock = connector()
    seen, hits, pids = set(), set(), set()
    execs = sweeps = 0
    with open(path, "w") as out:
        if sock is None:
            out.write("# no process-event connector: sampling only\n")
        while not stop:
            deadline = time.monotonic() + 0.05
            while time.monotonic() < deadline and not stop:
                if sock is not None:
                    for pid in exec_pids(sock):
                        execs += 1
                        pids.add(pid)
                        check_pid(pid, hits, out)
                time.sleep(0.002)
            sweeps += 1
            for name in os.listdir("/proc"):
                if name.isdigit():
                    pid = int(name)
                    pids.add(pid)
                    check_pid(pid, hits, out)
        out.write("# seen %d processes, %d exec events, %d sweeps, "
                  "%d event overruns (sweeps only then)\n"
                  % (len(pids), execs, sweeps, OVERRUNS[0]))


# ---- plant ----------------------------------------------------------------

def plant(d):
    import subprocess
    env = dict(os.environ, CANARY_SELFTEST=SELFTEST.decode())
    subprocess.run(["sleep", "0.3"], env=env, check=True)
    subprocess.run(["sh", "-c", "sleep 0.3; :", "sh", SELFTEST.decode()],
                   check=True)
    d = os.path.join(d, "canary-selftest")
    os.makedirs(d, exist_ok=True)
    plain = b"user\0" + SELFTEST
    planted = {"plain": plain,
               "utf-16le": plain.decode().encode("utf-16-le"),
               "utf-16be": plain.decode().encode("utf-16-be")}
    for pad in range(3):
        planted["base64+%d" % pad] = base64.b64encode(
            b"\0" * pad + b"\0u\0" + SELFTEST)
    for name, data in planted.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(b"line\n" + data + b"\n")


# ---- report ---------------------------------------------------------------

def exemptions(root):
    """{directory: [(glob, reason)]} from the .canary-exempt files."""
    ex = {}
    for d, _, files in os.walk(root):
        if ".canary-exempt" in files:
            rules = []
            with open(os.path.join(d, ".canary-exempt")) as f:
                for line in f:
                    if "\t" in line:
                        g, r = line.rstrip("\n").split("\t", 1)
                        rules.append((g, r))
            ex[d] = rules
    return ex


def exempt_reason(path, ex):
    d = os.path.dirname(path)
    while True:
        for glob, reason in ex.get(d, ()):
            if fnmatch.fnmatch(os.path.relpath(path, d), glob):
                return reason
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def scan_file(path):
    keep = max(len(p) for p in FORMS.values()) - 1
    found = set()
    tail = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            found.update(find(tail + chunk))
            tail = chunk[-keep:]
    return found


def report(hits_path, roots):
    n = 0
    ok = True

    def tap(good, name, diags=()):
        nonlocal n, ok
        n += 1
        ok &= good
        print("%s %d - %s" % ("ok" if good else "not ok", n, name))
        for d in diags:
            print("# " + d)

    try:
        with open(hits_path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        lines = None
        tap(False, "canary: the process watcher ran", [str(e)])
    if lines is not None:
        hits = [line for line in lines if line.startswith("HIT")]
        stats = [line[2:] for line in lines if line.startswith("# ")]
        own = [line for line in lines if line.startswith("SELFTEST")]
        tap(any(" cmdline " in h for h in own) and
            any(" environ " in h for h in own),
            "canary: the process watcher finds a planted canary in argv and "
            "in the environment (%d hits)" % len(own))
        tap(not hits and any(s.startswith("seen") for s in stats),
            "canary: in no process's argv or environment during the whole "
            "integration run (%s)" % "; ".join(stats), hits[:20])

    files = scanned = 0
    found, exempt, planted = [], {}, set()
    for root in roots:
        ex = exemptions(root)
        for d, _, names in os.walk(root):
            for name in names:
                p = os.path.join(d, name)
                if os.path.islink(p) or not os.path.isfile(p):
                    continue
                files += 1
                try:
                    hit = scan_file(p)
                except OSError:
                    continue
                scanned += 1
                if not hit:
                    continue
                if os.path.basename(d) == "canary-selftest":
                    planted.add(name)
                    continue
                reason = exempt_reason(p, ex)
                if reason is not None:
                    exempt.setdefault(reason, []).append(p)
                else:
                    found.append("%s [%s]" % (p, ",".join(sorted(hit))))
    want = set(FORMS)
    tap(planted == want,
        "canary: the file scan finds the canary planted in each form (%s)"
        % ", ".join(sorted(planted)),
        ["missed: " + ", ".join(sorted(want - planted))] if planted != want
        else [])
    diags = found[:30]
    for reason, paths in sorted(exempt.items()):
        diags.append("exempt, %d file(s): %s (e.g. %s)"
                     % (len(paths), reason, os.path.basename(paths[0])))
    tap(not found and scanned > 0,
        "canary: in none of the %d files the integration run wrote "
        "(plain, UTF-16, base64 at 3 alignments; %d exempt by design)"
        % (scanned, sum(len(v) for v in exempt.values())), diags)
    print("1..%d" % n)
    return 0 if ok else 1


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "watch":
        watch(sys.argv[2])
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "plant":
        plant(sys.argv[2])
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "report":
        return report(sys.argv[2], sys.argv[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
