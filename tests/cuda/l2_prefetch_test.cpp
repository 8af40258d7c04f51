// L2 prefetch hints (backend/cuda/l2_prefetch.h): the plan spends the budget
// on the ranges in order, whole and then as one interleaved share; the kernel
// issues it on any range without faulting; and a hint changes no result, in
// a stream or inside a captured graph.
#include "backend/cuda/l2_prefetch.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cuda/gemm.h"
#include "core/dtype.h"
#include "cuda_test_util.h"

namespace sable {
namespace {

using cuda::ByteRange;
using cuda::kL2PrefetchPeriod;

const char* at(int64_t off) { return reinterpret_cast<const char*>(int64_t(1) << 20) + off; }

// Bytes a span prefetches: the first `chunk` (down to 16) of every period.
int64_t covered(const cuda::PrefetchSpan& s) {
  int64_t n = 0;
  for (int64_t off = 0; off < s.bytes; off += kL2PrefetchPeriod) n += std::min(s.chunk, s.bytes - off) & ~int64_t(15);
  return n;
}

TEST(CudaL2Prefetch, PlanTakesRangesWholeThenOneEvenShare) {
  const int64_t MB = 1 << 20;
  // Both fit: whole.
  auto p = cuda::plan_l2_prefetch({{at(0), 4 * MB}, {at(8 * MB), 2 * MB}}, 8 * MB);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].bytes, 4 * MB);
  EXPECT_EQ(p[0].chunk, kL2PrefetchPeriod);
  EXPECT_EQ(covered(p[1]), 2 * MB);
  // The second gets what is left, spread over all of it; a third gets nothing.
  p = cuda::plan_l2_prefetch({{at(0), 4 * MB}, {at(8 * MB), 8 * MB}, {at(32 * MB), MB}}, 6 * MB);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[1].bytes, 8 * MB);
  EXPECT_EQ(p[1].chunk, kL2PrefetchPeriod / 4);
  EXPECT_EQ(covered(p[0]) + covered(p[1]), 6 * MB);
  // Never more than the budget, even with ragged sizes and addresses; the
  // first address of a span is 16-byte aligned.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::vector<ByteRange> r;
    for (int k = 0; k < 1 + int(rng() % 10); ++k) r.push_back({at(int64_t(rng() % 4096)), int64_t(rng() % (3 * MB))});
    const int64_t budget = int64_t(rng() % (8 * MB));
    int64_t total = 0;
    const auto plan = cuda::plan_l2_prefetch(r, budget);
    EXPECT_LE(plan.size(), size_t(cuda::kL2PrefetchMaxSpans));
    for (const auto& s : plan) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(s.p) % 16, 0u);
      EXPECT_GE(s.chunk, 16);
      total += covered(s);
    }
    EXPECT_LE(total, budget);
  }
  // Nothing to do.
  EXPECT_TRUE(cuda::plan_l2_prefetch({{at(0), MB}}, 0).empty());
  EXPECT_TRUE(cuda::plan_l2_prefetch({{nullptr, MB}, {at(0), 8}}, MB).empty());
}

// Ragged ranges over a real buffer: the kernel must not fault (a prefetch
// past an allocation would), and graph capture keeps it.
TEST(CudaL2Prefetch, IssuesOnRaggedRangesInStreamAndGraph) {
  SABLE_REQUIRE_GPU();
  const int64_t bytes = (40 << 20) + 4099;
  char* buf = nullptr;
  ASSERT_EQ(cudaMalloc(&buf, size_t(bytes)), cudaSuccess);
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  const std::vector<ByteRange> r = {
      {buf + 3, 100}, {buf + 4096, (12 << 20) + 17}, {buf + (13 << 20) + 5, bytes - (13 << 20) - 5}};
  for (int64_t budget : {int64_t(1) << 10, int64_t(16) << 20, int64_t(1) << 30}) cuda::l2_prefetch(r, budget, s);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  cudaGraph_t g = nullptr;
  cudaGraphExec_t ge = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  cuda::l2_prefetch(r, int64_t(24) << 20, s);
  ASSERT_EQ(cudaStreamEndCapture(s, &g), cudaSuccess);
  ASSERT_EQ(cudaGraphInstantiate(&ge, g, 0), cudaSuccess);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(cudaGraphLaunch(ge, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  cudaGraphExecDestroy(ge);
  cudaGraphDestroy(g);
  cudaStreamDestroy(s);
  cudaFree(buf);
}

// A hint between two ops changes nothing: linear() and moe_experts() through
// the backend, with and without hints on the weights they read.
TEST(CudaL2Prefetch, HintsChangeNoResult) {
  SABLE_REQUIRE_GPU();
  cuda::CudaBackend& be = cudatest::gpu();
  std::mt19937_64 rng(cudatest::fresh_seed());
  LinearWeight w;
  cuda::make_random_linear(w, 2048, 7168, /*fp8=*/true, 11, be.stream());
  MoeExperts e;
  cuda::make_random_experts(e, 9, 7168, 2048, /*fp8=*/true, 12, be.stream());
  const int64_t T = 1, before_mb = cuda::l2_prefetch_budget() >> 20;
  Tensor x = cudatest::upload(cudatest::random_f32(rng, {T, 7168}, 1.f), DType::BF16);
  Tensor ids = cudatest::upload_i32({0, 3, 8}, {T, 3});
  Tensor wts = cudatest::upload(cudatest::random_f32(rng, {T, 3}, 1.f, DType::F32), DType::F32);
  auto run = [&](int mb) {
    EXPECT_TRUE(cuda::set_l2_prefetch_mb(mb));
    Tensor y = cudatest::poisoned(DType::BF16, {T, 2048}), m = cudatest::poisoned(DType::BF16, {T, 7168});
    be.prefetch({WeightRead::of(w), WeightRead::of(e, 8, 1)}, T);
    be.linear(x, w, y);
    be.prefetch({WeightRead::of(e, 8, 1), WeightRead::of(x)}, T);
    be.moe_experts(x, ids, wts, e, m);
    be.synchronize();
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
    std::vector<float> out = cudatest::download_f32(y), mo = cudatest::download_f32(m);
    out.insert(out.end(), mo.begin(), mo.end());
    return out;
  };
  const std::vector<float> off = run(0), on = run(24), all = run(4096);
  EXPECT_EQ(std::memcmp(off.data(), on.data(), off.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(off.data(), all.data(), off.size() * sizeof(float)), 0);
  cuda::set_l2_prefetch_mb(int(before_mb));
}

}  // namespace
}  // namespace sable
