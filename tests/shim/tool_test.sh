#!/usr/bin/env bash
# The `tmc` command: --help everywhere, usage errors, `run` (policy validated, static binaries
# refused, LD_PRELOAD set), `stats PID` (text and Prometheus) on a live shimmed process.
# Usage: tool_test.sh TMC_BINARY SHIM_LIBRARY STATIC_BINARY
source "$(dirname "$0")/lib.sh"
shim_test_init "$1" "$2"
static_binary=$3
for command in "" "run" "policy check" "stats" "policy"; do
  # shellcheck disable=SC2086
  "$TMC" $command --help >"$WORK/help.txt" 2>&1 || fail "tmc $command --help exited $?"
  grep -qi "usage" "$WORK/help.txt" || fail "tmc $command --help printed no usage"
done
"$TMC" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command must exit 2"
"$TMC" run >/dev/null 2>&1; [ $? -eq 2 ] || fail "tmc run without a program must exit 2"
"$TMC" stats notapid >/dev/null 2>&1; [ $? -eq 2 ] || fail "tmc stats notapid must exit 2"

# Static binaries are refused with a clear message.
output=$("$TMC" run -- "$static_binary" 2>&1); status=$?
[ $status -eq 126 ] || fail "static binary: status $status, expected 126 ($output)"
grep -q "statically linked" <<<"$output" || fail "static binary message: $output"
grep -q "static program ran" <<<"$output" && fail "static binary ran"

# A malformed policy stops `tmc run` before the program starts.
printf 'rules:\n  - role: nope\n' >"$WORK/bad.yaml"
output=$("$TMC" run --policy "$WORK/bad.yaml" -- /bin/echo ran 2>&1); status=$?
[ $status -eq 78 ] && grep -q "bad.yaml:2:11:" <<<"$output" && ! grep -q "^ran" <<<"$output" ||
  fail "malformed policy: status $status output $output"

# LD_PRELOAD and TMC_POLICY reach the program (and survive an execve that drops them).
port=$(free_port)
write_policy "$WORK/policy.yaml" "$port" stream
output=$("$TMC" run --policy "$WORK/policy.yaml" -- /bin/sh -c 'echo "$LD_PRELOAD|$TMC_POLICY"')
[ "$output" = "$SHIM|$WORK/policy.yaml" ] || fail "environment: $output"
output=$("$TMC" run --policy "$WORK/policy.yaml" -- /usr/bin/env -u LD_PRELOAD /bin/sh -c 'echo "$LD_PRELOAD"')
[ "$output" = "$SHIM" ] || fail "execve dropped LD_PRELOAD: '$output'"

# tmc stats on a live process holding a matched connection.
python=/usr/bin/python3; [ -x $python ] || python=python3
"$TMC" run --policy "$WORK/policy.yaml" -- $python "$(dirname "$0")/hold_connection.py" "$port" 20 >"$WORK/hold.txt" &
holder=$!
BG_PIDS+=($holder)
for _ in $(seq 100); do grep -q READY "$WORK/hold.txt" && break; sleep 0.1; done
grep -q READY "$WORK/hold.txt" || fail "holder did not start"
"$TMC" stats "$holder" >"$WORK/stats.txt" || fail "tmc stats failed"
grep -q "rule test-client" "$WORK/stats.txt" && grep -q "rule test-server" "$WORK/stats.txt" ||
  fail "stats text: $(cat "$WORK/stats.txt")"
grep -q "messages sent 5 (500 B)" "$WORK/stats.txt" || fail "stats counters: $(cat "$WORK/stats.txt")"
# The interposed send() took the direct path (no socketpair hop) for each write, on the
# connecting side and on the accepted side (its connection is found when accept() returns).
[ "$(grep -c "writes sent directly (no socketpair hop) 5$" "$WORK/stats.txt")" = 2 ] ||
  fail "direct writes: $(cat "$WORK/stats.txt")"
"$TMC" stats --prometheus "$holder" >"$WORK/prom.txt" || fail "tmc stats --prometheus failed"
grep -q '^tmc_shim_messages_sent_total{rule="test-client"' "$WORK/prom.txt" || fail "prometheus: $(cat "$WORK/prom.txt")"
"$TMC" stats 1 >/dev/null 2>&1; [ $? -eq 1 ] || fail "stats of a process without the shim must exit 1"

# A shimmed process in another network namespace (its abstract stats socket lives there): tmc
# stats joins the namespace. Root only; the namespace is removed on exit (lib.sh cleanup).
if [ "$(id -u)" = 0 ] && ip netns add "tmc-tool-$$" 2>/dev/null; then
  NETNS_NAMES+=("tmc-tool-$$")
  ip -n "tmc-tool-$$" link set lo up
  ip netns exec "tmc-tool-$$" "$TMC" run --policy "$WORK/policy.yaml" -- $python "$(dirname "$0")/hold_connection.py" "$port" 20 >"$WORK/hold-ns.txt" &
  ns_holder=$!
  BG_PIDS+=($ns_holder)
  for _ in $(seq 100); do grep -q READY "$WORK/hold-ns.txt" && break; sleep 0.1; done
  grep -q READY "$WORK/hold-ns.txt" || fail "holder in a netns did not start"
  "$TMC" stats "$ns_holder" >"$WORK/stats-ns.txt" 2>&1 || fail "tmc stats across netns: $(cat "$WORK/stats-ns.txt")"
  grep -q "messages sent 5 (500 B)" "$WORK/stats-ns.txt" || fail "stats across netns: $(cat "$WORK/stats-ns.txt")"
fi
echo "ok"
