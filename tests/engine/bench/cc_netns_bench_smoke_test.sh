#!/bin/bash
# Smoke test of issue 5's benchmark script (engine/bench/cc_netns_bench.sh): one short round of
# loss-tolerant and kernel TCP at 0% and 1% loss. Asserts that every run delivered data, that
# the injector dropped about 1% of what it saw, that the table and the goal line are printed
# (no figure is judged: timing goals live in the benchmark), and that the script removed its
# netns. Exit 77 (skipped) without root, netns or BPF.
#   cc_netns_bench_smoke_test.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: cc_netns_bench_smoke_test.sh BUILD_DIR}
repo=$(cd "$(dirname "$0")/../../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (netns, tc, BPF)"; exit 77; }
probe="tmccsmoke$$"
ip netns add "$probe" 2>/dev/null || { echo "SKIP: network namespaces are not permitted here"; exit 77; }
ip netns del "$probe"
out=$(mktemp /tmp/cc_smoke.XXXXXX); raw=$(mktemp /tmp/cc_smoke_raw.XXXXXX)
trap 'rm -f "$out" "$raw"' EXIT
fail() { echo "FAIL: $*"; echo "--- output"; cat "$out"; exit 1; }

BUILD_DIR=$build RAW=$raw "$repo/engine/bench/cc_netns_bench.sh" --arms loss-tolerant,tcp \
  --losses 0,0.01 --rounds 1 --seconds 1 >"$out" 2>&1 &
bench=$!  # the script's pid: its netns are tmccc<pid>a and tmccc<pid>b
waited=0
while kill -0 $bench 2>/dev/null && [ $waited -lt 600 ]; do sleep 0.2; waited=$((waited + 1)); done
kill -TERM $bench 2>/dev/null  # bound in time: 120 s (the script cleans up on TERM)
wait $bench
status=$?
if [ $status != 0 ]; then
  # The loss injector is a tc BPF program: where loading it is refused, skip (with the reason).
  grep -qiE "operation not permitted|bpf.*(denied|refused|EPERM)" "$out" && { echo "SKIP: BPF not permitted: $(grep -iE 'permitted|bpf' "$out" | head -2)"; exit 77; }
  fail "the benchmark exited with $status"
fi

# One result line per run: "arm loss round goodput retrans rtt cpu dropped/seen".
runs=$(grep -cE "^  (loss-tolerant|tcp) " "$out")
[ "$runs" = 4 ] || fail "expected 4 runs, saw $runs"
while read -r arm loss round goodput _ _ _ dropped; do
  awk -v g="$goodput" 'BEGIN{exit !(g > 0)}' || fail "$arm at $loss delivered nothing"
  if [ "$loss" = 0.01 ]; then
    # Both directions lose 1%; the receiver's ingress saw the data: 0.5%..2% of it dropped.
    awk -v d="$dropped" 'BEGIN{split(d, p, "/"); exit !(p[2] > 1000 && p[1] / p[2] > 0.005 && p[1] / p[2] < 0.02)}' ||
      fail "$arm at 1%: the injector dropped $dropped"
  fi
done < <(grep -E "^  (loss-tolerant|tcp) " "$out" | sed 's/^  //')
# Run order: 0% then 1% (the first and the last rate back to back), every arm in each.
order=$(grep -E "^  (loss-tolerant|tcp) " "$out" | awk '{print $1 "@" $2}' | tr '\n' ' ')
[ "$order" = "loss-tolerant@0 tcp@0 loss-tolerant@0.01 tcp@0.01 " ] || fail "run order: $order"
grep -qE "^loss-tolerant +1\.00%" "$out" || fail "no table row for loss-tolerant at 1%"
grep -qE "^Goals at 1\.00% loss \(judged on the per-round paired ratios\)" "$out" || fail "no goal line"
grep -q "SENDER_ENGINE .*retransmissions=" "$raw" || fail "RAW holds no engine statistics"
grep -q "TMC arms with TMC_BUSY_POLL_US=50;" "$out" || fail "the TMC arms' busy poll is not the documented default"
# Cleanup: neither netns of this benchmark run is left.
left=$(ip netns list | grep -cE "^tmccc${bench}[ab]( |$)" || true)
[ "$left" = 0 ] || fail "$left benchmark netns left behind: $(ip netns list | grep "^tmccc${bench}")"
echo "PASS: 4 runs, 1% injected both ways, table and goal line printed, netns removed"
