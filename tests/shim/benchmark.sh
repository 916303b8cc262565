#!/usr/bin/env bash
# Shim benchmarks; every figure is a ratio against a baseline measured in the same run.
#   benchmark.sh BUILD_DIR
# 1. added cost of an intercepted call on an unmanaged fd (the real interposers vs direct calls,
#    system call excluded: shim_fast_path).
# 2. iperf3 TCP loopback, shim loaded with a policy that matches nothing vs without (goal >= 0.98x).
# 3. iperf3 over a shim-matched reliable stream on loopback vs kernel TCP (informational).
# 4. RSS growth of an idle process with one matched connection (see part 4 below).
# 5. sockperf TCP ping-pong on loopback, both ends under the shim (send-call framing, reliable
#    and unreliable channels) vs kernel TCP: p50/p99 round-trip ratios (the per-message cost of
#    the shim's path). The netns/loss benchmarks are tests/shim/netns_benchmark.sh.
set -u
build=$(cd "$1" && pwd)  # absolute: LD_PRELOAD must not depend on the cwd
shim="$build/shim/libtmc_shim.so"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
printf 'rules:\n  - {role: tcp-client, destination: 192.0.2.1, port: 9, manifest: {reliability: all}}\n' >"$work/nomatch.yaml"
printf 'rules:\n  - {role: tcp-server, local: 127.0.0.1, manifest: {channel: bench, reliability: all, ordering: fifo}}\n  - {role: tcp-client, destination: 127.0.0.1, manifest: {channel: bench, reliability: all, ordering: fifo}}\n' >"$work/match.yaml"

echo "== 1. intercepted call on an unmanaged fd =="
"$build/tests/shim/shim_fast_path"

iperf() {  # iperf ENV... -> received Gbit/s over 3 s
  local port
  port=$(free_port)
  env "$@" iperf3 -s -1 -B 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  local server=$!
  sleep 0.5
  env "$@" timeout 30 iperf3 -c 127.0.0.1 -p "$port" -t 3 -J 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)' 2>/dev/null || echo 0
  kill "$server" 2>/dev/null
  wait "$server" 2>/dev/null
}
echo "== 2/3. iperf3 TCP on loopback, 3 s each =="
base=$(iperf TMC_BENCH=kernel)
passthrough=$(iperf LD_PRELOAD="$shim" TMC_POLICY="$work/nomatch.yaml")
matched=$(iperf LD_PRELOAD="$shim" TMC_POLICY="$work/match.yaml")
python3 -c "
b, p, m = $base, $passthrough, $matched
print(f'kernel TCP {b:.2f} Gbit/s')
print(f'shim loaded, no rule matches {p:.2f} Gbit/s: ratio {p/b:.3f} (goal >= 0.98)')
print(f'shim-matched reliable stream {m:.2f} Gbit/s: ratio {m/b:.3f} vs kernel TCP (loopback, informational)')"

# 4. Memory: RSS growth of an idle process with one matched connection (goal <= 16 MiB), client
#    (idle_rss.py measures itself around connect) and server (measured from /proc around the
#    client's connection), shimmed and, as the baseline, over kernel TCP.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
memory() {  # memory LABEL ENV...
  local label=$1 port server server_before server_during client
  shift
  port=$(free_port)
  env "$@" python3 "$(dirname "$0")/asyncio_echo.py" server "$port" >/dev/null 2>&1 &
  server=$!
  for _ in $(seq 200); do  # listening: a kernel TCP listener or the shim's channel on UDP $port
    ss -Hltn "sport = :$port" | grep -q . || ss -Hun "sport = :$port" | grep -q . && break
    sleep 0.05
  done
  sleep 0.5
  server_before=$(rss_kib "$server")
  env "$@" timeout 30 python3 "$(dirname "$0")/bench/idle_rss.py" "$port" 3 >"$work/rss.txt" &
  client=$!
  sleep 2
  server_during=$(rss_kib "$server")
  wait "$client"
  kill "$server" 2>/dev/null
  wait "$server" 2>/dev/null
  echo "$label client: $(cat "$work/rss.txt"); server: rss_before_kib=$server_before rss_with_connection_kib=$server_during growth_kib=$((server_during - server_before))"
}
echo "== 4. RSS growth of an idle process with one connection (goal <= 16384 KiB shimmed) =="
memory "kernel TCP" TMC_BENCH=kernel
memory "shim-matched" LD_PRELOAD="$shim" TMC_POLICY="$work/match.yaml"

pingpong() {  # pingpong MANIFEST-or-kernel -> "p50 p99" RTT in us over 3 s
  local port manifest=$1
  port=$(free_port)
  printf 'rules:\n  - {role: tcp-server, local: 127.0.0.1, port: %s, manifest: %s, framing: send-call}\n  - {role: tcp-client, destination: 127.0.0.1, port: %s, manifest: %s, framing: send-call}\n' \
    "$port" "$manifest" "$port" "$manifest" >"$work/pp.yaml"
  local pre=(env)
  [ "$manifest" != kernel ] && pre=(env LD_PRELOAD="$shim" TMC_POLICY="$work/pp.yaml")
  "${pre[@]}" sockperf server --tcp -i 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  local server=$!
  sleep 0.5
  "${pre[@]}" timeout 30 sockperf ping-pong --tcp -i 127.0.0.1 -p "$port" -t 3 --full-rtt 2>&1 |
    awk '/percentile 50.000 =/ {p50=$NF} /percentile 99.000 =/ {p99=$NF} END {print (p50 ? p50 : 0), (p99 ? p99 : 0)}'
  kill "$server" 2>/dev/null
  wait "$server" 2>/dev/null
}
if command -v sockperf >/dev/null; then
  echo "== 5. sockperf TCP ping-pong on loopback, 3 s each (RTT, us) =="
  kernel=$(pingpong kernel)
  reliable=$(pingpong "{channel: pp, reliability: all, ordering: fifo}")
  unreliable=$(pingpong "{channel: pp, reliability: none, ordering: none}")
  python3 -c "
k, r, u = [list(map(float, x.split())) for x in ('$kernel', '$reliable', '$unreliable')]
print(f'kernel TCP p50 {k[0]:.1f} p99 {k[1]:.1f}')
for name, v in (('shim reliable', r), ('shim unreliable', u)):
    print(f'{name} p50 {v[0]:.1f} ({v[0]/k[0]:.2f}x kernel) p99 {v[1]:.1f} ({v[1]/k[1]:.2f}x kernel)')"
else
  echo "== 5. sockperf not installed: skipped =="
fi
