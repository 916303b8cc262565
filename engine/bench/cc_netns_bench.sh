#!/bin/bash
# Issue 5's congestion-control benchmark: reliable stream goodput on a netns link with loss
# injected in the kernel, TMC `loss-tolerant` vs TMC `aimd` vs kernel TCP (cubic), same run.
#
#   sudo engine/bench/cc_netns_bench.sh [--losses 0,0.0025,0.005,0.01] [--seconds 3] [--rounds 5]
#                                       [--size 1400] [--tcp-write 131072] [--arms loss-tolerant,aimd,tcp,tcp-bbr]
#                                       [--keep-offloads] [--busy-poll-us 50]
#                                       [--cc-param KEY=VALUE]...   (loss-tolerant parameters)
#
# Topology: two netns (sender A 10.78.<k>.1, receiver B 10.78.<k>.2) joined by one veth pair,
# MTU 1500, TSO/GSO/GRO and UDP segmentation off on both ends (ethtool), so the injector sees
# wire-sized packets; with --keep-offloads TCP's TSO and the engine's UDP GSO super-packets are
# dropped whole. Loss: `tmc-loss` at the given rate on the INGRESS of both veths (data A->B
# and acks B->A), seeded per run. Per round every loss rate runs once, and per loss rate every
# arm, interleaved (round 1: 0% all arms, 1% all arms, 0.25% all arms, 0.5% all arms; then
# round 2): each round's figures are seconds apart, so the load of a shared host drifting
# during the run (minutes) does not land on one loss rate. Each run = one receiver process in
# B, one sender process in A for --seconds (bounded also in bytes), goodput measured by the
# receiver from its first to its last delivery. The table gives the median over rounds and the
# ratios: xTCP of the medians, "paired" the median of the per-round ratios arm / TCP, "x own 0%"
# of the medians and "paired 0%" the median of the per-round ratios to the arm's own figure at
# the first loss rate. Goals: loss-tolerant >= 2x TCP at 1% loss and >= 0.9x its own 0%-loss
# figure, judged on the paired ratios (each round's pair of runs seconds apart: a host whose
# speed drifts over minutes — a VM with busy neighbours — moves both runs of a pair alike, while
# it can move one loss rate's median against the other's); the ratios of the medians are
# printed beside them.
# The TMC arms run with the runtime's bounded busy poll (TMC_BUSY_POLL_US, docs/transport.md:
# a runtime thread that found work polls that long before it sleeps), --busy-poll-us 50 by
# default; --busy-poll-us 0 runs the library's default (off). Kernel TCP needs no such knob: its
# receive path runs in the sender's softirq, with no thread hand-off in user space.
# Cleanup (trap on EXIT/INT/TERM, also on failure): child processes by pid, both netns (with
# them the veths and tc filters).
# BUILD_DIR: build directory holding tmc-cc-netns-bench and ebpf/tmc-loss (default <repo>/build).
# RAW=file keeps every run's raw output lines.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$repo/build}
bench=$build/tmc-cc-netns-bench
loss_cli=$build/ebpf/tmc-loss

losses="0,0.0025,0.005,0.01"
seconds=3
rounds=5
size=1400        # TMC message size
tcp_write=131072 # TCP send() size (iperf3's default; sub-MSS writes cripple TCP under loss)
arms="loss-tolerant,aimd,tcp,tcp-bbr"  # tcp = kernel TCP cubic (the baseline), tcp-bbr = kernel BBR
keep_offloads=0
busy_poll_us=50
cc_params=()
while [ $# -gt 0 ]; do
  case "$1" in
    --losses) losses=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --tcp-write) tcp_write=$2; shift 2 ;;
    --arms) arms=$2; shift 2 ;;
    --keep-offloads) keep_offloads=1; shift ;;
    --busy-poll-us) busy_poll_us=$2; shift 2 ;;
    --cc-param) cc_params+=(--cc-param "$2"); shift 2 ;;   # for the loss-tolerant arm
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    *) echo "cc_netns_bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$busy_poll_us" =~ ^[0-9]+$ ]] || { echo "cc_netns_bench: --busy-poll-us takes a whole number of microseconds" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "cc_netns_bench: needs root (netns, tc, BPF)" >&2; exit 1; }
for tool in "$bench" "$loss_cli"; do
  [ -x "$tool" ] || { echo "cc_netns_bench: $tool missing: cmake --build $build --target tmc-cc-netns-bench tmc-loss" >&2; exit 1; }
done

k=$(( ($$ % 200) + 20 ))           # subnet byte: unique per run
ns_a="tmccc$$a"; ns_b="tmccc$$b"
ip_a="10.78.$k.1"; ip_b="10.78.$k.2"
work=$(mktemp -d /tmp/cc_netns_bench.XXXXXX)
pids=()
cleanup() {
  local pid
  # Our children by pid, then whatever still runs inside our two netns (only our processes
  # are there), so a deleted netns cannot be kept alive by a leftover worker.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in $(ip netns pids "$ns_a" 2>/dev/null) $(ip netns pids "$ns_b" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns exec "$ns_a" "$loss_cli" detach --dev eth0 >/dev/null 2>&1 || true
  ip netns exec "$ns_b" "$loss_cli" detach --dev eth0 >/dev/null 2>&1 || true
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns_a"
ip netns add "$ns_b"
ip -n "$ns_a" link add eth0 type veth peer name eth0 netns "$ns_b"
ip -n "$ns_a" addr add "$ip_a/24" dev eth0
ip -n "$ns_b" addr add "$ip_b/24" dev eth0
for ns in "$ns_a" "$ns_b"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 mtu 1500 up
  # tx-udp-segmentation is separate from gso: with it on, the engine's UDP GSO super-packets
  # would cross the veth (and be dropped) whole.
  [ "$keep_offloads" = 1 ] || ip netns exec "$ns" ethtool -K eth0 tso off gso off gro off tx-udp-segmentation off
done

port=7100
# Runs in the main shell (not in $(...)), so the trap sees every worker pid, and waits with the
# `wait` builtin, which a trapped INT/TERM interrupts at once.
run_once() {  # arm loss round -> appends "arm loss round goodput_MBps retrans rtt_us cpu_us_per_MB dropped" to $results
  local arm=$1 loss=$2 round=$3 transport=tmc cc=$1 params=()
  [ "$arm" = tcp ] && { transport=tcp; cc=none; params=(--tcp-cc cubic); }
  [ "$arm" = tcp-bbr ] && { transport=tcp; cc=none; params=(--tcp-cc bbr); }
  [ "$arm" = loss-tolerant ] && params=("${cc_params[@]}")
  port=$((port + 2))
  local self_b="$ip_b:$port" self_a="$ip_a:$((port + 1))"
  local out_r="$work/r.$arm.$loss.$round" out_s="$work/s.$arm.$loss.$round"
  if [ "$loss" = 0 ]; then
    ip netns exec "$ns_a" "$loss_cli" detach --dev eth0 >/dev/null 2>&1 || true
    ip netns exec "$ns_b" "$loss_cli" detach --dev eth0 >/dev/null 2>&1 || true
  else
    ip netns exec "$ns_a" "$loss_cli" attach --dev eth0 --rate "$loss" --seed $((round * 2 + 1)) >/dev/null
    ip netns exec "$ns_b" "$loss_cli" attach --dev eth0 --rate "$loss" --seed $((round * 2 + 2)) >/dev/null
  fi
  ip netns exec "$ns_b" env TMC_BUSY_POLL_US="$busy_poll_us" "$bench" receive --transport "$transport" --cc "$cc" --self "$self_b" --peer "$self_a" \
    --idle-seconds 1.5 --max-seconds $((seconds * 3 + 10)) >"$out_r" 2>&1 &
  local receiver=$!
  pids+=("$receiver")
  local waited=0
  until grep -q READY "$out_r" 2>/dev/null; do
    sleep 0.05; waited=$((waited + 1))
    [ $waited -lt 100 ] || { echo "cc_netns_bench: receiver did not start: $(cat "$out_r")" >&2; exit 1; }
  done
  ip netns exec "$ns_a" env TMC_BUSY_POLL_US="$busy_poll_us" timeout $((seconds + 15)) "$bench" send --transport "$transport" --cc "$cc" \
    --self "$self_a" --peer "$self_b" --seconds "$seconds" --size "$size" --tcp-write "$tcp_write" "${params[@]}" >"$out_s" 2>&1 &
  local sender=$!
  pids+=("$sender")
  wait "$sender" || { echo "cc_netns_bench: sender failed: $(cat "$out_s")" >&2; exit 1; }
  wait "$receiver" || { echo "cc_netns_bench: receiver failed: $(cat "$out_r")" >&2; exit 1; }
  pids=()
  local dropped="-"
  if [ "$loss" != 0 ]; then
    dropped=$(ip netns exec "$ns_b" "$loss_cli" stats --dev eth0 | sed -n 's/.*seen=\([0-9]*\) dropped=\([0-9]*\).*/\2\/\1/p')
  fi
  [ -n "${RAW:-}" ] && { echo "== $arm loss=$loss round=$round injector(B ingress dropped/seen)=$dropped"; cat "$out_r" "$out_s"; } >>"$RAW"
  local goodput retrans rtt cpu_r cpu_s bytes
  goodput=$(sed -n 's/^RESULT.*goodput_MBps=\([0-9.]*\).*/\1/p' "$out_r")
  bytes=$(sed -n 's/^RESULT bytes=\([0-9]*\).*/\1/p' "$out_r")
  cpu_r=$(sed -n 's/^RESULT.*receiver_cpu_s=\([0-9.]*\).*/\1/p' "$out_r")
  cpu_s=$(sed -n 's/^SENDER .*sender_cpu_s=\([0-9.]*\).*/\1/p' "$out_s")
  if [ "$transport" = tcp ]; then
    retrans=$(sed -n 's/^SENDER_TCP total_retrans=\([0-9]*\).*/\1/p' "$out_s")
    rtt=$(sed -n 's/^SENDER_TCP.* rtt_us=\([0-9]*\).*/\1/p' "$out_s")
  else
    retrans=$(sed -n 's/^SENDER_ENGINE.* retransmissions=\([0-9]*\).*/\1/p' "$out_s")
    rtt=$(sed -n 's/^SENDER_ENGINE.* srtt_us=\([0-9.]*\).*/\1/p' "$out_s")
  fi
  local cpu_per_mb
  cpu_per_mb=$(awk -v b="${bytes:-0}" -v r="${cpu_r:-0}" -v s="${cpu_s:-0}" 'BEGIN{v = 0; if (b > 0) v = (r + s) / (b / 1e6) * 1e6; printf "%.1f", v}')
  local line="$arm $loss $round ${goodput:-0} ${retrans:-0} ${rtt:-0} $cpu_per_mb $dropped"
  echo "  $line" >&2
  echo "$line" >>"$results"
}

IFS=, read -ra loss_list <<<"$losses"
IFS=, read -ra arm_list <<<"$arms"
results="$work/results"
: >"$results"
echo "cc_netns_bench: TMC arms with TMC_BUSY_POLL_US=$busy_poll_us; $(uptime)" >&2
# Within a round the first and the last loss rate run first, back to back (0%, 1%, then 0.25%,
# 0.5%): the goals compare an arm at the last rate with the same arm at the first and with TCP
# at the last, so those runs are a loss block apart (seconds), not the whole round (a minute
# with four arms and four rates, long enough for a shared host's load to move).
run_order=("${loss_list[0]}")
[ "${#loss_list[@]}" -gt 1 ] && run_order+=("${loss_list[-1]}")
for ((i = 1; i + 1 < ${#loss_list[@]}; i++)); do run_order+=("${loss_list[i]}"); done
for round in $(seq 1 "$rounds"); do
  for loss in "${run_order[@]}"; do
    for arm in "${arm_list[@]}"; do
      run_once "$arm" "$loss" "$round"
    done
  done
done
echo "cc_netns_bench: done, $(uptime)" >&2

# Table: median goodput per (arm, loss) over rounds, ratios within the same run.
awk -v arms="$arms" -v losses="$losses" '
  function median(list,   n, v, i, j, t) {
    n = split(list, v, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  { key = $1 SUBSEP $2; g[key] = g[key] " " $4; r[key] = r[key] " " $5; t[key] = t[key] " " $6; c[key] = c[key] " " $7
    run[$1 SUBSEP $2 SUBSEP $3] = $4 }
  END {
    na = split(arms, A, ","); nl = split(losses, L, ",")
    # xTCP paired: the median over rounds of (arm / TCP in the same round, seconds apart);
    # own paired: of (arm at this loss / the same arm at the first loss rate, same round).
    for (k in run) { split(k, part, SUBSEP); tk = "tcp" SUBSEP part[2] SUBSEP part[3]
      if ((tk in run) && run[tk] > 0) paired[part[1] SUBSEP part[2]] = paired[part[1] SUBSEP part[2]] " " run[k] / run[tk]
      ok = part[1] SUBSEP L[1] SUBSEP part[3]
      if ((ok in run) && run[ok] > 0) own[part[1] SUBSEP part[2]] = own[part[1] SUBSEP part[2]] " " run[k] / run[ok] }
    printf "%-14s %7s %12s %8s %8s %9s %9s %9s %10s %10s\n", "arm", "loss", "goodput MB/s", "xTCP", "paired", "x own 0%", "paired 0%", "retrans", "rtt us", "cpu us/MB"
    for (i = 1; i <= nl; i++) for (a = 1; a <= na; a++) {
      key = A[a] SUBSEP L[i]; base = A[a] SUBSEP L[1]; tcp = "tcp" SUBSEP L[i]
      m = median(g[key]); mt = (tcp in g) ? median(g[tcp]) : 0; m0 = median(g[base])
      gm[key] = m; pm[key] = (key in paired) ? median(paired[key]) : 0; om[key] = (key in own) ? median(own[key]) : 0
      # (ratios computed first: a ">" inside a print list is output redirection to mawk)
      xt = 0; if (mt > 0) xt = m / mt
      x0 = 0; if (m0 > 0) x0 = m / m0
      printf "%-14s %6.2f%% %12.1f %8.2f %8.2f %9.2f %9.2f %9d %10.1f %10.1f\n", A[a], 100 * L[i], m, xt,
             pm[key], x0, om[key], median(r[key]), median(t[key]), median(c[key])
    }
    lt = "loss-tolerant"; worst = L[nl]
    if ((lt SUBSEP worst) in g && ("tcp" SUBSEP worst) in g) {
      dt = gm["tcp" SUBSEP worst]; d0 = gm[lt SUBSEP L[1]]
      x = (dt > 0 ? gm[lt SUBSEP worst] / dt : 0)
      y = (d0 > 0 ? gm[lt SUBSEP worst] / d0 : 0)
      px = pm[lt SUBSEP worst]; py = om[lt SUBSEP worst]
      printf "\nGoals at %.2f%% loss (judged on the per-round paired ratios): loss-tolerant %.2fx TCP (goal >= 2x) %s; %.2fx its own %.2f%% figure (goal >= 0.9x) %s. Ratios of the medians: %.2fx TCP, %.2fx own.\n",
             100 * worst, px, (px >= 2 ? "met" : "NOT met"), py, 100 * L[1], (py >= 0.9 ? "met" : "NOT met"), x, y
      if (("tcp-bbr" SUBSEP worst) in g && gm["tcp-bbr" SUBSEP worst] > 0)
        printf "Against kernel BBR at %.2f%% loss: loss-tolerant %.2fx\n", 100 * worst, gm[lt SUBSEP worst] / gm["tcp-bbr" SUBSEP worst]
    }
  }' "$results"
