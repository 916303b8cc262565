#!/usr/bin/env bash
# Issue 3's netns benchmarks and the Figure 2 TCP-mode arms, each against kernel TCP measured in
# the same harness run (loss: the eBPF injector on every host's ingress; needs root + BPF).
#   netns_benchmark.sh BUILD_DIR [SECONDS] [PARTS]
# PARTS: comma-separated subset of stream,pingpong,kv (default: all three). REPETITIONS=N runs
# each arm N times and reports the medians (default 1).
# 1. reliable stream: iperf3 under the shim (policies/iperf3.yaml) vs kernel TCP, 0% and 1% loss
#    (goal >= 0.5x at 0%, >= 2x at 1%), twice: offloads nic (the injector drops wire-sized
#    packets: senders segment, receivers GRO; what "1% loss" means on a real wire) and offloads
#    keep (TSO/GSO super-packets dropped whole: bursts of up to ~44 packets; for comparison with
#    earlier figures). See harness/tmcab/topology.py;
# 2. sockperf TCP ping-pong (policies/sockperf.yaml) vs kernel TCP: p50/p99 at 0% and 1% loss
#    (goal: p99 <= 2 ms at 1%, kernel TCP ~ 100-200 ms there);
# 3. the replicated KV store (harness/experiments/figure2.yaml), arms TCP, TMC unreliable and
#    TMC reliable at 0% and 1% (issue 6: unreliable >= 2x TCP at 1%; reliable >= 0.8 of its own
#    0%-loss throughput).
# Results folders land in BUILD_DIR/harness/results/; the figures printed here are ratios.
set -u
build=$(cd "$1" && pwd)
seconds=${2:-5}
parts=",${3:-stream,pingpong,kv},"
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d "${TMPDIR:-/tmp}/tmc-netns-bench.XXXXXX")
trap 'rm -rf "$out"' EXIT
echo "load: $(uptime | sed 's/.*load average: //')"

run() {  # run NAME EXPERIMENT [ab options...]
  local name=$1 experiment=$2
  shift 2
  local folder="$build/harness/results/netns-bench-$name-$(date +%Y%m%d-%H%M%S)"
  "$repo/harness/ab" "$experiment" --build "$build" --duration "$seconds" --repetitions "${REPETITIONS:-1}" --out "$folder" \
      --quiet "$@" >"$out/$name.log" 2>&1
  local status=$?
  # ab exits 1 when some runs failed (their errors are in runs.csv): the others still count.
  if [ $status -gt 1 ] || [ ! -f "$folder/results.json" ]; then
    echo "$name: harness failed (exit $status): $(tail -3 "$out/$name.log")" >&2
    return 1
  fi
  [ $status -eq 0 ] || echo "  $name: some runs failed, see $folder/runs.csv" >&2
  echo "$folder"
}

report() {  # report RESULTS_FOLDER METRIC BASELINE_ARM
  python3 - "$1/results.json" "$2" "$3" <<'PY'
import json, sys
path, metric, base = sys.argv[1:]
runs = json.load(open(path))["runs"]
value = {}
for r in runs:
    if r["status"] == "ok":
        value.setdefault((r["arm"], r["loss"]), []).append(r["metrics"][metric])
med = {k: sorted(v)[len(v) // 2] for k, v in value.items()}
arms = sorted({a for a, _ in med}, key=lambda a: (a != base, a))
losses = sorted({l for _, l in med})
for loss in losses:
    b = med.get((base, loss))
    cells = []
    for arm in arms:
        v = med.get((arm, loss))
        if v is None:
            cells.append(f"{arm} failed")
        elif arm == base or not b:
            cells.append(f"{arm} {v:.4g}")
        else:
            cells.append(f"{arm} {v:.4g} ({v / b:.3g}x {base})")
    print(f"  {metric} @ {loss * 100:g}% loss: " + "; ".join(cells))
for arm in arms:
    zero, one = med.get((arm, 0.0)), med.get((arm, 0.01))
    if zero and one:
        print(f"  {arm}: {metric} at 1% = {one / zero:.3g} of its 0%-loss value")
PY
}

if [[ $parts == *,stream,* ]]; then
for offloads in nic keep; do
echo "== 1. reliable stream (iperf3) under the shim vs kernel TCP, netns, 0% and 1% loss, offloads $offloads =="
if folder=$(run "stream-$offloads" "$repo/tests/shim/bench/stream-netns.yaml" --offloads "$offloads"); then
  report "$folder" gbit_per_s TCP
  report "$folder" gbit_per_s "TCP bbr"
  report "$folder" cpu_us_per_kib TCP
  grep -h "Loss measured" "$folder/summary.md" | sed 's/^/  /'
fi
done
fi
if [[ $parts == *,pingpong,* ]]; then
echo "== 2. sockperf TCP ping-pong under the shim vs kernel TCP, netns, 0% and 1% loss =="
if folder=$(run pingpong "$repo/tests/shim/bench/pingpong-netns.yaml"); then
  report "$folder" p50_us TCP
  report "$folder" p99_us TCP
fi
fi
if [[ $parts == *,kv,* ]]; then
echo "== 3. replicated KV store (Figure 2 TCP-mode arms), netns, 0% and 1% loss =="
if folder=$(run kv "$repo/harness/experiments/figure2.yaml" --arms "TCP,TMC unreliable,TMC reliable" --loss 0,1%); then
  report "$folder" txn_per_s TCP
  report "$folder" p50_us TCP
fi
fi
