#!/usr/bin/env bash
# iperf3 TCP over the shim (client and server): bytes received equal bytes sent.
# Usage: iperf3_test.sh TMC_BINARY SHIM_LIBRARY
source "$(dirname "$0")/lib.sh"
shim_test_init "$1" "$2"
command -v iperf3 >/dev/null || skip "iperf3 not installed"
port=$(free_port)
write_policy "$WORK/policy.yaml" "$port" stream
start_bg "$TMC" run --policy "$WORK/policy.yaml" -- iperf3 -s -1 -B 127.0.0.1 -p "$port"
wait_port "$port" || fail "iperf3 server did not start"
timeout 120 "$TMC" run --policy "$WORK/policy.yaml" -- iperf3 -c 127.0.0.1 -p "$port" -n 64M -J >"$WORK/result.json" ||
  { cat "$WORK/result.json" | tail -20; fail "iperf3 client failed"; }
python3 - "$WORK/result.json" <<'PY' || fail "byte counts differ"
import json, sys
result = json.load(open(sys.argv[1]))
sent = result["end"]["sum_sent"]["bytes"]
received = result["end"]["sum_received"]["bytes"]
print(f"sent={sent} received={received} rate={result['end']['sum_received']['bits_per_second']/1e9:.2f} Gbit/s")
sys.exit(0 if sent == received and sent >= 64 * 1024 * 1024 else 1)
PY
echo "ok"
