#!/usr/bin/env bash
# A process that exits (exit(3), not close) with a matched connection still open: as with TCP,
# the peer reads every byte written before the exit and then EOF — it must not hang. Both ends
# run under the shim; the writer calls libc exit() directly (ctypes), so no Python finaliser
# closes the socket first. Also under stream framing with 1 MiB written just before exit, and
# for an idle connection (nothing written).
# Usage: exit_close_test.sh TMC_BINARY SHIM_LIBRARY
source "$(dirname "$0")/lib.sh"
shim_test_init "$1" "$2"
python=/usr/bin/python3; [ -x "$python" ] || python=python3
cat >"$WORK/reader.py" <<'PY'
import socket, sys, time
port, expected = int(sys.argv[1]), int(sys.argv[2])
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen()
connection, _ = listener.accept()
connection.settimeout(10)
received = 0
start = time.monotonic()
try:
    while True:
        chunk = connection.recv(65536)
        if not chunk:
            break
        received += len(chunk)
except socket.timeout:
    print(f"reader: no EOF after {received} bytes (timeout)")
    sys.exit(1)
print(f"reader: {received} bytes then EOF after {time.monotonic() - start:.3f} s")
sys.exit(0 if received == expected else 1)
PY
cat >"$WORK/writer.py" <<'PY'
import ctypes, socket, sys
port, size = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"x" * size)
ctypes.CDLL(None).exit(0)  # exit(3) with the connection open: no close, no shutdown
PY
for size in 0 100 1048576; do
  port=$(free_port)
  write_policy "$WORK/policy.yaml" "$port" stream
  start_bg "$TMC" run --policy "$WORK/policy.yaml" -- "$python" "$WORK/reader.py" "$port" "$size"
  reader=${BG_PIDS[-1]}
  wait_port "$port" || fail "reader did not start"
  timeout 30 "$TMC" run --policy "$WORK/policy.yaml" -- "$python" "$WORK/writer.py" "$port" "$size" ||
    fail "writer failed ($size bytes)"
  wait "$reader" || fail "reader did not read $size bytes and EOF after the writer exited"
done
echo "ok"
