#!/usr/bin/python3
"""Print 'N passed, N failed[, N skipped]' over the meson test logs of the
build directories given (a build that did not run its tests counts as one
failure) and, after --tap, over TAP files of the suites in tests/suites/
(a TAP file without any test line counts as one failure)."""
import json
import os
import re
import sys

passed = failed = skipped = 0
args = sys.argv[1:]
builds, taps = args, []
if "--tap" in args:
    i = args.index("--tap")
    builds, taps = args[:i], args[i + 1:]

for build in builds:
    path = os.path.join(build, "meson-logs", "testlog.json")
    if not os.path.exists(path):
        print(f"summary: {build}: no test log (build or setup failed)",
              file=sys.stderr)
        failed += 1
        continue
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)["result"]
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:
                failed += 1

tap_line = re.compile(r"^(not ok|ok)\b[^#]*(#\s*(\w+))?", re.IGNORECASE)
for path in taps:
    if not os.path.exists(path):
        continue            # the glob matched nothing
    seen = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = tap_line.match(line)
            if not m:
                continue
            seen += 1
            directive = (m.group(3) or "").upper()
            if directive == "SKIP":
                skipped += 1
            elif m.group(1).lower() == "ok" and directive != "TODO":
                passed += 1
            else:
                failed += 1
    if seen == 0:
        print(f"summary: {path}: no test results", file=sys.stderr)
        failed += 1

line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed or passed == 0 else 0)
