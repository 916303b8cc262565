#!/usr/bin/env bash
# socat (blocking, poll()-based) client and a forking socat echo server (fork per connection:
# the child serves a connection the parent's bridge carries), both under the shim.
# Usage: socat_test.sh TMC_BINARY SHIM_LIBRARY
source "$(dirname "$0")/lib.sh"
shim_test_init "$1" "$2"
command -v socat >/dev/null || skip "socat not installed"
port=$(free_port)
write_policy "$WORK/policy.yaml" "$port" stream
start_bg "$TMC" run --policy "$WORK/policy.yaml" -- socat TCP-LISTEN:"$port",bind=127.0.0.1,reuseaddr,fork SYSTEM:cat
wait_port "$port" || fail "server did not start"
for i in 1 2 3; do
  head -c $((100000 * i + 7)) /dev/urandom >"$WORK/in.$i"
  timeout 30 "$TMC" run --policy "$WORK/policy.yaml" -- socat -t 5 - TCP:127.0.0.1:"$port" <"$WORK/in.$i" >"$WORK/out.$i" ||
    fail "client $i failed"
  cmp "$WORK/in.$i" "$WORK/out.$i" || fail "echo $i differs"
done
# Two clients at once (two forked server children).
timeout 30 "$TMC" run --policy "$WORK/policy.yaml" -- socat -t 5 - TCP:127.0.0.1:"$port" <"$WORK/in.3" >"$WORK/out.a" &
a=$!
timeout 30 "$TMC" run --policy "$WORK/policy.yaml" -- socat -t 5 - TCP:127.0.0.1:"$port" <"$WORK/in.2" >"$WORK/out.b" || fail "client b"
wait $a || fail "client a"
cmp "$WORK/in.3" "$WORK/out.a" && cmp "$WORK/in.2" "$WORK/out.b" || fail "concurrent echoes differ"
echo "ok"
