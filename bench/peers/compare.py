# Prints Sable's kernel figures (bench_cuda_gemm --json) beside PyTorch's
# (torch_kernel_peers.py) at the shapes both measured, in the same run.
# Usage: python3 compare.py sable.jsonl peers.jsonl
import json, sys

sable = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
peers = [json.loads(l) for l in open(sys.argv[2]) if l.strip().startswith("{")]
ceil = next((r for r in sable if "ceil_copy_GBps" in r), {})
pcopy = next((r["copy_GBps"] for r in peers if "copy_GBps" in r), None)
print(f"copy GB/s: sable {ceil.get('ceil_copy_GBps', 0):.0f}, torch {pcopy or 0:.0f}; "
      f"cuBLASLt bf16 {ceil.get('ceil_bf16_TFLOPs', 0):.0f} TFLOP/s, fp8 {ceil.get('ceil_fp8_TFLOPs', 0):.0f} TFLOP/s")
print(f"{'op':<28} {'M/T':>5} | {'sable us':>9} {'%copy':>6} {'TFLOP/s':>8} | {'torch us':>9} {'%copy':>6} {'TFLOP/s':>8}")
for p in peers:
    if p.get("op") == "moe_grouped_mm_bf16" and "ms" in p:
        for dt in ("bf16", "fp8"):
            s = next((r for r in sable if r.get("op") == "moe" and r["dtype"] == dt and r["M"] == p["tokens"]), None)
            if s:
                print(f"{'moe experts ' + dt + ' (torch bf16)':<28} {p['tokens']:>5} | {s['us']:>9.1f} {s['pct_bw']:>5.1f}% {s['TFLOPs']:>8.1f} |"
                      f" {p['ms'] * 1e3:>9.1f} {p['pct_of_copy_bw']:>5.1f}% {p['TFLOPs']:>8.1f}")
    if p.get("op") == "fp8_rowwise_scaled_mm" and "ms" in p:
        s = next((r for r in sable if r.get("op") == "linear" and r["dtype"] == "fp8" and r["shape"] == "18432x7168" and r["M"] == p["M"]), None)
        if s:
            print(f"{'fp8 18432x7168 (torch rowwise)':<28} {p['M']:>5} | {s['us']:>9.1f} {s['pct_bw']:>5.1f}% {s['TFLOPs']:>8.1f} |"
                  f" {p['ms'] * 1e3:>9.1f} {p['pct_of_copy_bw']:>5.1f}% {p['TFLOPs']:>8.1f}")
for p in peers:
    if p.get("op") in ("sdpa_causal_bf16", "mla_decode_naive_bmm_bf16"):
        print("torch (other engineer's kernels):", json.dumps(p))
