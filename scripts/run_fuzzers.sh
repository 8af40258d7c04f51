#!/usr/bin/env bash
# Runs every libFuzzer target for a short time, starting from its seed corpus
# under fuzz/corpus (read only: new inputs go to a temporary directory), and
# fails on the first crash, leak, sanitizer report or timeout, printing the
# input that caused it. A regression check for CI, not a fuzzing campaign
# (for that: build-fuzz/fuzz/fuzz_NAME -max_total_time=600 fuzz/corpus/NAME).
# Usage: scripts/run_fuzzers.sh [FUZZ_BIN_DIR=build-fuzz/fuzz] [SECONDS=20]
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build-fuzz/fuzz}
secs=${2:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# target -> seed corpus (none: it starts from nothing)
declare -A seeds=([tokenizer]=tokenizer [jinja]=jinja [json_schema]=json_schema [regex]=regex
                  [tool_calls]=tool_calls [openai_request]=json_schema [model_files]=)
fail=0
for name in tokenizer jinja json_schema regex tool_calls openai_request model_files; do
  exe="$bin/fuzz_$name"
  if [ ! -x "$exe" ]; then echo "run_fuzzers: $exe is missing (build it with make fuzz)"; fail=1; continue; fi
  mkdir -p "$work/$name/new" "$work/$name/crash"
  args=("$work/$name/new")
  [ -n "${seeds[$name]}" ] && args+=("fuzz/corpus/${seeds[$name]}")
  start=$(date +%s)
  "$exe" -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$work/$name/crash/" "${args[@]}" > "$work/$name/log" 2>&1
  rc=$?
  runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work/$name/log" | grep -o '[0-9]*$')
  if [ $rc -ne 0 ]; then
    fail=1
    echo "run_fuzzers: fuzz_$name FAILED (rc=$rc) after $(( $(date +%s) - start )) s"
    grep -E "ERROR|SUMMARY|runtime error|==[0-9]+==" "$work/$name/log" | head -20
    for f in "$work/$name/crash"/*; do
      [ -f "$f" ] || continue
      echo "--- input $f ($(wc -c < "$f") bytes):"
      head -c 2000 "$f" | od -c | head -40
    done
  else
    echo "run_fuzzers: fuzz_$name ok, ${runs:-?} inputs in $(( $(date +%s) - start )) s"
  fi
done
exit $fail
