// The runtime knobs of bench_gpu_e2e --ab (backend/cuda/knobs.h): names and
// values are checked, and a knob reaches its setter. Host logic only.
#include "backend/cuda/knobs.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backend/cuda/ops.h"
#include "backend/cuda/pdl.h"
#include "backend/cuda/sampling.h"
#include "backend/cuda/tuning_value.h"

namespace sable {
namespace {

TEST(CudaKnobs, CheckNamesAndValuesAndReachTheirSetters) {
  EXPECT_FALSE(cuda::set_knob("no-such-knob", 1));
  EXPECT_FALSE(cuda::set_knob("dense-kwarps", 3));
  EXPECT_FALSE(cuda::set_knob("pdl", 2));
  EXPECT_FALSE(cuda::set_knob("stream-gemm-variant", 5));
  EXPECT_TRUE(cuda::set_knob("dense-kwarps", 2));
  EXPECT_TRUE(cuda::set_knob("dense-kwarps", 0));
  EXPECT_TRUE(cuda::set_knob("stream-tiles", 1));
  EXPECT_TRUE(cuda::set_knob("stream-gemm-variant", -1));
  EXPECT_FALSE(cuda::set_knob("moe-bn", 12));
  EXPECT_TRUE(cuda::set_knob("moe-bn", 16));
  EXPECT_TRUE(cuda::set_knob("moe-bn", 0));
  EXPECT_FALSE(cuda::set_knob("stream-kwarps", 3));
  EXPECT_TRUE(cuda::set_knob("stream-kwarps", 0));
  const bool pdl = cuda::pdl_enabled();
  EXPECT_TRUE(cuda::set_knob("pdl", 0));
  EXPECT_FALSE(cuda::pdl_enabled());
  EXPECT_TRUE(cuda::set_knob("pdl", 1));
  EXPECT_TRUE(cuda::pdl_enabled());
  cuda::set_pdl_enabled(pdl);
  EXPECT_FALSE(cuda::set_knob("mla-split-tiles", -1));
  EXPECT_TRUE(cuda::set_knob("mla-split-tiles", 0));
  EXPECT_FALSE(cuda::set_knob("mla-small-units", -1));
  EXPECT_TRUE(cuda::set_knob("mla-small-units", 0));
  EXPECT_FALSE(cuda::set_knob("skip", 256));
  EXPECT_TRUE(cuda::set_knob("skip", cuda::kSkipKvWrite | cuda::kSkipAttention));
  EXPECT_TRUE(cuda::skipped(cuda::kSkipAttention));
  EXPECT_FALSE(cuda::skipped(cuda::kSkipHeadMatmuls));
  EXPECT_TRUE(cuda::set_knob("skip", 0));
  EXPECT_FALSE(cuda::skipped(cuda::kSkipKvWrite));
  EXPECT_TRUE(cuda::set_knob("absorb-rope", 0));
  EXPECT_FALSE(cuda::absorb_rope_fused());
  EXPECT_TRUE(cuda::set_knob("absorb-rope", 1));
  EXPECT_TRUE(cuda::absorb_rope_fused());
  EXPECT_FALSE(cuda::set_knob("moe-wgmma-variant", 4));
  EXPECT_TRUE(cuda::set_knob("moe-wgmma-variant", 3));
  EXPECT_TRUE(cuda::set_knob("moe-wgmma-variant", 1));
  EXPECT_TRUE(cuda::set_knob("moe-wgmma-variant", -1));
  const bool front = cuda::mla_front_enabled();
  EXPECT_FALSE(cuda::set_knob("mla-front", 2));
  EXPECT_TRUE(cuda::set_knob("mla-front", 1));
  EXPECT_TRUE(cuda::mla_front_enabled());
  EXPECT_TRUE(cuda::set_knob("mla-front", front ? 1 : 0));
  // The knobs that take 0 / 1 (or a small range) refuse other values without a change.
  EXPECT_FALSE(cuda::set_knob("mla-graph-splits", 2));
  EXPECT_FALSE(cuda::set_knob("mla-fp8-ws", 2));
  EXPECT_FALSE(cuda::set_knob("mla-small-fp8-widen", 2));  // removed: one form is left
  EXPECT_FALSE(cuda::set_knob("pinned-staging", -1));
  EXPECT_FALSE(cuda::set_knob("alloc-zero-fill", 2));
  EXPECT_FALSE(cuda::set_knob("sampling-split", 3));
  const int split = cuda::sampling_split();
  EXPECT_TRUE(cuda::set_knob("sampling-split", 2));
  EXPECT_EQ(cuda::sampling_split(), 2);
  EXPECT_TRUE(cuda::set_knob("sampling-split", split));
  // Every knob by name, once each, in the help's order: a knob added to the
  // table is added here too (a count of them went stale twice).
  std::vector<std::string> names;
  for (const std::string& line : cuda::knob_help()) names.push_back(line.substr(0, line.find(':')));
  const std::vector<std::string> want{"pdl",
                                      "stream-tiles",
                                      "dense-kwarps",
                                      "stream-gemm-variant",
                                      "moe-bn",
                                      "moe-wgmma-variant",
                                      "stream-kwarps",
                                      "mla-split-tiles",
                                      "mla-small-units",
                                      "mla-graph-splits",
                                      "mla-fp8-ws",
                                      "mla-combine-groups",
                                      "mla-combine-blocks",
                                      "pinned-staging",
                                      "sampling-split",
                                      "alloc-zero-fill",
                                      "absorb-rope",
                                      "mla-front",
                                      "skip"};
  EXPECT_EQ(names, want);
}

// The environment's value when it is a whole valid integer, else the
// default; a setter wins over both and refuses what the choice does not take.
TEST(CudaKnobs, TuningValueReadsTheEnvironmentOnceAndValidates) {
  auto even = [](int v) { return v % 2 == 0; };
  const char* name = "SABLE_TEST_TUNING_VALUE";
  for (auto [env, want] :
       {std::pair{"8", 8}, std::pair{"7", 4}, std::pair{"8x", 4}, std::pair{"", 4}, std::pair{"99999999999", 4}}) {
    ::setenv(name, env, 1);
    cuda::TuningValue v(name, 4, even);
    EXPECT_EQ(v.get(), want) << "'" << env << "'";
    ::setenv(name, "2", 1);
    EXPECT_EQ(v.get(), want) << "read once";
    EXPECT_FALSE(v.set(3));
    EXPECT_EQ(v.get(), want);
    EXPECT_TRUE(v.set(6));
    EXPECT_EQ(v.get(), 6);
  }
  ::unsetenv(name);
  cuda::TuningValue unset(name, 4, even);
  EXPECT_EQ(unset.get(), 4);
}

// The tensor-parallel ranks' threads reach a choice's first use together:
// every one of them reads the environment's value (a data race before; run
// under TSan to see one).
TEST(CudaKnobs, TuningValueFirstUseFromManyThreads) {
  const char* name = "SABLE_TEST_TUNING_VALUE_THREADS";
  ::setenv(name, "6", 1);
  for (int round = 0; round < 50; ++round) {
    cuda::TuningValue v(name, 4, [](int x) { return x % 2 == 0; });
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&] {
        if (v.get() != 6) ++wrong;
      });
    for (auto& t : threads) t.join();
    EXPECT_EQ(wrong.load(), 0);
  }
  ::unsetenv(name);
}

}  // namespace
}  // namespace sable
