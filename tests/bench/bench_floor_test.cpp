// The floor estimate against DeepSeek-V3's published figures: 37B activated
// parameters per token, and MLA's 576-value latent cache per token per layer.
#include <gtest/gtest.h>

#include "bench/floor.h"
#include "model/presets.h"

namespace sable::bench {
namespace {

TEST(BenchFloor, DeepSeekV3ActiveParametersAndCache) {
  auto cfg = preset_config("dsv3");
  ASSERT_TRUE(cfg.is_ok());
  FloorModel f = floor_model(*cfg, /*fp8_weights=*/false, /*kv_value_bytes=*/2);
  // 37B activated (the paper's count, which includes the embedding; ours
  // counts the lm_head instead: the same size).
  EXPECT_GT(f.active_params_per_token, 36e9);
  EXPECT_LT(f.active_params_per_token, 39e9);
  EXPECT_EQ(f.moe_layers, 58);
  EXPECT_DOUBLE_EQ(f.kv_bytes_per_token, 61.0 * 576 * 2);
  // One expert: gate, up and down of 7168 x 2048 in BF16.
  EXPECT_DOUBLE_EQ(f.expert_bytes, 3.0 * 7168 * 2048 * 2);
  EXPECT_NEAR(f.expected_experts(1), 8, 1e-9);
  EXPECT_NEAR(f.expected_experts(100000), 256, 1e-6);
  EXPECT_LT(f.expected_experts(32), 256);
  // FP8 halves the expert bytes (plus one float scale per 128x128 block).
  FloorModel q = floor_model(*cfg, true, 2);
  EXPECT_NEAR(q.expert_bytes, 3.0 * 7168 * 2048 * (1 + 4.0 / (128 * 128)), 1);
  EXPECT_DOUBLE_EQ(q.active_params_per_token, f.active_params_per_token);
}

TEST(BenchFloor, FloorsFollowBandwidthAndPeak) {
  auto cfg = preset_config("dsv3-slice", 4);
  ASSERT_TRUE(cfg.is_ok());
  FloorModel f = floor_model(*cfg, false, 2);
  Floors none = compute_floors(f, 1000, 500, 1, 0, 0);
  EXPECT_FALSE(none.tpot_ms || none.ttft_ms || none.e2el_ms);
  Floors a = compute_floors(f, 1000, 500, 1, 4000, 0);
  ASSERT_TRUE(a.tpot_ms.has_value());
  EXPECT_NEAR(*a.tpot_ms, a.step_bytes / 4000e9 * 1e3, 1e-9);
  EXPECT_FALSE(a.ttft_ms.has_value());  // prefill needs the peak
  Floors b = compute_floors(f, 1000, 500, 1, 8000, 0);
  EXPECT_NEAR(*b.tpot_ms * 2, *a.tpot_ms, 1e-9);
  Floors c = compute_floors(f, 1000, 500, 1, 4000, 1000);
  ASSERT_TRUE(c.ttft_ms && c.e2el_ms);
  EXPECT_GE(*c.ttft_ms, f.prefill_flops(1000) / 1e15 * 1e3 - 1e-9);
  EXPECT_NEAR(*c.e2el_ms, *c.ttft_ms + 499 * *c.tpot_ms, 1e-6);
  // A batch of 32 reads more per step but yields more tokens per second.
  Floors d = compute_floors(f, 1000, 500, 32, 4000, 0);
  EXPECT_GT(d.step_bytes, a.step_bytes);
  EXPECT_GT(*d.output_tok_s, *a.output_tok_s);
}

}  // namespace
}  // namespace sable::bench
