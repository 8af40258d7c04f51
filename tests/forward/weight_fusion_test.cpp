// Weights fused at load against the unfused model, on the CPU.
//
// The shared experts fused into the routed experts' grouped GEMM
// (MoeWeights::num_shared) against the unfused shared MLP: the
// same logits for one shared expert, for a shared MLP of two experts' width
// split into two (bf16 and FP8, whose 128-blocks the split must respect),
// and the fallback to the unfused MLP when an FP8 block would straddle the
// split. The fused model itself is checked against the reference fixtures
// (forward_fixture_test: tiny-dsv3 has one shared expert).
//
// q_a_proj and kv_a_proj_with_mqa stacked into one projection
// (AttentionWeights::fused_qkv_a_proj_with_mqa) against the two: a prompt
// (the parts copied out of the stacked output) and a one-token step (views
// of it), bf16 and FP8, and the fallback when q_lora_rank splits an FP8 block.
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

// Logits of an 11-token prompt, then of one more token, for a model loaded
// with `lo` from dummy weights of `cfg`.
std::vector<float> prompt_then_decode(const ModelConfig& cfg, const LoadOptions& lo, const DeepseekV3Model** keep,
                                      std::unique_ptr<DeepseekV3Model>& holder) {
  DummyWeightSource src(cfg, 78);
  auto m = DeepseekV3Model::load(src, cpu_backend(), lo);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  if (!m.is_ok()) return {};
  holder = std::move(*m);
  *keep = holder.get();
  SingleSequenceRunner r(*holder, 16);
  std::vector<float> out;
  for (const std::vector<int32_t>& ids : {std::vector<int32_t>{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}, {8}}) {
    auto l = r.step(ids, /*all_logits=*/true);
    EXPECT_TRUE(l.is_ok()) << l.status().to_string();
    if (!l.is_ok()) return {};
    out.insert(out.end(), l->ptr<float>(), l->ptr<float>() + l->numel());
  }
  return out;
}

TEST(QkvAFusion, LogitsMatchTheTwoProjections) {
  struct QCase { const char* what; int q_lora; bool fp8; bool expect_fused; };
  for (const QCase& c : {QCase{"bf16", 192, false, true}, QCase{"fp8, q_lora one block", 128, true, true},
                         QCase{"fp8, q_lora 192 splits a block: unfused", 192, true, false}}) {
    SCOPED_TRACE(c.what);
    auto cfg = preset_config("tiny", 2, false);
    ASSERT_TRUE(cfg.is_ok());
    cfg->q_lora_rank = c.q_lora;
    std::vector<std::vector<float>> logits;
    for (bool fuse : {false, true}) {
      LoadOptions lo;
      lo.quantize_fp8 = c.fp8;
      lo.fuse_qkv_a = fuse;
      const DeepseekV3Model* m = nullptr;
      std::unique_ptr<DeepseekV3Model> holder;
      logits.push_back(prompt_then_decode(*cfg, lo, &m, holder));
      ASSERT_NE(m, nullptr);
      const AttentionWeights& a = m->weights().layers[0].self_attn;
      EXPECT_EQ(a.fused_qkv_a_proj_with_mqa.has_value(), fuse && c.expect_fused);
      EXPECT_EQ(a.q_a_proj.weight.defined(), !(fuse && c.expect_fused));
    }
    ASSERT_EQ(logits[0].size(), logits[1].size());
    ASSERT_FALSE(logits[0].empty());
    EXPECT_LT(testing::max_rel_error(logits[1].data(), logits[0].data(), int64_t(logits[0].size())), 1e-5);
  }
}

}  // namespace
}  // namespace sable
