#!/usr/bin/env python3
"""Summary table (markdown) of bench_cuda_attention's JSON lines beside
PyTorch's figures from torch_kernel_peers.py at the same shapes, both from
the same run. Usage: attention_summary.py SABLE.jsonl [PEERS.jsonl]"""
import json
import sys


def load(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
    except OSError:
        pass
    return rows


sable = load(sys.argv[1])
peers = load(sys.argv[2]) if len(sys.argv) > 2 else []
ceil = next((r for r in sable if r.get("op") == "ceilings"), {})
peer_copy = next((r["copy_GBps"] for r in peers if "copy_GBps" in r), None)
print("## Attention and other ops (bench_cuda_attention) vs PyTorch (torch_kernel_peers.py), same run\n")
print(f"Ceilings: copy {ceil.get('copy_GBps', 0):.0f} GB/s (torch's copy: {peer_copy or 0:.0f} GB/s), "
      f"cuBLAS bf16 GEMM {ceil.get('gemm_bf16_TFLOPs', 0):.0f} TFLOP/s\n")
naive = {(r["batch"], r["context"]): r for r in peers if r.get("op") == "mla_decode_naive_bmm_bf16"}
print("| decode batch | context | kernel | Sable us | GB/s | % copy | TFLOP/s | % GEMM | x max(floor) | torch naive us | torch % copy |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in sable:
    if r.get("op") != "mla_decode":
        continue
    p = naive.get((r["batch"], r["context"]))
    floor = max(r["floor_mem_us"], r["floor_mma_us"])
    print(f"| {r['batch']} | {r['context']} | {r.get('kernel', '')} | {r['us']:.1f} | {r['GBps']:.0f} | {r['pct_copy']:.1f} | "
          f"{r['TFLOPs']:.0f} | {r['pct_gemm']:.1f} | {r['us'] / floor:.2f} | "
          f"{p['ms'] * 1e3 if p else float('nan'):.1f} | {p['pct_of_copy_bw'] if p else float('nan'):.1f} |")
sdpa = {r["seq"]: r for r in peers if r.get("op") == "sdpa_causal_bf16" and "TFLOPs" in r}
print("\n| prefill cached | new | kernel | Sable ms | TFLOP/s (own count) | TFLOP/s (expanded count) | SDPA ms | SDPA TFLOP/s |")
print("|---|---|---|---|---|---|---|---|")
for r in sable:
    if r.get("op") != "mla_prefill":
        continue
    p = sdpa.get(r["seq"]) if r["cached"] == 0 else None
    print(f"| {r['cached']} | {r['seq']} | {r.get('kernel', '')} | {r['ms']:.2f} | {r['TFLOPs_own']:.0f} | {r['TFLOPs_expanded']:.0f} | "
          f"{p['ms'] if p else float('nan'):.2f} | {p['TFLOPs'] if p else float('nan'):.0f} |")
exp_rows = [r for r in sable if r.get("op") == "mla_prefill_expanded"]
if exp_rows:
    print("\n| prefill cached | new | expanded kernel | Sable ms | TFLOP/s | % GEMM | SDPA ms | SDPA TFLOP/s | Sable / SDPA |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in exp_rows:
        p = sdpa.get(r["seq"]) if r["cached"] == 0 else None
        ratio = r["TFLOPs"] / p["TFLOPs"] if p else float("nan")
        print(f"| {r['cached']} | {r['seq']} | {r['kernel']} | {r['ms']:.2f} | {r['TFLOPs']:.0f} | "
              f"{100 * r['TFLOPs'] / max(ceil.get('gemm_bf16_TFLOPs', 1), 1):.1f} | "
              f"{p['ms'] if p else float('nan'):.2f} | {p['TFLOPs'] if p else float('nan'):.0f} | {ratio:.2f} |")
others = [r for r in sable if "shape" in r]
if others:
    print("\n| op | shape | us | GB/s | % copy |")
    print("|---|---|---|---|---|")
    for r in others:
        print(f"| {r['op']} | {r['shape']} | {r['us']:.2f} | {r['GBps']:.0f} | {r['pct_copy']:.1f} |")
print()
