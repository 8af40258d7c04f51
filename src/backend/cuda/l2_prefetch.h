// L2 prefetch hints (Backend::prefetch): while a decode step at few tokens
// waits on a short latency-bound stretch (the MLA attention kernel, the MoE
// router), HBM sits idle; naming the weights the next ops read lets those
// bytes stream into L2 then, and the ops read them from there afterwards.
//
// A weight that fits the budget is prefetched whole. One that does not gets
// an even share: the first `chunk` bytes of every kPeriod bytes, so that
// every CTA of the GEMM that reads it later finds part of its own range in
// L2 (a prefix would speed up only the CTAs that read the prefix, and a
// one-wave GEMM waits for its slowest CTA).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

namespace sable::cuda {

struct ByteRange {
  const void* p = nullptr;
  int64_t bytes = 0;
};

// One range's share: bytes [i * kPeriod, i * kPeriod + chunk) for every i,
// cut at `bytes` and rounded down to 16 bytes (the bulk prefetch's unit).
struct PrefetchSpan {
  const void* p = nullptr;
  int64_t bytes = 0;
  int64_t chunk = 0;
};
constexpr int64_t kL2PrefetchPeriod = 32 << 10;
constexpr int kL2PrefetchMaxSpans = 8;

// Splits `budget` bytes over the ranges in order: whole while it lasts, then
// the remainder as one interleaved share; ranges past the budget, empty ones
// and more than kL2PrefetchMaxSpans are dropped.
std::vector<PrefetchSpan> plan_l2_prefetch(const std::vector<ByteRange>& ranges, int64_t budget);

// Launches the prefetches of plan_l2_prefetch(ranges, budget) on `stream`
// (nothing when the plan is empty). Under PDL the kernel waits for the kernel
// before it first, so its reads do not compete with that kernel's, and lets
// the next one start at once; it exits as soon as the prefetches are issued.
void l2_prefetch(const std::vector<ByteRange>& ranges, int64_t budget, cudaStream_t stream);

// The budget per hint in bytes: knob "l2-prefetch" / SABLE_L2_PREFETCH_MB
// (MB; 0 turns hints off), else the rule.
int64_t l2_prefetch_budget();
bool set_l2_prefetch_mb(int mb);

}  // namespace sable::cuda
