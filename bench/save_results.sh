#!/usr/bin/env bash
# Copies what bench/gpu_run.sh left under $OUT (fetched by the device tool to
# a local folder) into bench/results/<date>-<commit>.md: the run's summary
# (commit, GPU, command, tables) followed by the raw benchmark outputs.
# Usage: bench/save_results.sh /work/.device/<n>    (the reply's files_at)
set -euo pipefail
src=${1:?usage: bench/save_results.sh FOLDER_WITH_summary.md}
cd "$(dirname "$0")/.."
# gpu_run.sh packs the raw outputs into raw.tar.gz (the device tool returns at most 8 files).
if [ -f "$src/raw.tar.gz" ]; then
  tmp=$(mktemp -d)
  cp "$src"/summary.md "$tmp"/
  tar -xzf "$src/raw.tar.gz" -C "$tmp"
  src=$tmp
fi
commit=$(grep -m1 '^- commit:' "$src/summary.md" | awk '{print $3}')
date=$(grep -m1 '^- date:' "$src/summary.md" | awk '{print $3}' | cut -c1-10)
out="bench/results/${date:-$(date -u +%F)}-${commit:-unknown}.md"
{
  cat "$src/summary.md"
  for f in bench_attention.txt bench_ops.txt bench_gemm.txt; do
    [ -f "$src/$f" ] && { echo; echo "## $f"; echo '```'; cat "$src/$f"; echo '```'; }
  done
  [ -f "$src/peers.jsonl" ] && { echo; echo "## torch_kernel_peers.py"; echo '```'; cat "$src/peers.jsonl"; echo '```'; }
} > "$out"
echo "wrote $out"
