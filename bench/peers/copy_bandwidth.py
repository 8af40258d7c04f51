"""Device-to-device copy bandwidth (read + write, GB/s) with PyTorch, for the
decode floor of `sable bench serve --bandwidth-gbs` (bench/gpu_run.sh,
bench/prebuilt_run.sh). Prints one integer; exits non-zero without a GPU."""
import torch

n = 4 << 30
a = torch.empty(n, dtype=torch.uint8, device="cuda")
b = torch.empty_like(a)
for _ in range(3):
    b.copy_(a)
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
s.record()
for _ in range(10):
    b.copy_(a)
e.record()
e.synchronize()
print(round(2 * 10 * n / (s.elapsed_time(e) / 1e3) / 1e9))
