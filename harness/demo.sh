#!/usr/bin/env bash
# harness/demo.sh — the two-minute libTMC demo (README command #1).
#
# On a fresh Debian 12 machine: installs what is missing (tests/deps.sh), builds only what the
# demo runs, then runs harness/experiments/demo.yaml: the same unmodified replicated key-value
# store (1 client, 3 replicas in network namespaces) over kernel TCP and over TMC, at 0% and 1%
# packet loss injected by the eBPF loss injector. Prints a table and the path of the plot.
#
#   harness/demo.sh                  build into ./build (or $TMC_BUILD) and run
#   TMC_DEMO_SKIP_DEPS=1 harness/demo.sh   do not check/install Debian packages
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TMC_BUILD:-$root/build}
jobs=$(nproc)

say() { printf '\n== %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  cat >&2 <<EOF
demo: this demo builds network namespaces and attaches an eBPF loss injector, which needs root.
      Rerun as root (sudo $0), or run the loopback-only variant, where only the TMC arm can get
      loss (from the engine's user-space fault injector):
        $root/harness/ab $root/harness/experiments/demo.yaml --loopback --build $build
EOF
  exit 77
fi

if [ -z "${TMC_DEMO_SKIP_DEPS:-}" ]; then
  say "checking Debian packages (tests/deps.sh)"
  # shellcheck source=../tests/deps.sh
  source "$root/tests/deps.sh"
  tmc_install_deps
fi

say "building the demo's binaries into $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target kv_server kv_client tmc-loss -j "$jobs" >"$build/demo-build.log" 2>&1 || {
  tail -30 "$build/demo-build.log" >&2
  echo "demo: build failed (full log: $build/demo-build.log)" >&2
  exit 1
}
if ! cmake --build "$build" --target tmc_shim -j "$jobs" >>"$build/demo-build.log" 2>&1; then
  echo "demo: the TMC shim did not build (see $build/demo-build.log); the TMC arm will show n/a" >&2
fi

cat <<'EOF'

== what runs
A replicated key-value store — a client and 3 replicas, each in its own network namespace —
does GETs and PUTs as fast as it can. Every operation goes to all 3 replicas and completes
when 2 of them answer alike (like TAPIR's inconsistent replication); without 2 answers within
500 ms the client retries. The binaries are plain POSIX-socket programs that know nothing of TMC.

  TCP arm: the binaries as they are, over kernel TCP.
  TMC arm: the same binaries with LD_PRELOAD=libtmc_shim.so and a policy
           (harness/experiments/policies/kv-reliable-tcp.yaml): each connection becomes a TMC
           message channel that retransmits a lost message within a millisecond (kernel TCP
           waits at least 200 ms) and never holds later messages back behind it.
  TMC group arm: the same binaries in their UDP mode, sending each request once to a virtual
           group address; the policy (harness/experiments/policies/kv-reliable.yaml) fans it out
           to the 3 replicas and retransmits within a millisecond until 2 of 3 acknowledged.

Each arm runs at 0% and then 1% packet loss (dropped in the kernel by an eBPF program on every
host's network interface), twice for 8 seconds. About 2 minutes.
EOF
say "running harness/experiments/demo.yaml"
status=0
"$root/harness/ab" "$root/harness/experiments/demo.yaml" --build "$build" || status=$?
cat <<'EOF'

How to read it: "throughput" is completed operations per second (higher is better), the
median of the repetitions with the range in brackets. "ratio to TCP" divides each arm by kernel
TCP at the same loss; "share of 0%-loss" shows how much of its own loss-free speed an arm keeps
when 1% of packets are dropped. Figure 2 at full length: harness/ab harness/experiments/figure2.yaml
EOF
exit $status
