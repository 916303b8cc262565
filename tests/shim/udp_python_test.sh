#!/usr/bin/env bash
# python3 UDP programs under the shim (udp-receiver: an asyncio/epoll echo server; udp-sender: a
# blocking client that also forks and connects): true source addresses both ways, whole
# datagrams in order, a fork child's datagram, connected and nonblocking sockets.
# Usage: udp_python_test.sh TMC_BINARY SHIM_LIBRARY
source "$(dirname "$0")/lib.sh"
shim_test_init "$1" "$2"
port=$(free_port)
cat >"$WORK/policy.yaml" <<POLICY
version: 1
rules:
  - {name: echo-server, role: udp-receiver, local: 127.0.0.1, port: $port, manifest: {channel: py-udp, reliability: all, ordering: fifo}}
  - {name: echo-client, role: udp-sender, destination: 127.0.0.1, port: $port, manifest: {channel: py-udp, reliability: all, ordering: fifo}}
POLICY
"$TMC" policy check -q "$WORK/policy.yaml" || fail "generated policy invalid"
script=$(dirname "$0")/udp_echo.py
start_bg "$TMC" run --policy "$WORK/policy.yaml" -- python3 "$script" server "$port" >"$WORK/server.txt" 2>&1
server_pid=${BG_PIDS[-1]}
for _ in $(seq 100); do grep -q ready "$WORK/server.txt" && break; sleep 0.05; done
grep -q "ready 127.0.0.1:$port type=SOCK_DGRAM" "$WORK/server.txt" || fail "server not ready: $(cat "$WORK/server.txt")"
timeout 60 "$TMC" run --policy "$WORK/policy.yaml" -- python3 "$script" client "$port" >"$WORK/client.txt" 2>&1
status=$?
cat "$WORK/client.txt"
[ $status -eq 0 ] || fail "client failed (status $status)"
[ "$(grep -c '^ok ' "$WORK/client.txt")" -eq 9 ] || fail "not every check ran"
# The datagrams really crossed TMC channels (the same checks pass over kernel UDP, by design).
"$TMC" stats "$server_pid" >"$WORK/stats.txt" 2>&1 || fail "tmc stats: $(cat "$WORK/stats.txt")"
delivered=$(sed -n 's/.*messages sent [0-9]* ([0-9]* B), delivered \([0-9]*\).*/\1/p' "$WORK/stats.txt" | head -1)
[ "${delivered:-0}" -ge 204 ] || fail "server channel delivered ${delivered:-0} < 204: $(cat "$WORK/stats.txt")"
echo "ok: $delivered datagrams delivered through the server's channel"
