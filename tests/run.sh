#!/usr/bin/env bash
# Runs every libTMC test on a fresh Debian 12 machine: installs what is missing, builds,
# runs ctest, then runs each libFuzzer target for a bounded time.
#   tests/run.sh                 everything
#   TMC_FUZZ_SECONDS=0 tests/run.sh   skip fuzzing
#   CTEST_ARGS="-R engine" tests/run.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/tests/deps.sh"
tmc_install_deps

jobs=$(nproc)
build="$root/build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs"

status=0
(cd "$build" && ctest --output-on-failure -j "$jobs" --timeout 300 ${CTEST_ARGS:-}) || status=$?

fuzz_seconds=${TMC_FUZZ_SECONDS:-20}
if [ "$fuzz_seconds" != "0" ]; then
  fuzz_build="$root/build-fuzz"
  CC=clang CXX=clang++ cmake -S "$root" -B "$fuzz_build" -DTMC_FUZZ=ON -DTMC_FUZZ_ONLY=ON -DTMC_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$fuzz_build" -j "$jobs"
  fuzz_pass=0; fuzz_fail=0
  for fuzzer in "$fuzz_build"/fuzz/*_fuzzer; do
    [ -x "$fuzzer" ] || continue
    name=$(basename "$fuzzer")
    corpus="$root/tests/fuzz/corpus/${name%_fuzzer}"
    work=$(mktemp -d)
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
    if "$fuzzer" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -print_final_stats=0 "$work" >"$work.log" 2>&1; then
      echo "fuzz $name: ok (${fuzz_seconds}s)"; fuzz_pass=$((fuzz_pass + 1))
    else
      echo "fuzz $name: FAILED"; tail -40 "$work.log"; fuzz_fail=$((fuzz_fail + 1)); status=1
    fi
    rm -rf "$work" "$work.log"
  done
  echo "fuzz: $fuzz_pass passed, $fuzz_fail failed"
fi
exit $status
