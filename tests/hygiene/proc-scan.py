#!/usr/bin/python3
"""Scan another process's readable memory for a password (issue 6).

  proc-scan.py PID SECRET_FILE [USER]

Reads /proc/PID/maps and /proc/PID/mem (root) and looks for the password
of SECRET_FILE in the forms of tests/hygiene/mem-scan.c: raw, UTF-16LE/BE,
base64 at each alignment, and base64 of "\\0USER\\0PASSWORD".  Prints
"HIT form address mapping" per hit, then "hits N"; exit 0 when N is 0.
"""
import base64
import re
import sys


def forms(pw, user):
    out = {"raw": pw, "utf16le": pw.decode("latin-1").encode("utf-16-le"),
           "utf16be": pw.decode("latin-1").encode("utf-16-be")}
    for pad in range(3):
        enc = base64.b64encode(b"x" * pad + pw)
        first = 0 if pad == 0 else 4
        last = ((pad + len(pw)) // 3) * 4
        if last > first + 8:
            out["base64-%d" % pad] = enc[first:last]
    if user:
        out["base64-plain"] = base64.b64encode(b"\0" + user + b"\0" + pw)
    return out


def main():
    pid = int(sys.argv[1])
    pw = open(sys.argv[2], "rb").read()
    user = sys.argv[3].encode() if len(sys.argv) > 3 else b""
    pats = forms(pw, user)
    hits = 0
    with open("/proc/%d/maps" % pid) as maps, \
            open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            lo, hi, perms = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
            # Regions over 1 GiB are sanitizer shadow memory (ASan
            # builds), never heap or stack: skipped, as in mem-scan.c.
            if perms[0] != "r" or "[vvar]" in line or "[vsyscall]" in line \
                    or hi - lo > 1 << 30:
                continue
            keep = max(len(p) for p in pats.values()) - 1
            tail = b""
            pos = lo
            while pos < hi:
                n = min(64 << 20, hi - pos)
                try:
                    mem.seek(pos)
                    chunk = mem.read(n)
                except OSError:
                    break
                data = tail + chunk
                base = pos - len(tail)
                for name, pat in pats.items():
                    for hit in re.finditer(re.escape(pat), data):
                        if hit.end() > len(tail):  # not a repeat
                            print("HIT %s 0x%x %s" % (
                                name, base + hit.start(), line.strip()))
                            hits += 1
                tail = data[-keep:] if keep else b""
                pos += n
    print("hits %d" % hits)
    return 0 if hits == 0 else 1


sys.exit(main())
