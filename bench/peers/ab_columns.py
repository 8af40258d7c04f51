#!/usr/bin/env python3
"""One column per bench_cuda_attention output file: the us a call of each
decode row (batch, context, kernel and split count), so that an A/B alternated over
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
            # "small+f8/S32": the kernel and its split count key the row.
            rows.setdefault((int(f[0]), int(f[1]), f[2]), {})[name] = f[4]
# Binaries from before the split count was printed ("small+f8"): their cells
# join the row of the same shape and kernel when exactly one has a split count.
for (b, c, k) in [key for key in rows if "/" not in key[2]]:
    same = [key for key in rows if key[:2] == (b, c) and key[2].startswith(k + "/S")]
    if len(same) == 1:
        for n, v in rows.pop((b, c, k)).items():
            rows[same[0]].setdefault(n, v)
print("| batch x context | kernel | " + " | ".join(cols) + " |")
print("|---|---|" + "---:|" * len(cols))
def order(key):
    b, c, k = key
    kernel, _, splits = k.partition("/S")
    return (kernel, b, c, int(splits) if splits.isdigit() else 0)


for (b, c, k), v in sorted(rows.items(), key=lambda kv: order(kv[0])):
    print(f"| {b} x {c} | {k} | " + " | ".join(v.get(n, "-") for n in cols) + " |")
