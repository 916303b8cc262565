#!/usr/bin/env python3
"""idle_rss.py PORT SECONDS: VmRSS of this process before connect() and after one connection to
127.0.0.1:PORT exchanged a message and stayed idle for SECONDS (run it under the shim to see what
one matched connection costs). Prints "rss_before_kib=N rss_after_kib=M growth_kib=M-N"."""
import socket
import sys
import time


def rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


port, seconds = int(sys.argv[1]), float(sys.argv[2])
probe = socket.socket()  # the same calls as below once, so only the connection's cost remains
probe.close()
before = rss_kib()
connection = socket.create_connection(("127.0.0.1", port), timeout=10)
connection.sendall(b"x" * 100)
received = b""
while len(received) < 100:
    chunk = connection.recv(100 - len(received))
    if not chunk:
        sys.exit("echo server closed the connection")
    received += chunk
time.sleep(seconds)
after = rss_kib()
print(f"rss_before_kib={before} rss_after_kib={after} growth_kib={after - before}", flush=True)
connection.close()
