// The shared experts fused into the routed experts' grouped GEMM
// (MoeWeights::num_shared) against the unfused shared MLP, on the CPU: the
// same logits for one shared expert, for a shared MLP of two experts' width
// split into two (bf16 and FP8, whose 128-blocks the split must respect),
// and the fallback to the unfused MLP when an FP8 block would straddle the
// split. The fused model itself is checked against the reference fixtures
// (forward_fixture_test: tiny-dsv3 has one shared expert).
#include <gtest/gtest.h>

#include "backend/backend.h"
#include "common/fixtures.h"
#include "model/deepseek_v3.h"
#include "model/presets.h"
#include "model/weight_source.h"
#include "runner/single_sequence.h"

namespace sable {
namespace {

struct Case {
  const char* what;
  int n_shared;
  int moe_intermediate;
  bool fp8;
  int expect_fused;  // MoeWeights::num_shared of the first MoE layer
};

TEST(SharedExpertFusion, LogitsMatchTheUnfusedSharedMlp) {
  for (const Case& c : {Case{"one shared expert", 1, 128, false, 1}, Case{"two, bf16", 2, 128, false, 2},
                        Case{"two, fp8 (I = one block)", 2, 128, true, 2},
                        Case{"two, fp8 straddling (I = 96): unfused", 2, 96, true, 0}}) {
    SCOPED_TRACE(c.what);
    auto cfg = preset_config("tiny", 2, false);
    ASSERT_TRUE(cfg.is_ok());
    cfg->n_shared_experts = c.n_shared;
    cfg->moe_intermediate_size = c.moe_intermediate;
    std::vector<std::vector<float>> logits;
    for (bool fuse : {false, true}) {
      DummyWeightSource src(*cfg, 77);
      LoadOptions lo;
      lo.quantize_fp8 = c.fp8;
      lo.fuse_shared_experts = fuse;
      auto m = DeepseekV3Model::load(src, cpu_backend(), lo);
      ASSERT_TRUE(m.is_ok()) << m.status().to_string();
      const MoeWeights& moe = *(*m)->weights().layers[1].moe;
      EXPECT_EQ(moe.num_shared, fuse ? c.expect_fused : 0);
      EXPECT_EQ(moe.shared_experts.has_value(), !fuse || c.expect_fused == 0);
      EXPECT_EQ(moe.experts.num_experts(), cfg->n_routed_experts + moe.num_shared);
      SingleSequenceRunner r(**m, 16);
      auto out = r.step({3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}, /*all_logits=*/true);
      ASSERT_TRUE(out.is_ok()) << out.status().to_string();
      logits.emplace_back(out->ptr<float>(), out->ptr<float>() + out->numel());
    }
    ASSERT_EQ(logits[0].size(), logits[1].size());
    EXPECT_LT(testing::max_rel_error(logits[1].data(), logits[0].data(), int64_t(logits[0].size())), 1e-5);
  }
}

}  // namespace
}  // namespace sable
