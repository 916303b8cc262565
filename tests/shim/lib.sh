# Helpers for the shim's real-program tests (sourced). Usage in a test:
#   source lib.sh; shim_test_init "$@"   (args: TMC_BINARY SHIM_LIBRARY)
# Provides: $TMC $SHIM $WORK, $NETNS_NAMES (append the netns you create), free_port, start_bg CMD... (pid tracked and killed on exit),
# write_policy FILE RULES-YAML, wait_port PORT, fail MESSAGE.
set -u
shim_test_init() {
  TMC=$1
  SHIM=$2
  WORK=$(mktemp -d /tmp/tmc-shim-test.XXXXXX)
  BG_PIDS=()
  NETNS_NAMES=()  # network namespaces the test created: deleted on exit, after its processes
  trap shim_test_cleanup EXIT
  export TMC_SHIM_LIBRARY=$SHIM
  export TMC_CONNECT_TIMEOUT_MS=${TMC_CONNECT_TIMEOUT_MS:-5000}
}
shim_test_cleanup() {
  local pid
  for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  local ns
  for ns in "${NETNS_NAMES[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$WORK"
}
fail() {
  echo "FAIL: $*"
  exit 1
}
skip() {
  echo "SKIP: $*"
  exit 77
}
# A TCP port nothing listens on (the kernel's choice, released again).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
start_bg() {
  "$@" &
  BG_PIDS+=($!)
}
# wait_port PORT [SECONDS]: until something listens on PORT (kernel TCP or a shim AF_UNIX listener
# whose channel is bound on UDP PORT).
wait_port() {
  local port=$1 deadline=$((SECONDS + ${2:-10}))
  while [ $SECONDS -lt $deadline ]; do
    if ss -Hltn "sport = :$port" | grep -q . || ss -Hlun "sport = :$port" | grep -q . || ss -Hun "sport = :$port" | grep -q .; then
      return 0
    fi
    sleep 0.05
  done
  return 1
}
# write_policy FILE PORT FRAMING [MANIFEST-YAML]: tcp-client and tcp-server rules for 127.0.0.1:PORT.
write_policy() {
  local file=$1 port=$2 framing=$3 manifest=${4:-"{channel: shim-test, reliability: all, ordering: fifo}"}
  cat >"$file" <<POLICY
version: 1
rules:
  - name: test-server
    role: tcp-server
    local: 127.0.0.1
    port: $port
    manifest: $manifest
    framing: $framing
  - name: test-client
    role: tcp-client
    destination: 127.0.0.1
    port: $port
    manifest: $manifest
    framing: $framing
POLICY
  "$TMC" policy check -q "$file" || fail "generated policy invalid"
}
