// Speculative decoding (--speculative-config) through the whole engine: the
// drafts of DeepSeek-V3's MTP layer or of n-gram lookup are verified in one
// step and never change what is generated. Greedy output equals the
// reference's (margin rule) and the plain engine's; sampled output keeps the
// model's probabilities (every reported logprob equals a fresh full
// forward's, which a stale draft latent in the cache would break); a model
// whose MTP layer is exact by construction has every draft accepted; forks,
// chunked prompts and preemption keep working, and no block leaks.
#include <gtest/gtest.h>

#include <cmath>

#include "backend/backend.h"
#include "common/fixtures.h"
#include "engine/engine_util.h"

namespace sable {
namespace {

using testing::RequestResult;

struct Loaded {
  std::unique_ptr<WeightSource> source;
  std::unique_ptr<DeepseekV3Model> model;
};

Loaded load(std::unique_ptr<WeightSource> src, int tp = 1, bool expert_parallel = false) {
  Loaded l;
  l.source = std::move(src);
  LoadOptions o;
  o.load_mtp = true;
  o.tensor_parallel_size = tp;
  o.expert_parallel = expert_parallel;
  auto m = DeepseekV3Model::load(*l.source, cpu_backend(), o);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  if (m.is_ok()) l.model = std::move(*m);
  return l;
}

// The reference checkpoint (tiny-dsv3, whose greedy tokens the fixtures
// hold) with an MTP layer of random weights added: the fixtures have no
// complete MTP layer (tiny-dsv3-fp8's is a stub to load around), and the
// drafts' quality never changes what is generated, only how fast.
class ReferenceWithMtpSource final : public WeightSource {
 public:
  ReferenceWithMtpSource() {
    auto src = open_weight_source(testing::fixture_dir("tiny-dsv3"), "auto");
    EXPECT_TRUE(src.is_ok());
    ref_ = std::move(*src);
    config_ = ref_->config();
    config_.num_nextn_predict_layers = 1;
    mtp_ = std::make_unique<DummyWeightSource>(config_, 5, /*include_mtp=*/true);
  }
  const ModelConfig& config() const override { return config_; }
  bool has(const std::string& name) const override { return ref_->has(name) || is_mtp(name); }
  std::string describe() const override { return "tiny-dsv3 with a random MTP layer"; }
  Result<Tensor> get(const std::string& name, const Shape& expected) override {
    return is_mtp(name) ? mtp_->get(name, expected) : ref_->get(name, expected);
  }

 private:
  bool is_mtp(const std::string& name) const {
    return name.rfind("model.layers." + std::to_string(config_.num_hidden_layers) + ".", 0) == 0;
  }
  std::unique_ptr<WeightSource> ref_;
  std::unique_ptr<DummyWeightSource> mtp_;
  ModelConfig config_;
};

DeepseekV3Model& reference_with_mtp() {
  static Loaded l = load(std::make_unique<ReferenceWithMtpSource>());
  return *l.model;
}

// Random weights at tiny dimensions whose MTP layer predicts exactly what the
// main model will: every attention and MLP output is zero (o_proj and
// down_proj are zero), so the main model's next token depends only on the
// current one, f(t) = argmax lm_head(norm(embed(t))); eh_proj passes the
// normed embedding of the next token through (identity on its first half,
// zero on the second) and shared_head.norm equals model.norm, so the MTP's
// logits at position i are the main model's at position i + 1.
class ExactMtpSource final : public WeightSource {
 public:
  ExactMtpSource() : inner_(make_config(), 11, /*include_mtp=*/true) {}
  static ModelConfig make_config() { return testing::tiny_config_with_mtp(); }
  const ModelConfig& config() const override { return inner_.config(); }
  bool has(const std::string& name) const override { return inner_.has(name); }
  std::string describe() const override { return "exact-MTP test weights"; }
  Result<Tensor> get(const std::string& name, const Shape& expected) override {
    SABLE_ASSIGN_OR_RETURN(Tensor t, inner_.get(name, expected));
    auto ends = [&](const std::string& s) {
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    const std::string mtp = "model.layers." + std::to_string(config().num_hidden_layers) + ".";
    if (ends(".o_proj.weight") || ends(".down_proj.weight")) return filled(t, [](int64_t, int64_t) { return 0.f; });
    if (ends("eh_proj.weight"))
      return filled(t, [](int64_t r, int64_t c) { return r == c ? 1.f : 0.f; });  // [H, 2H]: [I | 0]
    if (ends("enorm.weight")) return filled(t, [](int64_t, int64_t) { return 1.f; });
    if (name == mtp + "shared_head.norm.weight") return inner_.get("model.norm.weight", expected);
    return t;
  }

 private:
  template <typename F>
  static Tensor filled(const Tensor& like, F f) {
    Tensor out = Tensor::empty(DType::F32, like.shape());
    const int64_t cols = like.numel() / like.dim(0);  // 1 for a vector: f(i, 0)
    for (int64_t i = 0; i < like.numel(); ++i) out.ptr<float>()[i] = f(i / cols, i % cols);
    return out;
  }
  DummyWeightSource inner_;
};

DeepseekV3Model& exact_mtp() {
  static Loaded l = load(std::make_unique<ExactMtpSource>());
  return *l.model;
}

EngineConfig spec_config(SpeculativeConfig::Method method, int k) {
  EngineConfig c = testing::small_engine_config();
  c.speculative.method = method;
  c.speculative.num_speculative_tokens = k;
  c.speculative.prompt_lookup_min = 1;
  c.speculative.prompt_lookup_max = 3;
  return c;
}

struct SpecRun {
  std::vector<RequestResult> results;
  uint64_t drafts = 0, draft_tokens = 0, accepted = 0, preemptions = 0;
};

SpecRun run(DeepseekV3Model& model, const EngineConfig& cfg, std::vector<GenerateRequest> reqs) {
  auto e = Engine::create(cfg, model, testing::tiny_model().tokenizer);
  EXPECT_TRUE(e.is_ok()) << e.status().to_string();
  SpecRun r;
  if (!e.is_ok()) return r;
  r.results = testing::run_all(**e, std::move(reqs));
  EXPECT_EQ((*e)->gauges().kv_cache_usage, 0.0);  // no block leaks
  const EngineMetrics& m = (*e)->metrics();
  r.drafts = m.spec_num_drafts;
  r.draft_tokens = m.spec_num_draft_tokens;
  r.accepted = m.spec_num_accepted_tokens;
  r.preemptions = m.num_preemptions;
  uint64_t per_pos = 0;
  for (const auto& a : m.spec_accepted_per_pos) per_pos += a;
  EXPECT_EQ(per_pos, r.accepted);
  return r;
}

std::vector<std::vector<int32_t>> ids_of(const SpecRun& r) {
  std::vector<std::vector<int32_t>> out;
  for (const auto& q : r.results)
    for (const auto& c : q) out.push_back(c.ids);
  return out;
}

// Prompts of varied lengths, some repeating themselves (n-gram drafts hit).
std::vector<GenerateRequest> mixed_requests(int count, int max_tokens) {
  std::vector<GenerateRequest> reqs;
  for (int i = 0; i < count; ++i) {
    std::vector<int32_t> ids;
    const int len = 3 + (i * 29) % 40;
    for (int j = 0; j < len; ++j) ids.push_back(int32_t((i * 131 + (i % 2 ? j % 5 : j) * 17 + 5) % 1000 + 2));
    reqs.push_back(testing::greedy_request(ids, max_tokens));
  }
  return reqs;
}

TEST(SpeculativeDecoding, MtpGreedyMatchesReferenceUpToMarginRule) {
  const auto prompts = testing::load_fixture_prompts("tiny-dsv3");
  std::vector<GenerateRequest> reqs;
  for (const auto& p : prompts) reqs.push_back(testing::greedy_request(p.ids, int(p.greedy.size())));
  const SpecRun plain = run(reference_with_mtp(), testing::small_engine_config(), reqs);
  for (int k : {1, 3}) {
    const SpecRun spec = run(reference_with_mtp(), spec_config(SpeculativeConfig::Method::kMtp, k), reqs);
    ASSERT_EQ(spec.results.size(), prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      const int n = testing::greedy_compare_length(prompts[i].greedy_margin);
      for (int j = 0; j < n; ++j)
        ASSERT_EQ(spec.results[i][0].ids[size_t(j)], prompts[i].greedy[size_t(j)]) << "k " << k << " prompt " << i;
    }
    EXPECT_EQ(ids_of(spec), ids_of(plain)) << "k " << k;
    EXPECT_GT(spec.drafts, 0u);
    EXPECT_LE(spec.draft_tokens, spec.drafts * uint64_t(k));
  }
}

TEST(SpeculativeDecoding, ExactMtpAcceptsEveryDraftAndChangesNothing) {
  const auto reqs = mixed_requests(6, 24);
  const SpecRun plain = run(exact_mtp(), testing::small_engine_config(), reqs);
  for (int k : {1, 2, 4}) {
    const SpecRun spec = run(exact_mtp(), spec_config(SpeculativeConfig::Method::kMtp, k), reqs);
    EXPECT_EQ(ids_of(spec), ids_of(plain)) << "k " << k;
    EXPECT_GT(spec.draft_tokens, 0u);
    EXPECT_EQ(spec.accepted, spec.draft_tokens) << "k " << k;
    // Each verifying step yields drafts + 1 tokens: far fewer steps.
    EXPECT_GE(spec.drafts * uint64_t(k), spec.draft_tokens);
  }
}

TEST(SpeculativeDecoding, NgramGreedyEqualsPlain) {
  const auto reqs = mixed_requests(8, 40);
  const SpecRun plain = run(*testing::tiny_model().model, testing::small_engine_config(), reqs);
  const SpecRun spec = run(*testing::tiny_model().model, spec_config(SpeculativeConfig::Method::kNgram, 3), reqs);
  EXPECT_EQ(ids_of(spec), ids_of(plain));
  EXPECT_GT(spec.accepted, 0u);                 // repeating outputs: lookups hit
  EXPECT_LT(spec.accepted, spec.draft_tokens);  // and miss
}

// disable_by_batch_size: no drafts while that many sequences run; a lone
// sequence still drafts. Tokens never change.
TEST(SpeculativeDecoding, DisableByBatchSizeStopsDraftingForLargeBatches) {
  // Two requests of one prompt length and max_tokens: they run side by side
  // from the first step to the last.
  std::vector<GenerateRequest> two = mixed_requests(1, 16);
  two.push_back(two[0]);
  const SpecRun plain = run(exact_mtp(), testing::small_engine_config(), two);
  EngineConfig cfg = spec_config(SpeculativeConfig::Method::kMtp, 2);
  cfg.speculative.disable_by_batch_size = 2;
  const SpecRun off = run(exact_mtp(), cfg, two);
  EXPECT_EQ(ids_of(off), ids_of(plain));
  EXPECT_EQ(off.drafts, 0u);
  const SpecRun alone = run(exact_mtp(), cfg, {two[0]});
  EXPECT_EQ(ids_of(alone)[0], ids_of(plain)[0]);
  EXPECT_GT(alone.drafts, 0u);
  EXPECT_EQ(alone.accepted, alone.draft_tokens);  // the MTP cache stayed whole
  cfg.speculative.disable_by_batch_size = 3;
  EXPECT_GT(run(exact_mtp(), cfg, two).drafts, 0u);
}

// The log-softmax of each generated token in one forward over the whole
// sequence, with a fresh cache.
std::vector<float> full_forward_logprobs(DeepseekV3Model& model, const std::vector<int32_t>& prompt,
                                         const std::vector<int32_t>& out) {
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), out.begin(), out.end());
  const int L = int(all.size()), bs = 16, blocks = (L + bs - 1) / bs;
  KvCache cache = model.allocate_kv_cache(blocks, bs, DType::F32);
  ForwardBatch b;
  b.block_size = bs;
  b.max_blocks = blocks;
  for (int i = 0; i < L; ++i) {
    b.token_ids.push_back(all[size_t(i)]);
    b.positions.push_back(i);
    b.token_seq.push_back(0);
    b.slot_mapping.push_back(i);
  }
  b.seq_lens.push_back(L);
  for (int i = 0; i < blocks; ++i) b.block_tables.push_back(i);
  for (size_t j = 0; j < out.size(); ++j) b.logits_indices.push_back(int32_t(prompt.size() + j) - 1);
  auto logits = model.forward(b, cache);
  EXPECT_TRUE(logits.is_ok());
  const int64_t V = logits->dim(1);
  std::vector<float> lp;
  for (size_t j = 0; j < out.size(); ++j) {
    const float* row = logits->ptr<float>() + int64_t(j) * V;
    double mx = *std::max_element(row, row + V), sum = 0;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - mx);
    lp.push_back(float(double(row[out[j]]) - mx - std::log(sum)));
  }
  return lp;
}

void expect_logprobs_match_forward(DeepseekV3Model& model, const std::vector<GenerateRequest>& reqs, const SpecRun& r) {
  for (size_t i = 0; i < reqs.size(); ++i) {
    const auto& c = r.results[i][0];
    ASSERT_EQ(c.logprobs.size(), c.ids.size());
    const auto ref = full_forward_logprobs(model, reqs[i].prompt_ids, c.ids);
    for (size_t j = 0; j < c.ids.size(); ++j)
      ASSERT_NEAR(c.logprobs[j].logprob, ref[j], 2e-4) << "request " << i << " token " << j;
  }
}

std::vector<GenerateRequest> sampled(std::vector<GenerateRequest> reqs, float temperature) {
  for (size_t i = 0; i < reqs.size(); ++i) {
    reqs[i].params.temperature = temperature;
    reqs[i].params.seed = 100 + i;
    reqs[i].params.logprobs = 0;
  }
  return reqs;
}

TEST(SpeculativeDecoding, SampledTokensKeepTheModelsLogprobs) {
  {  // n-gram drafts, some accepted, some rejected
    const auto reqs = sampled(mixed_requests(6, 30), 0.2f);
    const SpecRun spec = run(*testing::tiny_model().model, spec_config(SpeculativeConfig::Method::kNgram, 3), reqs);
    EXPECT_GT(spec.accepted, 0u);
    EXPECT_LT(spec.accepted, spec.draft_tokens);
    expect_logprobs_match_forward(*testing::tiny_model().model, reqs, spec);
  }
  {  // exact MTP drafts (the argmax), accepted with their probability
    const auto reqs = sampled(mixed_requests(6, 30), 1.0f);
    const SpecRun spec = run(exact_mtp(), spec_config(SpeculativeConfig::Method::kMtp, 3), reqs);
    EXPECT_GT(spec.accepted, 0u);
    EXPECT_LT(spec.accepted, spec.draft_tokens);
    expect_logprobs_match_forward(exact_mtp(), reqs, spec);
  }
}

TEST(SpeculativeDecoding, ChunkedPreemptedAndForkedEqualPlain) {
  auto reqs = mixed_requests(10, 20);
  reqs[3].params.n = 2;  // forks share the prompt's blocks (the MTP layer's too)
  EngineConfig tight = testing::small_engine_config();
  tight.max_num_batched_tokens = 24;  // prompts in chunks
  tight.num_kv_blocks = 12;           // and preemption
  const SpecRun plain = run(exact_mtp(), tight, reqs);
  EngineConfig spec_cfg = spec_config(SpeculativeConfig::Method::kMtp, 3);
  spec_cfg.max_num_batched_tokens = tight.max_num_batched_tokens;
  spec_cfg.num_kv_blocks = tight.num_kv_blocks;
  const SpecRun spec = run(exact_mtp(), spec_cfg, reqs);
  EXPECT_GT(spec.preemptions, 0u);
  EXPECT_GT(spec.accepted, 0u);
  EXPECT_EQ(ids_of(spec), ids_of(plain));
}

TEST(SpeculativeDecoding, MtpUnderTensorParallelism) {
  // The MTP layer split over two ranks as any other layer, both placements
  // of the experts: the same drafts (hence the same draft count) and tokens.
  const auto reqs = mixed_requests(4, 12);
  const SpecRun one = run(reference_with_mtp(), spec_config(SpeculativeConfig::Method::kMtp, 2), reqs);
  for (bool ep : {false, true}) {
    Loaded tp2 = load(std::make_unique<ReferenceWithMtpSource>(), 2, ep);
    ASSERT_TRUE(tp2.model);
    const SpecRun two = run(*tp2.model, spec_config(SpeculativeConfig::Method::kMtp, 2), reqs);
    EXPECT_EQ(ids_of(two), ids_of(one)) << "expert parallel " << ep;
    EXPECT_EQ(two.draft_tokens, one.draft_tokens) << "expert parallel " << ep;
  }
}

TEST(SpeculativeDecoding, MtpNeedsACheckpointWithTheLayer) {
  // The engine refuses MTP drafts from a model loaded without the layer...
  auto e = Engine::create(spec_config(SpeculativeConfig::Method::kMtp, 1), *testing::tiny_model().model,
                          testing::tiny_model().tokenizer);
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("MTP"), std::string::npos) << e.status().message();
  // ... and the loader a checkpoint without one (num_nextn_predict_layers 0).
  auto src = open_weight_source(testing::fixture_dir("tiny-dsv3"), "auto");
  ASSERT_TRUE(src.is_ok());
  LoadOptions o;
  o.load_mtp = true;
  auto m = DeepseekV3Model::load(**src, cpu_backend(), o);
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("num_nextn_predict_layers"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("ngram"), std::string::npos) << m.status().message();
  // A layer with tensors missing (tiny-dsv3-fp8's is a stub) names the first one.
  auto fp8 = open_weight_source(testing::fixture_dir("tiny-dsv3-fp8"), "auto");
  ASSERT_TRUE(fp8.is_ok());
  auto s = DeepseekV3Model::load(**fp8, cpu_backend(), o);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("MTP"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("model.layers.3."), std::string::npos) << s.status().message();
}

}  // namespace
}  // namespace sable
