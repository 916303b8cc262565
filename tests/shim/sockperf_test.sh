#!/usr/bin/env bash
# sockperf TCP ping-pong, client and server under the shim.
# Usage: sockperf_test.sh TMC_BINARY SHIM_LIBRARY
source "$(dirname "$0")/lib.sh"
shim_test_init "$1" "$2"
command -v sockperf >/dev/null || skip "sockperf not installed"
port=$(free_port)
write_policy "$WORK/policy.yaml" "$port" send-call
start_bg "$TMC" run --policy "$WORK/policy.yaml" -- sockperf server --tcp -i 127.0.0.1 -p "$port"
wait_port "$port" || fail "sockperf server did not start"
timeout 60 "$TMC" run --policy "$WORK/policy.yaml" -- sockperf ping-pong --tcp -i 127.0.0.1 -p "$port" -t 2 \
  >"$WORK/pp.txt" 2>&1 || { tail -20 "$WORK/pp.txt"; fail "sockperf client failed"; }
grep -E "avg-latency|Summary: Latency" "$WORK/pp.txt" || fail "no latency summary: $(tail -5 "$WORK/pp.txt")"
echo "ok"
