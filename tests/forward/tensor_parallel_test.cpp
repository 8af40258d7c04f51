// The model split over the ranks of a tensor-parallel group (the CPU
// stand-in for NCCL: one thread per rank): each rank's shard shapes, the
// splits the fixtures do not reach against one rank, and the errors for sizes
// that cannot split a model; the same with the routed experts placed whole
// (--enable-expert-parallel). Against the reference fixtures at 2 and 4
// ranks, both placements: forward_fixture_test.cpp.
#include "model/tensor_parallel.h"

#include <gtest/gtest.h>

#include <cstring>

#include "backend/backend.h"
#include "common/fixtures.h"
#include "model/deepseek_v3.h"
#include "model/presets.h"
#include "model/weight_source.h"
#include "runner/single_sequence.h"

namespace sable {
namespace {

std::unique_ptr<DeepseekV3Model> load_tp(WeightSource& src, int tp, bool expert_parallel = false) {
  LoadOptions o;
  o.tensor_parallel_size = tp;
  o.expert_parallel = expert_parallel;
  auto m = DeepseekV3Model::load(src, cpu_backend(), o);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return m.is_ok() ? std::move(*m) : nullptr;
}

// The tiny preset, 2 layers, in FP8, with attention and the dense MLP split
// over 2 ranks into whole 128 x 128 blocks. A rank's parts: 4 heads, so q_b
// 4 x 64 = 256 rows, kv_b 4 x 96 = 384 rows, o_proj 4 x 64 = 256 columns;
// intermediate 256.
ModelConfig fp8_tiny_on_whole_blocks() {
  ModelConfig c = *preset_config("tiny");
  c.num_hidden_layers = 2;
  c.num_attention_heads = 8;
  c.qk_nope_head_dim = 32;
  c.qk_rope_head_dim = 32;
  c.v_head_dim = 64;
  c.intermediate_size = 512;
  c.quantization.quant_method = "fp8";
  return c;
}

// Max relative difference of the two models' logits at every position of ids.
double logits_rel_error(DeepseekV3Model& a, DeepseekV3Model& b, const std::vector<int32_t>& ids) {
  SingleSequenceRunner ra(a, 16), rb(b, 16);
  auto la = ra.step(ids, true), lb = rb.step(ids, true);
  EXPECT_TRUE(la.is_ok() && lb.is_ok());
  if (!la.is_ok() || !lb.is_ok()) return 1e30;
  return testing::max_rel_error(lb->ptr<float>(), la->ptr<float>(), la->numel());
}

TEST(TensorParallel, RankZeroHoldsItsPartOfEachSplitWeight) {
  auto src = open_weight_source(testing::fixture_dir("tiny-dsv3"), "auto");
  ASSERT_TRUE(src.is_ok());
  auto m = load_tp(**src, 2);
  ASSERT_TRUE(m);
  const ModelConfig& c = m->config();
  const auto& w = m->weights();
  EXPECT_EQ(m->local_heads(), c.num_attention_heads / 2);
  const auto& a = w.layers[0].self_attn;
  EXPECT_EQ(a.q_b_proj.out_features(), c.num_attention_heads / 2 * c.qk_head_dim());
  EXPECT_EQ(a.o_proj.in_features(), c.num_attention_heads / 2 * c.v_head_dim);
  EXPECT_EQ(a.w_uk.dim(0), c.num_attention_heads / 2);
  EXPECT_EQ(a.w_uv.dim(0), c.num_attention_heads / 2);
  ASSERT_TRUE(a.fused_qkv_a_proj_with_mqa);  // replicated: the latent every head reads
  EXPECT_EQ(a.fused_qkv_a_proj_with_mqa->out_features(), *c.q_lora_rank + c.kv_latent_dim());
  ASSERT_TRUE(w.layers[0].mlp);
  EXPECT_EQ(w.layers[0].mlp->gate_proj.out_features(), c.intermediate_size / 2);
  EXPECT_EQ(w.layers[0].mlp->down_proj.in_features(), c.intermediate_size / 2);
  ASSERT_TRUE(w.layers[1].moe);
  const auto& moe = *w.layers[1].moe;
  EXPECT_EQ(moe.gate.out_features(), c.n_routed_experts);  // the router is replicated
  ASSERT_EQ(moe.experts.num_experts(), c.n_routed_experts + c.n_shared_experts);
  for (int e = 0; e < moe.experts.num_experts(); ++e) {
    EXPECT_EQ(moe.experts.up[size_t(e)].out_features(), c.moe_intermediate_size / 2);
    EXPECT_EQ(moe.experts.down[size_t(e)].in_features(), c.moe_intermediate_size / 2);
  }
  EXPECT_EQ(w.lm_head.out_features(), c.vocab_size / 2);
  EXPECT_EQ(w.embed_tokens.dim(0), c.vocab_size / 2);  // vocabulary-parallel: the rank's rows
  EXPECT_EQ(w.vocab_begin, 0);
}

TEST(TensorParallel, SizeThatDoesNotDivideTheHeadsIsRefusedWithSizesThatWork) {
  auto src = open_weight_source(testing::fixture_dir("tiny-dsv3"), "auto");
  ASSERT_TRUE(src.is_ok());
  LoadOptions o;
  o.tensor_parallel_size = 3;
  auto m = DeepseekV3Model::load(**src, cpu_backend(), o);
  ASSERT_FALSE(m.is_ok());
  const std::string msg = m.status().message();
  EXPECT_NE(msg.find("--tensor-parallel-size 3 does not divide num_attention_heads (4)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1, 2, 4"), std::string::npos) << msg;
}

TEST(TensorParallel, Fp8CheckpointSplitInsideAScaleBlockIsRefused) {
  // tiny-dsv3-fp8: 4 heads x 48 = 192 q_b rows, 96 a rank at size 2, inside
  // the first 128-row scale block.
  auto src = open_weight_source(testing::fixture_dir("tiny-dsv3-fp8"), "auto");
  ASSERT_TRUE(src.is_ok());
  LoadOptions o;
  o.tensor_parallel_size = 2;
  auto m = DeepseekV3Model::load(**src, cpu_backend(), o);
  ASSERT_FALSE(m.is_ok());
  const std::string msg = m.status().message();
  EXPECT_NE(msg.find("q_b_proj rows"), std::string::npos) << msg;
  EXPECT_NE(msg.find("128-wide scale blocks"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--quantization fp8"), std::string::npos) << msg;
}

TEST(TensorParallel, Fp8CheckpointOnWholeBlocksMatchesOneRank) {
  // An FP8 checkpoint whose parts are whole 128 x 128 blocks at size 2 (the
  // DeepSeek-V3 case): the same blocks and scales as on one rank, so the
  // logits equal one rank's up to the order of the sums.
  ModelConfig c = fp8_tiny_on_whole_blocks();
  c.moe_intermediate_size = 256;  // experts 128 a rank
  ASSERT_TRUE(check_tensor_parallel(c, 2).is_ok()) << check_tensor_parallel(c, 2).to_string();
  DummyWeightSource src(c, /*seed=*/7);
  auto one = load_tp(src, 1), two = load_tp(src, 2);
  ASSERT_TRUE(one && two);
  ASSERT_EQ(two->weights().layers[0].self_attn.o_proj.weight.dtype(), DType::F8_E4M3);
  const std::vector<int32_t> ids = {5, 17, 3, 99, 250, 8, 41, 7, 600, 2};
  EXPECT_LT(logits_rel_error(*one, *two, ids), 1e-4);
}

// A source without lm_head.weight: the loader ties lm_head to the
// embedding, as for a checkpoint with tie_word_embeddings.
class WithoutLmHead final : public WeightSource {
 public:
  explicit WithoutLmHead(WeightSource& s) : s_(s) {}
  const ModelConfig& config() const override { return s_.config(); }
  bool has(const std::string& name) const override { return name != "lm_head.weight" && s_.has(name); }
  Result<Tensor> get(const std::string& name, const Shape& expected) override { return s_.get(name, expected); }
  std::string describe() const override { return s_.describe(); }

 private:
  WeightSource& s_;
};

TEST(TensorParallel, TiedEmbeddingsAndSeveralSharedExpertsMatchOneRank) {
  // The splits the fixtures do not reach: lm_head as rows of the embedding,
  // and a shared MLP of two experts' width, fused as two experts of each
  // rank's part.
  ModelConfig c = *preset_config("tiny");
  c.num_hidden_layers = 2;
  c.n_shared_experts = 2;
  c.tie_word_embeddings = true;
  DummyWeightSource dummy(c, /*seed=*/11);
  WithoutLmHead src(dummy);
  auto one = load_tp(src, 1), two = load_tp(src, 2);
  ASSERT_TRUE(one && two);
  ASSERT_EQ(two->weights().layers[1].moe->num_shared, 2);
  EXPECT_EQ(two->weights().lm_head.out_features(), c.vocab_size / 2);
  const std::vector<int32_t> ids = {9, 4000, 17, 3, 129000, 8, 41, 7, 600, 2, 77, 5};
  EXPECT_LT(logits_rel_error(*one, *two, ids), 1e-4);
}

TEST(ExpertParallel, EachRankHoldsItsWholeExpertsAndAPartOfTheSharedOne) {
  auto src = open_weight_source(testing::fixture_dir("tiny-dsv3"), "auto");
  ASSERT_TRUE(src.is_ok());
  auto m = load_tp(**src, 2, /*expert_parallel=*/true);
  ASSERT_TRUE(m);
  const ModelConfig& c = m->config();
  const int local = c.n_routed_experts / 2;
  int ranks = 0;
  m->for_each_rank([&](int r, DeepseekV3Model& rm) {
    ++ranks;
    const auto& moe = *rm.weights().layers[1].moe;
    EXPECT_EQ(moe.expert_begin, r * local);
    EXPECT_EQ(moe.local_experts(), local);
    EXPECT_EQ(moe.num_shared, 0);  // a part of the shared MLP is narrower than a whole expert: not fused
    ASSERT_EQ(moe.experts.num_experts(), local);
    for (int e = 0; e < local; ++e) {
      EXPECT_EQ(moe.experts.up[size_t(e)].out_features(), c.moe_intermediate_size);
      EXPECT_EQ(moe.experts.down[size_t(e)].in_features(), c.moe_intermediate_size);
    }
    ASSERT_TRUE(moe.shared_experts);
    EXPECT_EQ(moe.shared_experts->gate_proj.out_features(), c.moe_intermediate_size * c.n_shared_experts / 2);
    EXPECT_EQ(moe.gate.out_features(), c.n_routed_experts);  // every rank routes over all experts
    // The rank's first expert is the checkpoint's expert r * local, whole.
    auto want = (**src).get("model.layers.1.mlp.experts." + std::to_string(r * local) + ".up_proj.weight",
                            {c.moe_intermediate_size, c.hidden_size});
    ASSERT_TRUE(want.is_ok());
    const Tensor& got = moe.experts.up[0].weight;
    ASSERT_EQ(got.dtype(), want->dtype());
    EXPECT_EQ(std::memcmp(got.data(), want->data(), want->nbytes()), 0);
  });
  EXPECT_EQ(ranks, 2);
}

TEST(ExpertParallel, SizeThatDoesNotDivideTheExpertsIsRefusedWithSizesThatWork) {
  ModelConfig c = *preset_config("tiny");
  c.n_routed_experts = 6;
  c.n_group = 1;
  c.topk_group = 1;
  ASSERT_TRUE(check_tensor_parallel(c, 4).is_ok());  // split by intermediate, 4 works
  const Status st = check_tensor_parallel(c, 4, /*expert_parallel=*/true);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("does not divide n_routed_experts (6)"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("1, 2, 3, 6"), std::string::npos) << st.message();
}

TEST(ExpertParallel, Fp8ExpertsThatASplitWouldCutLoadWholeAndMatchOneRank) {
  // moe_intermediate_size 128: split over 2 ranks, an expert's part (64)
  // would cut its 128-wide scale blocks, so tensor parallelism alone refuses
  // the checkpoint; placed whole, the experts keep their blocks. The shared
  // MLP (2 x 128) still splits, into whole blocks.
  ModelConfig c = fp8_tiny_on_whole_blocks();
  c.moe_intermediate_size = 128;
  c.n_shared_experts = 2;
  const Status split = check_tensor_parallel(c, 2);
  ASSERT_FALSE(split.is_ok());
  EXPECT_NE(split.message().find("moe_intermediate_size"), std::string::npos) << split.message();
  ASSERT_TRUE(check_tensor_parallel(c, 2, true).is_ok()) << check_tensor_parallel(c, 2, true).to_string();
  DummyWeightSource src(c, /*seed=*/5);
  auto one = load_tp(src, 1), two = load_tp(src, 2, /*expert_parallel=*/true);
  ASSERT_TRUE(one && two);
  ASSERT_EQ(two->weights().layers[1].moe->experts.gate[0].weight.dtype(), DType::F8_E4M3);
  const std::vector<int32_t> ids = {5, 17, 3, 99, 250, 8, 41, 7, 600, 2, 1000, 12, 64};
  EXPECT_LT(logits_rel_error(*one, *two, ids), 1e-4);
}

}  // namespace
}  // namespace sable
