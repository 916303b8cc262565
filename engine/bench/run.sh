#!/bin/sh
# Builds tmc-bench (Release) and runs it; arguments go to tmc-bench (e.g. --json, --seconds 1).
#   engine/bench/run.sh                 # table
#   engine/bench/run.sh --json > out.json
# BUILD_DIR overrides the build directory (default: <repo>/build-bench).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$repo/build-bench}
jobs=${JOBS:-2}

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTMC_BPF=OFF >/dev/null
fi
if cmake --build "$build" --target help | grep -q 'tmc-bench'; then
  cmake --build "$build" --target tmc-bench -j"$jobs" >/dev/null
else
  # engine/CMakeLists.txt does not include bench/ yet: build the library, link by hand.
  cmake --build "$build" --target tmc -j"$jobs" >/dev/null
  g++ -std=c++20 -O2 -g -I"$repo/engine/include" "$here/tmc_bench.cpp" -o "$build/tmc-bench" \
    "$build/engine/libtmc.a" "$build/engine/libtmc_manifest.a" "$build/engine/libtmc_wire.a" \
    -lyaml-cpp -lspdlog -lfmt -lpthread -ldl
fi
exec "$build/tmc-bench" "$@"
