#!/usr/bin/env python3
"""Holds one connection to itself open on PORT (server and client in this process), sends a few
messages, prints READY and sleeps SECONDS: a target for `tmc stats PID`."""
import socket
import sys
import time

port, seconds = int(sys.argv[1]), float(sys.argv[2])
server = socket.socket()
server.bind(("127.0.0.1", port))
server.listen()
client = socket.create_connection(("127.0.0.1", port))
accepted, _ = server.accept()
for _ in range(5):
    client.sendall(b"x" * 100)
    accepted.recv(100, socket.MSG_WAITALL)
    accepted.sendall(b"y" * 50)  # replies from the accepted (server) side
    client.recv(50, socket.MSG_WAITALL)
print("READY", flush=True)
time.sleep(seconds)
