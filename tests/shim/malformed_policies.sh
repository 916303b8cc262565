#!/usr/bin/env bash
# Every file in malformed/ must be rejected with "FILE:LINE:COL: message" (the position and
# text given on its first line, "# expect: LINE:COL text") and exit status 78:
#   1. by `tmc policy check FILE`;
#   2. by the shim itself, before main(): LD_PRELOAD=libtmc_shim.so TMC_POLICY=FILE /bin/true.
# Usage: malformed_policies.sh TMC_BINARY SHIM_LIBRARY
set -u
tmc=$1
shim=$2
dir=$(cd "$(dirname "$0")/malformed" && pwd)
failures=0
count=0
check() {  # check WHAT FILE EXPECTED_POSITION EXPECTED_TEXT STATUS OUTPUT
  local what=$1 file=$2 position=$3 text=$4 status=$5 output=$6
  if [ "$status" -ne 78 ]; then
    echo "FAIL ($what) $file: exit status $status, expected 78; output: $output"; failures=$((failures + 1)); return
  fi
  if ! grep -qF -- "$file:$position: " <<<"$output"; then
    echo "FAIL ($what) $file: no '$file:$position: ' in: $output"; failures=$((failures + 1)); return
  fi
  if ! grep -qF -- "$text" <<<"$output"; then
    echo "FAIL ($what) $file: no '$text' in: $output"; failures=$((failures + 1)); return
  fi
  echo "ok   ($what) $output"
}
for file in "$dir"/*.yaml; do
  expect=$(head -1 "$file" | sed -n 's/^# expect: //p')
  position=${expect%% *}
  text=${expect#* }
  count=$((count + 1))
  output=$("$tmc" policy check "$file" 2>&1); status=$?
  check "tmc policy check" "$file" "$position" "$text" "$status" "$output"
  output=$(LD_PRELOAD="$shim" TMC_POLICY="$file" /bin/echo main-ran 2>&1); status=$?
  if grep -q main-ran <<<"$output"; then
    echo "FAIL (shim) $file: main() ran despite the malformed policy"; failures=$((failures + 1))
  else
    check "shim" "$file" "$position" "$text" "$status" "$output"
  fi
done
# A policy file that does not exist is an error too, never a silent pass-through.
output=$(LD_PRELOAD="$shim" TMC_POLICY="$dir/does-not-exist.yaml" /bin/echo main-ran 2>&1); status=$?
if [ "$status" -ne 78 ] || grep -q main-ran <<<"$output"; then
  echo "FAIL (shim) missing TMC_POLICY file: status $status output $output"; failures=$((failures + 1))
fi
if [ "$count" -lt 10 ]; then echo "FAIL: only $count malformed policies"; failures=$((failures + 1)); fi
echo "$count malformed policies, $failures failure(s)"
[ "$failures" -eq 0 ]
