#!/usr/bin/env bash
# Installs the Debian packages libTMC builds and tests with, only when something is missing.
# Sourced by tests/run.sh and harness/demo.sh.
tmc_install_deps() {
  local packages=(
    build-essential cmake pkg-config git iproute2 procps psmisc
    libasio-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
    clang llvm libclang-rt-14-dev libbpf-dev bpftool libelf-dev zlib1g-dev
    iperf3 sockperf redis-server redis-tools socat python3 python3-yaml gnuplot-nox ethtool
  )
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # redis-server's package starts a system instance; tests start their own on free ports.
  if command -v systemctl >/dev/null 2>&1; then systemctl stop redis-server >/dev/null 2>&1 || true; fi
}
