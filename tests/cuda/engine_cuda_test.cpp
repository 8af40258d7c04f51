// The whole engine on the CUDA backend with the fixture models: greedy tokens
// against the Hugging Face reference (margin rule, with the bf16/fp8 logits
// bound of forward_fixture_cuda_test.cpp), and batch invariance: each prompt
// alone, among 31 others, with chunked prefill and under preemption.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "backend/cuda/batch_invariant.h"
#include "common/fixtures.h"
#include "cuda_test_util.h"
#include "engine/engine.h"
#include "model/deepseek_v3.h"
#include "model/weight_source.h"
#include "runner/single_sequence.h"

namespace sable {
namespace {

// Batch invariance is asserted in batch-invariant mode (batch_invariant.h),
// as vLLM promises it only under VLLM_BATCH_INVARIANT: by default FP8's kernel
// choice follows the token count, and under CUDA graphs a batch is padded to
// the captured size, which changes attention's key split (the H200 run of
// f584ca7: bf16 30/32, FP8 10/32). The default kernels' figure is printed.
struct Case {
  const char* name;
  double bound;  // max|dlogit| / max|logit| that the GPU forward meets
};

// Sets the batch-invariant mode for a scope.
struct InvariantMode {
  bool saved;
  explicit InvariantMode(bool on) : saved(cuda::batch_invariant()) { cuda::set_batch_invariant(on); }
  ~InvariantMode() { cuda::set_batch_invariant(saved); }
};

class CudaEngine : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    SABLE_REQUIRE_GPU();
    auto src = open_weight_source(testing::fixture_dir(GetParam().name), "auto");
    ASSERT_TRUE(src.is_ok()) << src.status().to_string();
    source_ = std::move(*src);
    auto m = DeepseekV3Model::load(*source_, cudatest::gpu());
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    model_ = std::move(*m);
    prompts_ = testing::load_fixture_prompts(GetParam().name);
  }

  std::vector<std::vector<int32_t>> run(const EngineConfig& cfg, const std::vector<GenerateRequest>& reqs,
                                        uint64_t* preemptions = nullptr) {
    auto e = Engine::create(cfg, *model_, nullptr);
    EXPECT_TRUE(e.is_ok()) << e.status().to_string();
    std::vector<std::shared_ptr<RequestHandle>> hs;
    for (size_t i = 0; i < reqs.size(); ++i) {
      GenerateRequest r = reqs[i];
      r.request_id = "r" + std::to_string(i);
      auto h = (*e)->submit(r);
      EXPECT_TRUE(h.is_ok()) << h.status().to_string();
      hs.push_back(*h);
    }
    (*e)->run_until_idle();
    std::vector<std::vector<int32_t>> out;
    for (auto& h : hs) {
      std::vector<int32_t> ids;
      for (auto& o : h->poll()) ids.insert(ids.end(), o.token_ids.begin(), o.token_ids.end());
      out.push_back(ids);
    }
    if (preemptions) *preemptions = (*e)->metrics().num_preemptions;
    EXPECT_EQ((*e)->gauges().kv_cache_usage, 0.0);
    return out;
  }

  static EngineConfig config() {
    EngineConfig c;
    c.block_size = 16;
    c.num_kv_blocks = 512;
    c.max_num_seqs = 64;
    c.max_num_batched_tokens = 2048;
    return c;
  }

  std::unique_ptr<WeightSource> source_;
  std::unique_ptr<DeepseekV3Model> model_;
  std::vector<testing::FixturePrompt> prompts_;
};

GenerateRequest greedy(const std::vector<int32_t>& ids, int n) {
  GenerateRequest r;
  r.prompt_ids = ids;
  r.params.temperature = 0;
  r.params.ignore_eos = true;
  r.params.max_tokens = n;
  return r;
}

TEST_P(CudaEngine, GreedyMatchesReferenceUpToMarginRule) {
  std::vector<GenerateRequest> reqs;
  for (const auto& p : prompts_) reqs.push_back(greedy(p.ids, int(p.greedy.size())));
  auto out = run(config(), reqs);
  int compared = 0;
  for (size_t i = 0; i < prompts_.size(); ++i) {
    const auto& p = prompts_[i];
    double max_logit = 0;
    for (int64_t j = 0; j < p.logits.numel(); ++j) max_logit = std::max(max_logit, double(std::fabs(p.logits.ptr<float>()[j])));
    // A forward within the bound may flip a choice closer than this.
    const double threshold = std::max(0.01, 2 * GetParam().bound * max_logit);
    int n = 0;
    while (n < int(p.greedy_margin.size()) && p.greedy_margin[size_t(n)] >= threshold) ++n;
    for (int k = 0; k < n; ++k) ASSERT_EQ(out[i][size_t(k)], p.greedy[size_t(k)]) << "prompt " << i << " step " << k;
    compared += n;
  }
  RecordProperty("greedy_tokens_compared", compared);
  std::printf("[ measured ] %s: %d greedy tokens compared under the margin rule\n", GetParam().name, compared);
}

// log_softmax of `token` in row `pos` of [len, V] float logits.
double row_logprob(const float* logits, int64_t V, int64_t pos, int32_t token) {
  const float* row = logits + pos * V;
  const float mx = *std::max_element(row, row + V);
  double sum = 0;
  for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - mx);
  return double(row[token]) - mx - std::log(sum);
}

// Prompt logprobs (engine/prompt_logprobs_test.cpp on the CPU): the prompt
// positions' logits rows come off the GPU after the sampling rows.
// 1. The plumbing, exactly: a prompt alone in one chunk gives the log_softmax
//    of this GPU's own one-shot forward (SingleSequenceRunner, the same
//    kernels at the same token count) at every position.
// 2. Against the reference, batched and chunked: within what the logits
//    bound allows (a logit and the log-sum-exp each move by at most bound x
//    max|logit|) at 90% of positions and within 3 nats at all. The bound
//    holds before the first routing flip (forward_fixture_cuda_test.cpp);
//    batched and chunked, the GEMMs see other token counts and near-tie
//    expert choices flip at scattered positions (H200, b90e5ab: bf16 6 of 299
//    positions 0.5-1.3 nats off, FP8 5 of 99). A misplaced row fails 1.
TEST_P(CudaEngine, PromptLogprobsMatchReference) {
  EngineConfig cfg = config();
  cfg.max_num_seqs = 256;  // 256 prompt-logits rows per step: the 100-token prompts in one chunk
  for (const auto& p : prompts_) {
    if (p.ids.size() < 2 || p.ids.size() > 256) continue;
    const int64_t n = int64_t(p.ids.size()), V = p.logits.dim(1);
    SingleSequenceRunner one(*model_, int(n));
    auto own = one.step(p.ids, /*all_logits=*/true);
    ASSERT_TRUE(own.is_ok()) << own.status().to_string();
    auto e = Engine::create(cfg, *model_, nullptr);
    ASSERT_TRUE(e.is_ok());
    GenerateRequest r = greedy(p.ids, 1);
    r.params.prompt_logprobs = 1;
    r.request_id = "alone";
    auto h = (*e)->submit(r);
    ASSERT_TRUE(h.is_ok());
    (*e)->run_until_idle();
    std::vector<TokenLogprob> got;
    for (auto& o : (*h)->poll())
      if (!o.prompt_logprobs.empty()) got = o.prompt_logprobs;
    ASSERT_EQ(int64_t(got.size()), n);
    double worst = 0;
    for (int64_t k = 1; k < n; ++k)
      worst = std::max(worst, std::fabs(got[size_t(k)].logprob -
                                        row_logprob(own->ptr<float>(), V, k - 1, p.ids[size_t(k)])));
    EXPECT_LE(worst, 1e-3) << n << "-token prompt alone against the GPU's one-shot forward";
    std::printf("[ measured ] %s, %lld-token prompt alone: prompt logprobs within %.3g of the GPU forward\n",
                GetParam().name, (long long)n, worst);
  }

  auto e = Engine::create(config(), *model_, nullptr);
  ASSERT_TRUE(e.is_ok());
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (size_t i = 0; i < prompts_.size(); ++i) {
    GenerateRequest r = greedy(prompts_[i].ids, 2);
    r.params.prompt_logprobs = 2;
    r.request_id = "p" + std::to_string(i);
    auto h = (*e)->submit(r);
    ASSERT_TRUE(h.is_ok()) << h.status().to_string();
    hs.push_back(*h);
  }
  (*e)->run_until_idle();
  for (size_t i = 0; i < prompts_.size(); ++i) {
    const auto& p = prompts_[i];
    std::vector<TokenLogprob> got;
    for (auto& o : hs[i]->poll())
      if (!o.prompt_logprobs.empty()) got = o.prompt_logprobs;
    ASSERT_EQ(got.size(), p.ids.size()) << "prompt " << i;
    EXPECT_TRUE(std::isnan(got[0].logprob));
    const int64_t V = p.logits.dim(1);
    double max_logit = 0;
    for (int64_t j = 0; j < p.logits.numel(); ++j) max_logit = std::max(max_logit, double(std::fabs(p.logits.ptr<float>()[j])));
    const double tol = 2 * GetParam().bound * max_logit + 1e-3;
    double worst = 0;
    int num_off = 0;
    std::string off;  // the positions past the bound, for the failure message
    for (size_t k = 1; k < got.size(); ++k) {
      const double want = row_logprob(p.logits.ptr<float>(), V, int64_t(k) - 1, p.ids[k]);
      ASSERT_EQ(got[k].token_id, p.ids[k]);
      ASSERT_EQ(got[k].top.size(), 2u);
      const double err = std::fabs(double(got[k].logprob) - want);
      worst = std::max(worst, err);
      if (err > tol) {
        ++num_off;
        if (off.size() < 400)
          off += " " + std::to_string(k) + ":" + std::to_string(got[k].logprob) + "/" + std::to_string(want);
      }
    }
    EXPECT_LE(num_off, std::max(1, int(got.size() - 1) / 10)) << "prompt " << i << ", past the bound (got/want):" << off;
    EXPECT_LE(worst, 3.0) << "prompt " << i << ", past the bound (got/want):" << off;
    std::printf("[ measured ] %s prompt %zu: %d of %zu prompt logprobs past the bound %.3g, worst %.3g\n",
                GetParam().name, i, num_off, got.size() - 1, tol, worst);
  }
  EXPECT_EQ((*e)->gauges().kv_cache_usage, 0.0);
}

struct InvarianceCounts {
  int batched = 0, chunked = 0, preempted = 0;
  uint64_t preemptions = 0;
};

TEST_P(CudaEngine, BatchInvariance) {
  std::vector<std::vector<int32_t>> prompts;
  for (const auto& p : prompts_) prompts.push_back(p.ids);
  for (int i = int(prompts.size()); i < 32; ++i) {
    std::vector<int32_t> ids;
    for (int j = 0; j < 3 + (i * 37) % 150; ++j) ids.push_back(int32_t((i * 131 + j * 17 + 5) % 1000 + 2));
    prompts.push_back(ids);
  }
  // Greedy rows, seeded rows the GPU sampler draws (temperature, top-k,
  // top-p) and seeded rows with logprobs, which the host samples.
  std::vector<GenerateRequest> reqs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerateRequest r = greedy(prompts[i], 12);
    if (i % 4 == 1 || i % 4 == 2) {
      r.params.temperature = i % 4 == 1 ? 1.0f : 0.7f;
      r.params.top_k = i % 8 == 1 ? 50 : 0;
      r.params.top_p = i % 8 == 5 ? 0.9f : 1.0f;
      r.params.seed = 1000 + i;
      if (i % 4 == 2) r.params.logprobs = 1;
    }
    reqs.push_back(r);
  }
  // Each prompt alone, then all 32 together, with chunked prefill, and under
  // preemption: how many outputs equal the alone run.
  auto measure = [&](bool invariant) {
    InvariantMode mode(invariant);
    std::vector<std::vector<int32_t>> alone;
    for (const auto& r : reqs) alone.push_back(run(config(), {r})[0]);
    auto count_equal = [&](const std::vector<std::vector<int32_t>>& got) {
      int same = 0;
      for (size_t i = 0; i < got.size(); ++i) same += got[i] == alone[i];
      return same;
    };
    InvarianceCounts c;
    c.batched = count_equal(run(config(), reqs));
    EngineConfig chunked = config();
    chunked.max_num_batched_tokens = 37;
    c.chunked = count_equal(run(chunked, reqs));
    EngineConfig tight = config();
    tight.num_kv_blocks = 24;
    tight.enable_prefix_caching = false;
    c.preempted = count_equal(run(tight, reqs, &c.preemptions));
    std::printf("[ measured ] %s (%s): identical to the alone run: batched %d/32, chunked %d/32, preempted %d/32 "
                "(%llu preemptions)\n",
                GetParam().name, invariant ? "batch-invariant mode" : "default kernels", c.batched, c.chunked,
                c.preempted, (unsigned long long)c.preemptions);
    return c;
  };
  measure(false);  // for the record: what the default kernels give
  const InvarianceCounts c = measure(true);
  EXPECT_GT(c.preemptions, 0u);
  EXPECT_EQ(c.batched, 32);
  EXPECT_EQ(c.chunked, 32);
  EXPECT_EQ(c.preempted, 32);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaEngine, ::testing::Values(Case{"tiny-dsv3", 3e-2}, Case{"tiny-dsv3-fp8", 8e-2}),
                         [](const auto& info) {
                           std::string s = info.param.name;
                           for (char& c : s) if (c == '-') c = '_';
                           return s;
                         });

}  // namespace
}  // namespace sable
