#!/usr/bin/python3
"""Write a compile_commands.json with each project source file once.

meson lists a file once per target that compiles it (the fuzz replay
driver nine times, for instance); the analysers would check it as often.
Usage: compdb.py BUILD_DIR SRC_DIR OUT_DIR [DIR...]: keeps the sources
under SRC_DIR/DIR for each DIR given (all of SRC_DIR when none)."""
import json
import os
import sys

build, src, out = sys.argv[1:4]
dirs = [os.path.join(os.path.realpath(src), d) + os.sep for d in sys.argv[4:]]
seen = set()
keep = []
with open(os.path.join(build, "compile_commands.json")) as f:
    for e in json.load(f):
        path = os.path.realpath(os.path.join(e["directory"], e["file"]))
        if path in seen or (dirs and not any(path.startswith(d) for d in dirs)):
            continue
        seen.add(path)
        keep.append(e)
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "compile_commands.json"), "w") as f:
    json.dump(keep, f, indent=1)
print(len(keep))
