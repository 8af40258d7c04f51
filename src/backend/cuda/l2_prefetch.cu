// L2 prefetch hints: the plan and the kernel that issues it (l2_prefetch.h).
#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/l2_prefetch.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/tuning_value.h"

namespace sable::cuda {
namespace {

struct PrefetchArgs {
  PrefetchSpan span[kL2PrefetchMaxSpans];
  int64_t first_piece[kL2PrefetchMaxSpans + 1];  // prefix sums of the spans' kPeriod pieces
  int n = 0;
};

// One thread per kPeriod piece: cp.async.bulk.prefetch.L2 hands the bytes to
// the copy engine and returns; nothing waits for them.
__global__ void l2_prefetch_kernel(const PrefetchArgs a) {
  // After the kernel before: its own reads keep the bandwidth (at decode it is
  // the weight stream this hint fills the gap behind).
  pdl_begin();
  const int64_t total = a.first_piece[a.n];
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int s = 0;
    while (i >= a.first_piece[s + 1]) ++s;
    const PrefetchSpan& sp = a.span[s];
    const int64_t off = (i - a.first_piece[s]) * kL2PrefetchPeriod;
    const int64_t n = std::min(sp.chunk, sp.bytes - off) & ~int64_t(15);
    if (n <= 0) continue;
    const char* p = static_cast<const char*>(sp.p) + off;
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(uint32_t(n)) : "memory");
  }
}

// The default budget, MB. 0 until measured on the H200 (bench_gpu_e2e --ab l2-prefetch=...).
constexpr int kRuleMb = 0;
TuningValue g_mb{"SABLE_L2_PREFETCH_MB", kRuleMb, [](int v) { return v >= 0 && v <= 4096; }};

}  // namespace

std::vector<PrefetchSpan> plan_l2_prefetch(const std::vector<ByteRange>& ranges, int64_t budget) {
  std::vector<PrefetchSpan> plan;
  for (const ByteRange& r : ranges) {
    if (budget < 16 || int(plan.size()) == kL2PrefetchMaxSpans) break;
    // The bulk prefetch takes 16-byte-aligned addresses: start at the first.
    const int64_t skip = (16 - int64_t(reinterpret_cast<uintptr_t>(r.p) & 15)) & 15;
    const int64_t bytes = r.bytes - skip;
    if (!r.p || bytes < 16) continue;
    const char* p = static_cast<const char*>(r.p) + skip;
    if (bytes <= budget) {
      plan.push_back({p, bytes, kL2PrefetchPeriod});
      budget -= bytes;
      continue;
    }
    // The budget over the periods (the last may be partial), in whole 16-byte units.
    const int64_t periods = (bytes + kL2PrefetchPeriod - 1) / kL2PrefetchPeriod;
    const int64_t chunk = std::min(kL2PrefetchPeriod, budget / periods) & ~int64_t(15);
    if (chunk >= 16) plan.push_back({p, bytes, chunk});
    break;
  }
  return plan;
}

void l2_prefetch(const std::vector<ByteRange>& ranges, int64_t budget, cudaStream_t stream) {
  const std::vector<PrefetchSpan> plan = plan_l2_prefetch(ranges, budget);
  if (plan.empty()) return;
  PrefetchArgs a{};
  a.n = int(plan.size());
  for (int s = 0; s < a.n; ++s) {
    a.span[s] = plan[size_t(s)];
    a.first_piece[s + 1] = a.first_piece[s] + (plan[size_t(s)].bytes + kL2PrefetchPeriod - 1) / kL2PrefetchPeriod;
  }
  // ~1,000 pieces for 32 MB: spread over many SMs' copy engines, one piece a thread.
  const int64_t pieces = a.first_piece[a.n];
  const unsigned blocks = unsigned(std::min<int64_t>(132, (pieces + 31) / 32));
  launch_pdl(l2_prefetch_kernel, blocks, 32, 0, stream, a);
  SABLE_CUDA_LAUNCH_CHECK();
}

int64_t l2_prefetch_budget() { return int64_t(g_mb.get()) << 20; }
bool set_l2_prefetch_mb(int mb) { return g_mb.set(mb); }

}  // namespace sable::cuda
