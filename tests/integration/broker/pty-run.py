#!/usr/bin/python3
"""Run a command on a new pseudo-terminal and answer its prompts.

    pty-run.py ANSWERS_FILE CMD [ARGS...]

ANSWERS_FILE holds one answer per line; each is typed (with a newline)
when the command's output ends in a prompt (": " or "] ").  What the
command printed on the terminal is written to stdout, and this script
exits with the command's status (124 when it takes over 60 seconds).
The answers come from a file so that a password typed here is never on
a command line.
"""
import os
import pty
import select
import sys
import time


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        answers = f.read().splitlines()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[2], sys.argv[2:])
    out = b""
    pending = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the command closed the terminal
                break
            if not chunk:
                break
            out += chunk
            pending += chunk
            if answers and (pending.endswith(b": ") or pending.endswith(b"] ")):
                os.write(fd, answers.pop(0).encode() + b"\n")
                pending = b""
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        sys.stdout.write(out.decode(errors="replace"))
        sys.exit(124)
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(out.decode(errors="replace"))
    sys.exit(os.waitstatus_to_exitcode(status))


main()
