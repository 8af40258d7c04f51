#!/usr/bin/env bash
# The MoE op (bench_cuda_gemm --moe-only) kernel by kernel on the H200: ncu
# durations of the first call's kernels (the automatic path, run eagerly
# before graph capture), at the GPU's own clocks and without cache flushes,
# so that each kernel sees the L2 its predecessor left. ncu serializes the
# kernels (no PDL overlap): the sum reads a little above the graph's time.
# Usage (repository root, after a build of bench_cuda_gemm in $BUILD):
#   MOE_TOKENS=4096 MOE_DTYPE=fp8 [BUILD=build-gpu] bash bench/moe_breakdown.sh
# Extra environment (e.g. SABLE_MOE_WGMMA_NO_EPILOGUE=1) passes through.
set -u
BUILD=${BUILD:-build-gpu}
T=${MOE_TOKENS:-4096}
DT=${MOE_DTYPE:-fp8}
NCU=${NCU:-$(command -v ncu || echo /opt/nvidia/nsight-compute/2025.3.1/ncu)}
"$NCU" --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \
  --kernel-name "regex:moe_|quantize_act|gather_rows" --launch-count 12 \
  ./"$BUILD"/bench/bench_cuda_gemm --moe-only --tokens "$T" --dtype "$DT" 2>/dev/null |
  python3 -c '
import csv, sys
rows = [r for r in csv.reader(l for l in sys.stdin if l.startswith("\""))]
hdr = rows[0]; ki = hdr.index("Kernel Name"); vi = hdr.index("Metric Value"); ui = hdr.index("Metric Unit")
gi = hdr.index("Grid Size") if "Grid Size" in hdr else None
tot = 0.0
print("| # | kernel | grid | us |")
print("|---:|---|---|---:|")
for i, r in enumerate(rows[1:]):
    v = float(r[vi].replace(",", "")); u = r[ui]
    us = v / 1e3 if u == "nsecond" else v * 1e3 if u == "msecond" else v if u == "usecond" else v / 1e3
    tot += us
    grid = r[gi] if gi is not None else "-"
    print(f"| {i} | {r[ki][:60]} | {grid} | {us:.1f} |")
print(f"| | sum | | {tot:.1f} |")
'
