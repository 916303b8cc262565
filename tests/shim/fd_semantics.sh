#!/usr/bin/env bash
# The C test program run without and with the shim (a policy matching its port): identical
# observable results, and the shim really bridged the connections.
# Usage: fd_semantics.sh TMC_BINARY SHIM_LIBRARY FD_SEMANTICS_BINARY
source "$(dirname "$0")/lib.sh"
shim_test_init "$1" "$2"
program=$3
# closed_policy FILE PORT: also match PORT (nobody listens there) as a tcp-client.
closed_policy() {
  cat >>"$1" <<POLICY
  - name: test-closed
    role: tcp-client
    destination: 127.0.0.1
    port: $2
    manifest: {channel: shim-test, reliability: all, ordering: fifo}
    framing: stream
POLICY
  "$TMC" policy check -q "$1" || fail "generated policy invalid"
}
port=$(free_port)
closed=$(free_port)
"$program" "$port" "$closed" >"$WORK/kernel.txt" 2>&1 || { cat "$WORK/kernel.txt"; fail "kernel run failed"; }
port=$(free_port)
closed=$(free_port)
write_policy "$WORK/policy.yaml" "$port" stream
closed_policy "$WORK/policy.yaml" "$closed"
# The closed port must fail fast (ECONNREFUSED), not after the connect timeout.
TMC_CONNECT_TIMEOUT_MS=20000 timeout 15 "$TMC" run --policy "$WORK/policy.yaml" -- "$program" "$port" "$closed" >"$WORK/shim.txt" 2>"$WORK/shim.err" ||
  { cat "$WORK/shim.txt" "$WORK/shim.err"; fail "shim run failed"; }
# A second run with the shim's debug log shows that the connections really were bridged.
port=$(free_port)
write_policy "$WORK/policy.yaml" "$port" stream
TMC_LOG=debug timeout 60 "$TMC" run --policy "$WORK/policy.yaml" -- "$program" "$port" >"$WORK/debug.txt" 2>&1 ||
  { tail -30 "$WORK/debug.txt"; fail "shim run with TMC_LOG=debug failed"; }
grep -q "matched rule test-client" "$WORK/debug.txt" || fail "the shim did not match the client"
grep -q "matched rule test-server" "$WORK/debug.txt" || fail "the shim did not match the server"
diff -u "$WORK/kernel.txt" "$WORK/shim.txt" || fail "observable results differ with the shim"
echo "identical: $(grep -c '^ok' "$WORK/shim.txt") checks"
