#!/usr/bin/env python3
"""One column per bench_cuda_attention output file: the us a call of each
decode row (batch, context, kernel), so that an A/B alternated over
processes reads as one table. Usage: ab_columns.py FILE... (a file's name
without its directory and .txt heads its column)."""
import os
import sys

cols, rows = [], {}
for path in sys.argv[1:]:
    name = os.path.basename(path).removesuffix(".txt")
    cols.append(name)
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        f = line.split()
        # "batch context kernel | us GB/s %copy | ..." (bench_decode's rows)
        if len(f) > 4 and f[3] == "|" and f[0].isdigit() and f[1].isdigit():
            rows.setdefault((int(f[0]), int(f[1]), f[2]), {})[name] = f[4]
print("| batch x context | kernel | " + " | ".join(cols) + " |")
print("|---|---|" + "---:|" * len(cols))
for (b, c, k), v in sorted(rows.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
    print(f"| {b} x {c} | {k} | " + " | ".join(v.get(n, "-") for n in cols) + " |")
