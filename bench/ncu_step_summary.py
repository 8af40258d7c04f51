#!/usr/bin/env python3
"""Per-kernel table of one decode step from an Nsight Compute CSV.

bench/gpu_run.sh (PROFILE_DECODE=1) runs
  ncu --profile-from-start off --clock-control none \
      --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv --page raw \
      bench_gpu_e2e --profile ...
which profiles the kernels of exactly one decode step per batch size (the
step bench_gpu_e2e runs between cudaProfilerStart/Stop, graph nodes one by
one). This prints them in launch order and grouped by kernel, with each
kernel's DRAM read rate, so the gap between a step and its memory floor can
be attributed.  Usage: ncu_step_summary.py ncu.csv [--bandwidth-gbs 4200]
"""
import argparse
import csv
import re
import sys
from collections import OrderedDict


def short(name):
    name = re.sub(r"\(.*", "", name)            # drop the argument list
    name = re.sub(r"^void ", "", name)
    name = re.sub(r"sable::cuda::(\(anonymous namespace\)::)?", "", name)
    return name[:70]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--bandwidth-gbs", type=float, default=0)
    args = ap.parse_args()
    rows = []
    with open(args.csv, newline="") as f:
        lines = [l for l in f if l.startswith('"')]
    for r in csv.DictReader(lines):
        if not r.get("ID", "").isdigit():
            continue
        t = float(r.get("gpu__time_duration.sum", "0").replace(",", "") or 0)
        b = float(r.get("dram__bytes_read.sum", "0").replace(",", "") or 0)
        rows.append((short(r.get("Kernel Name", "?")), r.get("Grid Size", ""), t, b))
    if not rows:
        print("no kernels in", args.csv)
        return 1
    # ncu reports ns and bytes in --print-units base.
    total_t = sum(r[2] for r in rows)
    total_b = sum(r[3] for r in rows)
    bw = args.bandwidth_gbs
    print(f"{len(rows)} kernels, {total_t / 1e3:.1f} us of kernel time, {total_b / 1e9:.3f} GB read from DRAM"
          + (f" (floor at {bw:.0f} GB/s: {total_b / bw / 1e3:.1f} us)" if bw else ""))
    print()
    print("| # | kernel | grid | us | MB read | GB/s |")
    print("|---:|---|---|---:|---:|---:|")
    for i, (n, g, t, b) in enumerate(rows):
        print(f"| {i} | {n} | {g} | {t / 1e3:.1f} | {b / 1e6:.1f} | {b / t if t else 0:.0f} |")
    print()
    agg = OrderedDict()
    for n, g, t, b in rows:
        a = agg.setdefault(n, [0, 0.0, 0.0])
        a[0] += 1
        a[1] += t
        a[2] += b
    print("| kernel | calls | us | % of kernel time | MB read | GB/s | us above its bytes' floor |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for n, (c, t, b) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
        over = (t - b / bw) / 1e3 if bw else 0
        print(f"| {n} | {c} | {t / 1e3:.1f} | {100 * t / total_t:.1f}% | {b / 1e6:.1f} | {b / t if t else 0:.0f} |"
              f" {over:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
