#!/usr/bin/env bash
# Exit while the shim's threads run: RUNS short kv_client runs (TCP mode, 3 connections) against 3
# kv_servers, all under the shim on loopback; every client must exit 0 (no abort at exit, e.g.
# "double free" from statics destroyed under the bridge or runtime thread, no hang).
# Usage: kv_exit_test.sh TMC_BINARY SHIM_LIBRARY KV_SERVER KV_CLIENT RUNS
source "$(dirname "$0")/lib.sh"
shim_test_init "$1" "$2"
server_binary=$3
client_binary=$4
runs=$5
export MALLOC_CHECK_=3 MALLOC_PERTURB_=165  # glibc: abort on heap misuse at once
ports=()
for _ in 1 2 3; do ports+=("$(free_port)"); done
cat >"$WORK/policy.yaml" <<POLICY
version: 1
manifests:
  kv: {channel: kv, reliability: {acks: all, min_rto: 200us, initial_rto: 1ms, max_rto: 20ms}, ordering: none}
rules:
  - {name: kv-client, role: tcp-client, destination: 127.0.0.1, port: ${ports[0]}, manifest: kv, framing: length-prefixed-u32}
  - {name: kv-client-2, role: tcp-client, destination: 127.0.0.1, port: ${ports[1]}, manifest: kv, framing: length-prefixed-u32}
  - {name: kv-client-3, role: tcp-client, destination: 127.0.0.1, port: ${ports[2]}, manifest: kv, framing: length-prefixed-u32}
  - {name: kv-replica, role: tcp-server, local: 127.0.0.1, manifest: kv, framing: length-prefixed-u32}
POLICY
"$TMC" policy check -q "$WORK/policy.yaml" || fail "generated policy invalid"
replicas="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
failures=0
for run in $(seq "$runs"); do
  servers=()
  for port in "${ports[@]}"; do
    "$TMC" run --policy "$WORK/policy.yaml" -- "$server_binary" --listen "127.0.0.1:$port" --max-seconds 60 \
      >/dev/null 2>"$WORK/server-$run-$port.err" &
    servers+=($!)
    BG_PIDS+=($!)
  done
  for port in "${ports[@]}"; do wait_port "$port" || fail "kv_server on $port did not start"; done
  status=0
  timeout 30 "$TMC" run --policy "$WORK/policy.yaml" -- "$client_binary" --replicas "$replicas" --duration 0.5 \
    >"$WORK/client-$run.out" 2>"$WORK/client-$run.err" || status=$?
  kill "${servers[@]}" 2>/dev/null
  wait "${servers[@]}" 2>/dev/null
  if [ "$status" -ne 0 ]; then
    failures=$((failures + 1))
    echo "run $run: kv_client exit status $status"
    tail -5 "$WORK/client-$run.err"
  fi
  grep -q '"ops"\|txn' "$WORK/client-$run.out" || { echo "run $run: no result line"; failures=$((failures + 1)); }
done
echo "$runs runs, $failures failed"
[ "$failures" -eq 0 ] || fail "kv_client did not exit cleanly under the shim"
echo "ok"
