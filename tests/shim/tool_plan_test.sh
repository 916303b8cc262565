#!/usr/bin/env bash
# `tmc plan MANIFEST [--capabilities FILE] [--self NAME]`: the transport plan and pipeline a
# manifest compiles to, and how capability variants change it (docs/transport.md); malformed
# input exits 78 with FILE:LINE:COL. Usage: tool_plan_test.sh TMC_BINARY
set -u
TMC=$1
WORK=$(mktemp -d /tmp/tmc-plan-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat >"$WORK/manifest.yaml" <<'YAML'
channel: demo
multicast:
  group: "239.1.2.3:7000"
  members:
    - {name: a, address: "10.0.0.1:7000"}
    - {name: b, address: "10.0.0.2:7000"}
    - {name: c, address: "10.0.0.3:7000"}
ordering: total
error_checking: crc32c
reliability: all
YAML
"$TMC" plan --help | grep -q "usage: tmc plan" || fail "tmc plan --help"
"$TMC" plan >/dev/null 2>&1; [ $? -eq 2 ] || fail "tmc plan without a manifest must exit 2"

expect() {  # expect CAPS-YAML-OR-EMPTY PATTERN...
  local caps=$1; shift
  local args=("$WORK/manifest.yaml" --self a)
  if [ -n "$caps" ]; then printf '%s\n' "$caps" >"$WORK/caps.yaml"; args+=(--capabilities "$WORK/caps.yaml"); fi
  local output
  output=$("$TMC" plan "${args[@]}" 2>&1) || fail "tmc plan ${args[*]} exited $?: $output"
  for pattern in "$@"; do grep -qF -- "$pattern" <<<"$output" || fail "missing '$pattern' in: $output"; done
}
expect "" "transport plan (no capabilities file)" "error_checking: crc32c (software)" \
  "IP multicast group 239.1.2.3:7000" "ordering: total (sequencer a)"
expect "defaults: {checksum_offload: true, ip_multicast: true, mtu: 9000}" \
  "error_checking: nic-offload -- checksum_offload declared for every member host (a, b, c)" \
  "multicast: ip-multicast 239.1.2.3:7000" "mtu: 9000" "(mtu 9000)"
expect "hosts: {a: {ebpf_fanout: true}}" "multicast: ebpf-fanout -- ip_multicast not declared for a, b, c" \
  "error_checking: crc32c (software) -- checksum_offload not declared for a, b, c"
expect "sequencer: c" "ordering: total (sequencer c) -- sequencer declared in" "failover order c, a, b"
expect 'sequencer: "10.0.0.9:7100"' "ordering: total (dedicated sequencer 10.0.0.9:7100) -- sequencer declared in" \
  "not a member" "failover order 10.0.0.9:7100, a, b, c" "3 member(s)"

# Malformed capabilities and manifests: FILE:LINE:COL, exit 78.
printf 'defaults:\n  mtu: 12\n' >"$WORK/bad_caps.yaml"
output=$("$TMC" plan "$WORK/manifest.yaml" --capabilities "$WORK/bad_caps.yaml" 2>&1); status=$?
[ $status -eq 78 ] && grep -q "bad_caps.yaml:2:" <<<"$output" || fail "bad capabilities: status $status: $output"
printf 'channel: x\nordering: sideways\n' >"$WORK/bad_manifest.yaml"
output=$("$TMC" plan "$WORK/bad_manifest.yaml" 2>&1); status=$?
[ $status -eq 78 ] && grep -q "bad_manifest.yaml:2:" <<<"$output" || fail "bad manifest: status $status: $output"
echo "ok"
