#!/usr/bin/env bash
# python3 asyncio (epoll, nonblocking connect) echo server and client, both under the shim.
# Usage: asyncio_test.sh TMC_BINARY SHIM_LIBRARY CONNECTIONS BYTES
# With CONNECTIONS=1000: no fd leak in client or server (counted in /proc), no hang.
source "$(dirname "$0")/lib.sh"
shim_test_init "$1" "$2"
connections=$3
bytes=$4
ulimit -n 16384 || skip "cannot raise RLIMIT_NOFILE"
script="$(dirname "$0")/asyncio_echo.py"
python=/usr/bin/python3; [ -x "$python" ] || python=python3
port=$(free_port)
write_policy "$WORK/policy.yaml" "$port" stream
start_bg "$TMC" run --policy "$WORK/policy.yaml" -- "$python" "$script" server "$port"
server_pid=${BG_PIDS[-1]}
wait_port "$port" || fail "server did not start"
# Warm-up connection so the server's shim fds exist, then count.
timeout 60 "$TMC" run --policy "$WORK/policy.yaml" -- "$python" "$script" client "$port" 1 16 >/dev/null || fail "warm-up failed"
sleep 0.5
server_before=$(ls /proc/$server_pid/fd | wc -l)
timeout 180 "$TMC" run --policy "$WORK/policy.yaml" -- "$python" "$script" client "$port" "$connections" "$bytes" ||
  fail "client failed"
server_after=$server_before
for _ in $(seq 50); do
  server_after=$(ls /proc/$server_pid/fd | wc -l)
  [ "$server_after" -le "$server_before" ] && break
  sleep 0.1
done
echo "server fds before=$server_before after=$server_after"
[ "$server_after" -le "$server_before" ] || fail "server leaked $((server_after - server_before)) fds"
kill -0 "$server_pid" || fail "server died"
echo "ok"
