#!/usr/bin/python3
"""Small helpers of the tests/servers/ start scripts (stdlib only).

  probe.py ports N
      Print N distinct free TCP ports on 127.0.0.1, space separated.  They
      are found by binding port 0 N times at once and closing again; a
      start script that loses the race to another process sees its daemon
      fail to bind and picks new ports.

  probe.py inuse PORT...
      Exit 0 if one of the ports on 127.0.0.1 cannot be bound (someone
      listens there), 1 if all are free.

  probe.py wait [--timeout S] [--connect-only] [--pid PID] PORT[:tls] ...
      Wait until every PORT on 127.0.0.1 accepts a connection and sends an
      SMTP greeting starting with "220" (after an unverified TLS handshake
      for PORT:tls).  --connect-only: accepting the connection is enough.
      Exit 0 when all are ready, 1 (with the reason on stderr) when the
      deadline (default 20 s) passes first or process PID has ended.
"""
import socket
import ssl
import sys
import time


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def inuse(ports):
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", int(port)))
        except OSError:
            return 0
        finally:
            s.close()
    return 1


def probe(port, tls, connect_only, budget):
    with socket.create_connection(("127.0.0.1", port), timeout=budget) as s:
        if connect_only:
            return True, "connected"
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s, server_hostname="localhost")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(1024)
            if not chunk:
                break
            data += chunk
        if tls:
            try:
                s.sendall(b"QUIT\r\n")
                s.recv(1024)
                s.unwrap()  # a clean close_notify: no TLS error in the MTA's log
            except (OSError, ssl.SSLError):
                pass
            s.close()
        return data.startswith(b"220"), data[:200].decode("latin-1").strip()


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def wait(args):
    timeout = 20.0
    connect_only = False
    pid = None
    specs = []
    while args:
        a = args.pop(0)
        if a == "--timeout":
            timeout = float(args.pop(0))
        elif a == "--connect-only":
            connect_only = True
        elif a == "--pid":
            pid = int(args.pop(0))
        else:
            port, _, kind = a.partition(":")
            specs.append((int(port), kind == "tls"))
    deadline = time.monotonic() + timeout
    for port, tls in specs:
        last = "nothing tried"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                print(f"probe: port {port} not ready after {timeout:g} s: {last}",
                      file=sys.stderr)
                return 1
            if pid is not None and not alive(pid):
                print(f"probe: process {pid} ended; port {port}: {last}", file=sys.stderr)
                return 1
            try:
                ok, last = probe(port, tls, connect_only, min(left, 1.0))
                if ok:
                    break
                last = f"greeting {last!r}"
            except (OSError, ssl.SSLError) as e:
                last = str(e)
            time.sleep(0.05)
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "ports":
        print(" ".join(str(p) for p in free_ports(int(argv[1]))))
        return 0
    if len(argv) >= 2 and argv[0] == "inuse":
        return inuse(argv[1:])
    if argv and argv[0] == "wait":
        return wait(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
