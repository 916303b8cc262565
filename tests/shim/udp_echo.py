#!/usr/bin/env python3
"""UDP programs for udp_python_test.sh (they know nothing of TMC).

  udp_echo.py server PORT   asyncio (epoll, nonblocking) echo server on 127.0.0.1:PORT; replies
                            "<payload>|<source address>" until killed
  udp_echo.py client PORT   checks, printing one "ok ..." line each, exit 1 on the first failure
"""
import asyncio
import os
import socket
import sys


def server(port):
    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport):
            self.transport = transport
            sock = transport.get_extra_info("socket")
            print(f"ready {sock.getsockname()[0]}:{sock.getsockname()[1]} type={sock.type.name}", flush=True)

        def datagram_received(self, data, addr):
            self.transport.sendto(data + f"|{addr[0]}:{addr[1]}".encode(), addr)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", port)))
    loop.run_forever()


def check(condition, what):
    if not condition:
        print(f"FAIL {what}", flush=True)
        sys.exit(1)
    print(f"ok {what}", flush=True)


def client(port):
    target = ("127.0.0.1", port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(b"hello", target)
    local = s.getsockname()
    data, source = s.recvfrom(2048)
    check(source == target, f"reply from the server's real address {source}")
    check(data == f"hello|127.0.0.1:{local[1]}".encode(), f"server saw our address {local} ({data!r})")
    check(s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_DGRAM, "SO_TYPE is SOCK_DGRAM")
    check(s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) == socket.AF_INET, "SO_DOMAIN is AF_INET")

    # Many datagrams, each one message, in order on a reliable channel.
    for i in range(200):
        s.sendto(f"n{i}".encode(), target)
    got = [s.recvfrom(2048)[0].split(b"|")[0] for _ in range(200)]
    check(got == [f"n{i}".encode() for i in range(200)], "200 datagrams echoed whole")

    # A fork child sends on the inherited socket; the parent reads both replies.
    pid = os.fork()
    if pid == 0:
        s.sendto(b"from-child", target)
        os._exit(0)
    os.waitpid(pid, 0)
    s.sendto(b"from-parent", target)
    replies = sorted(s.recvfrom(2048)[0].split(b"|")[0] for _ in range(2))
    check(replies == [b"from-child", b"from-parent"], f"fork child's datagram carried ({replies})")

    # Connected socket: send/recv without addresses, getpeername.
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(5)
    c.connect(target)
    check(c.getpeername() == target, "getpeername of a connected socket")
    c.send(b"connected")
    check(c.recv(2048).startswith(b"connected|"), "connected send/recv")

    # Nonblocking: nothing queued -> BlockingIOError (EAGAIN).
    c.setblocking(False)
    try:
        c.recv(16)
        check(False, "nonblocking recv on an empty socket")
    except BlockingIOError:
        check(True, "nonblocking recv on an empty socket raises EAGAIN")
    c.close()
    s.close()


if __name__ == "__main__":
    {"server": server, "client": client}[sys.argv[1]](int(sys.argv[2]))
