#!/usr/bin/env bash
# sockperf UDP ping-pong, client and server under the shim (udp-sender / udp-receiver rules):
# every datagram is one message on a reliable channel; the server answers the client's true
# address. Checks sockperf's own accounting (no drops, duplicates or reordering) and that the
# datagrams really crossed the shim's channels (tmc stats of the server).
# Usage: sockperf_udp_test.sh TMC_BINARY SHIM_LIBRARY
source "$(dirname "$0")/lib.sh"
shim_test_init "$1" "$2"
command -v sockperf >/dev/null || skip "sockperf not installed"
port=$(free_port)
cat >"$WORK/policy.yaml" <<POLICY
version: 1
manifests:
  pingpong: {channel: sockperf-udp, reliability: {acks: all, min_rto: 200us, initial_rto: 1ms}, ordering: none}
rules:
  - {name: server, role: udp-receiver, local: 127.0.0.1, port: $port, manifest: pingpong}
  - {name: client, role: udp-sender, destination: 127.0.0.1, port: $port, manifest: pingpong}
POLICY
"$TMC" policy check -q "$WORK/policy.yaml" || fail "generated policy invalid"
start_bg "$TMC" run --policy "$WORK/policy.yaml" -- sockperf server -i 127.0.0.1 -p "$port"
server_pid=${BG_PIDS[-1]}
wait_port "$port" || fail "sockperf server did not start"
timeout 60 "$TMC" run --policy "$WORK/policy.yaml" -- sockperf ping-pong -i 127.0.0.1 -p "$port" -t 2 \
  >"$WORK/pp.txt" 2>&1 || { tail -20 "$WORK/pp.txt"; fail "sockperf client failed"; }
grep -E "Summary: Latency" "$WORK/pp.txt" || fail "no latency summary: $(tail -5 "$WORK/pp.txt")"
grep -E "# dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0" "$WORK/pp.txt" \
  || fail "sockperf saw loss/duplicates/reordering: $(grep -E 'dropped' "$WORK/pp.txt")"
observations=$(sed -n "s/.*ReceivedMessages=\([0-9]*\).*/\1/p" "$WORK/pp.txt" | head -1)
[ "${observations:-0}" -gt 100 ] || fail "too few round trips: ${observations:-none}"
"$TMC" stats "$server_pid" >"$WORK/stats.txt" 2>&1 || fail "tmc stats failed: $(cat "$WORK/stats.txt")"
grep -q "udp-receiver 127.0.0.1:$port" "$WORK/stats.txt" || fail "server socket not bridged: $(cat "$WORK/stats.txt")"
delivered=$(sed -n 's/.*messages sent [0-9]* ([0-9]* B), delivered \([0-9]*\).*/\1/p' "$WORK/stats.txt" | head -1)
[ "${delivered:-0}" -ge "$observations" ] || fail "server channel delivered ${delivered:-0} < $observations: $(cat "$WORK/stats.txt")"
echo "ok: $observations round trips over TMC channels"
