#!/usr/bin/env python3
"""Plots of `sable bench serve|offline` results (the --result-json file).

    python3 bench/plot_results.py RESULTS.json [MORE.json ...] --out DIR

Writes, and prints the path of each:
  latency_cdf.png       CDFs of TTFT, TPOT, ITL and E2E latency (one line per run)
  sweep_throughput.png  output and total tok/s against concurrency, and output
                        tok/s against median TPOT (sweeps)
  sweep_latency.png     TTFT, TPOT and E2EL median and p99 against concurrency (sweeps)

A results file holds one run (an object) or a sweep (a list of them); several
files are plotted together. `sable bench ... --plot-dir DIR` calls this
itself when python3 and matplotlib are installed; the benchmark never needs
Python to run.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load_runs(paths):
    runs = []
    for p in paths:
        with open(p) as f:
            data = json.load(f)
        runs.extend(data if isinstance(data, list) else [data])
    return runs


def run_label(r):
    s = r.get("sable", {})
    c = r.get("max_concurrency")
    parts = [s.get("preset") or s.get("mode", "run")]
    if s.get("preset"):
        parts.append(f"{s.get('input_len', '?')}/{s.get('output_len', '?')}")
    parts.append(f"c={c if c is not None else 'inf'}")
    if r.get("request_rate") not in (None, "inf"):
        parts.append(f"{r['request_rate']} req/s")
    return " ".join(str(p) for p in parts if p)


def per_request_ms(r):
    """The four latency samples of one run, in ms, successful requests only."""
    ok = [e == "" for e in r.get("errors", [])]
    s = r.get("sable", {})
    ttft = [t * 1e3 for t, g in zip(r.get("ttfts", []), ok) if g]
    e2el = [t * 1e3 for t, g in zip(s.get("e2els", []), ok) if g]
    tpot = [t * 1e3 for t, g in zip(s.get("tpots", []), ok) if g and t is not None]
    itl = [g * 1e3 for lst, good in zip(r.get("itls", []), ok) if good for g in lst]
    return {"TTFT": ttft, "TPOT": tpot, "ITL": itl, "E2E latency": e2el}


def cdf(ax, values, label):
    if not values:
        return
    v = sorted(values)
    n = len(v)
    if n == 1:  # one request (a single-prompt preset): a step from 0 to 1, marked
        ax.plot([v[0], v[0]], [0, 1], marker="o", markevery=[1], label=label)
        return
    ax.step(v, [(i + 1) / n for i in range(n)], where="post", label=label)


def plot_cdfs(runs, out_dir):
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    for r in runs:
        samples = per_request_ms(r)
        for ax, (name, vals) in zip(axes.flat, samples.items()):
            cdf(ax, vals, run_label(r))
    for ax, name in zip(axes.flat, ["TTFT", "TPOT", "ITL", "E2E latency"]):
        ax.set_title(f"{name} (CDF)")
        ax.set_xlabel("ms")
        ax.set_ylabel("fraction of samples")
        ax.set_ylim(0, 1.02)
        ax.grid(True, alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize="small")
    fig.suptitle(title(runs))
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    path = os.path.join(out_dir, "latency_cdf.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def title(runs):
    r = runs[0]
    s = r.get("sable", {})
    lens = {(x.get("sable", {}).get("input_len"), x.get("sable", {}).get("output_len")) for x in runs}
    what = (f"{s.get('input_len', '?')} in / {s.get('output_len', '?')} out" if len(lens) == 1
            else "presets (in/out in the legend)")
    return f"{s.get('mode', '')} {r.get('model_id', '')}: {what}, commit {s.get('commit', '?')}"



def plot_sweep(runs, out_dir):
    sweep = [r for r in runs if r.get("max_concurrency")]
    if len(sweep) < 2:
        return []
    sweep.sort(key=lambda r: r["max_concurrency"])
    x = [r["max_concurrency"] for r in sweep]
    paths = []

    # Throughput against concurrency, and the trade-off it buys: aggregate
    # output tok/s against what each user sees (median TPOT).
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    ax1.plot(x, [r["output_throughput"] for r in sweep], "o-", label="output tok/s")
    ax1.plot(x, [r["total_token_throughput"] for r in sweep], "s--", label="total (in + out) tok/s")
    ax1.set_xscale("log", base=2)
    ax1.set_xlabel("max concurrency")
    ax1.set_ylabel("tokens/s")
    ax1.set_title("Throughput")
    ax1.grid(True, alpha=0.3)
    ax1.legend(fontsize="small")
    tpot = [r["median_tpot_ms"] for r in sweep]
    out = [r["output_throughput"] for r in sweep]
    ax2.plot(tpot, out, "o-")
    for c, tx, ty in zip(x, tpot, out):
        ax2.annotate(f"c={c}", (tx, ty), textcoords="offset points", xytext=(4, -10), fontsize="small")
    ax2.set_xlabel("median TPOT, ms (per user)")
    ax2.set_ylabel("output tokens/s (all users)")
    ax2.set_title("Throughput against per-user latency")
    ax2.grid(True, alpha=0.3)
    fig.suptitle(title(sweep), fontsize="medium")
    fig.tight_layout()
    p = os.path.join(out_dir, "sweep_throughput.png")
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, key, name in zip(axes, ["ttft", "tpot", "e2el"], ["TTFT", "TPOT", "E2E latency"]):
        ax.plot(x, [r[f"median_{key}_ms"] for r in sweep], "o-", label="median")
        if f"p99_{key}_ms" in sweep[0]:
            ax.plot(x, [r[f"p99_{key}_ms"] for r in sweep], "s--", label="p99")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("max concurrency")
        ax.set_ylabel("ms")
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("Latency against concurrency: " + title(sweep), fontsize="medium")
    fig.tight_layout()
    p = os.path.join(out_dir, "sweep_latency.png")
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+")
    ap.add_argument("--out", required=True, help="output directory")
    a = ap.parse_args()
    runs = load_runs(a.results)
    if not runs:
        sys.exit("no runs in " + " ".join(a.results))
    os.makedirs(a.out, exist_ok=True)
    for p in [plot_cdfs(runs, a.out)] + plot_sweep(runs, a.out):
        print(p)


if __name__ == "__main__":
    main()
