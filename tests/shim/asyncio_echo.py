#!/usr/bin/env python3
"""asyncio (epoll) echo server and client for the shim tests.

  asyncio_echo.py server PORT              echo until killed
  asyncio_echo.py client PORT CONNECTIONS BYTES
      opens CONNECTIONS concurrent connections, sends BYTES random bytes on each, checks the
      echo, closes all; prints the client's own fd count before and after. Exit 0 when every
      echo matched and no fd leaked.
"""
import asyncio
import os
import sys


def fd_count():
    return len(os.listdir("/proc/self/fd"))


async def serve(port):
    async def echo(reader, writer):
        peer = writer.get_extra_info("peername")
        assert peer[0] == "127.0.0.1", peer  # an INET peer, never an AF_UNIX path
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", port, backlog=2048)
    async with server:
        await server.serve_forever()


async def one(port, size, index):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    local = writer.get_extra_info("sockname")
    assert local[0] == "127.0.0.1", local
    payload = os.urandom(size)
    writer.write(payload)
    await writer.drain()
    received = await reader.readexactly(size)
    writer.close()
    await writer.wait_closed()
    return received == payload


async def clients(port, connections, size):
    # Warm up once so the shim's own fds (bridge, engine runtime) exist before counting.
    assert await one(port, 16, -1)
    before = fd_count()
    results = await asyncio.wait_for(
        asyncio.gather(*(one(port, size, i) for i in range(connections))), timeout=120)
    await asyncio.sleep(0.5)
    after = fd_count()
    for _ in range(40):
        if after <= before:
            break
        await asyncio.sleep(0.1)
        after = fd_count()
    ok = all(results)
    print(f"connections={connections} echoed_ok={sum(results)} fds_before={before} fds_after={after}")
    return ok and after <= before


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "server":
        asyncio.run(serve(port))
    else:
        ok = asyncio.run(clients(port, int(sys.argv[3]), int(sys.argv[4])))
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
