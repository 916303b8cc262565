#!/usr/bin/env bash
# Benchmark (not a test): sockperf UDP ping-pong on loopback, kernel UDP vs the shim (each
# datagram one message on a reliable channel), with the shim's direct send path and without it
# (TMC_SHIM_UDP_DIRECT=0: every datagram through the socketpair and the bridge thread).
# Rounds alternate so machine load hits every variant alike; prints median latency and ratios.
# Usage: udp_benchmark.sh BUILD_DIR [ROUNDS=3] [SECONDS=3]
set -u
BUILD=$(cd "$1" && pwd)
ROUNDS=${2:-3}
SECONDS_PER_RUN=${3:-3}
TMC=$BUILD/tmc
export TMC_SHIM_LIBRARY=$BUILD/shim/libtmc_shim.so
WORK=$(mktemp -d /tmp/tmc-udp-bench.XXXXXX)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/policy.yaml" <<POLICY
version: 1
manifests:
  pingpong: {channel: bench-udp, reliability: {acks: all, min_rto: 200us, initial_rto: 1ms}, ordering: none}
rules:
  - {name: server, role: udp-receiver, local: 127.0.0.1, port: $port, manifest: pingpong}
  - {name: client, role: udp-sender, destination: 127.0.0.1, port: $port, manifest: pingpong}
POLICY
run() {  # run VARIANT -> latency in usec
  local variant=$1 prefix=()
  case $variant in
    kernel) prefix=() ;;
    shim) prefix=("$TMC" run --policy "$WORK/policy.yaml" --) ;;
    shim-no-direct) prefix=(env TMC_SHIM_UDP_DIRECT=0 "$TMC" run --policy "$WORK/policy.yaml" --) ;;
  esac
  "${prefix[@]}" sockperf server -i 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  SERVER_PID=$!
  sleep 0.5
  timeout 60 "${prefix[@]}" sockperf ping-pong -i 127.0.0.1 -p "$port" -t "$SECONDS_PER_RUN" 2>&1 |
    sed -n 's/.*Summary: Latency is \([0-9.]*\) usec.*/\1/p'
  kill "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=
}
declare -A results
for round in $(seq "$ROUNDS"); do
  for variant in kernel shim shim-no-direct; do
    results[$variant]+="$(run $variant) "
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
kernel=$(echo "${results[kernel]}" | median)
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for variant in kernel shim shim-no-direct; do
  m=$(echo "${results[$variant]}" | median)
  printf "%-15s median %8.2f us (runs: %s) ratio to kernel %.2fx\n" "$variant" "$m" "${results[$variant]}" \
    "$(echo "$m / $kernel" | bc -l)"
done
