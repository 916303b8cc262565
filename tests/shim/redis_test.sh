#!/usr/bin/env bash
# redis-server + redis-cli + redis-benchmark, all under the shim; BGSAVE (fork) writes an RDB
# that a fresh server (also under the shim) reads back.
# Usage: redis_test.sh TMC_BINARY SHIM_LIBRARY
source "$(dirname "$0")/lib.sh"
shim_test_init "$1" "$2"
command -v redis-server >/dev/null || skip "redis not installed"
port=$(free_port)
write_policy "$WORK/policy.yaml" "$port" send-call
run() { timeout 60 "$TMC" run --policy "$WORK/policy.yaml" -- "$@"; }
start_bg "$TMC" run --policy "$WORK/policy.yaml" -- redis-server --port "$port" --bind 127.0.0.1 --save "" \
  --dir "$WORK" --dbfilename dump.rdb --daemonize no --logfile "$WORK/redis.log"
wait_port "$port" || fail "redis-server did not start"
[ "$(run redis-cli -p "$port" SET greeting hello)" = "OK" ] || fail "SET"
[ "$(run redis-cli -p "$port" GET greeting)" = "hello" ] || fail "GET"
run redis-benchmark -p "$port" -n 2000 -c 8 -t set,get -q >"$WORK/bench.txt" || { cat "$WORK/bench.txt"; fail "redis-benchmark"; }
grep -q "SET:" "$WORK/bench.txt" && grep -q "GET:" "$WORK/bench.txt" || fail "benchmark output: $(cat "$WORK/bench.txt")"
cat "$WORK/bench.txt"
for i in $(seq 100); do
  reply=$(run redis-cli -p "$port" RPUSH list "$i" 2>&1) || fail "RPUSH $i: $reply"
  [ "$reply" = "$i" ] || fail "RPUSH $i answered '$reply'"
done
run redis-cli -p "$port" BGSAVE | grep -q "Background saving started" || fail "BGSAVE"
for _ in $(seq 100); do
  [ "$(run redis-cli -p "$port" INFO persistence | tr -d '\r' | sed -n 's/^rdb_bgsave_in_progress://p')" = "0" ] &&
    [ -s "$WORK/dump.rdb" ] && break
  sleep 0.1
done
[ -s "$WORK/dump.rdb" ] || fail "no RDB after BGSAVE"
# redis-server exits right after answering; redis-cli returns once it reads EOF, which needs
# the shim to end connections at exit (as the kernel does for TCP) instead of hanging.
run redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1
status=$?
[ "$status" -ne 124 ] || fail "redis-cli SHUTDOWN hung: no EOF after the server exited"
sleep 0.5
port=$(free_port)
write_policy "$WORK/policy.yaml" "$port" send-call
start_bg "$TMC" run --policy "$WORK/policy.yaml" -- redis-server --port "$port" --bind 127.0.0.1 --save "" \
  --dir "$WORK" --dbfilename dump.rdb --daemonize no --logfile "$WORK/redis2.log"
wait_port "$port" || fail "second redis-server did not start"
[ "$(run redis-cli -p "$port" GET greeting)" = "hello" ] || fail "greeting not read back from the RDB"
length=$(run redis-cli -p "$port" LLEN list 2>&1)
[ "$length" = "100" ] || fail "list not read back from the RDB: LLEN answered '$length'"
echo "ok"
