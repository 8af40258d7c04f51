// The engine over a model split across two tensor-parallel ranks (CPU
// stand-in): greedy continuations equal the reference's up to the margin
// rule, a request's tokens do not depend on its batch, chunking or
// preemption, forks copy every rank's cache blocks, and no block leaks; with
// the routed experts split by intermediate and placed whole
// (--enable-expert-parallel).
#include <gtest/gtest.h>

#include "common/fixtures.h"
#include "engine/engine_util.h"

namespace sable {
namespace {

using testing::RequestResult;

struct TpModel {
  std::unique_ptr<WeightSource> source;
  std::unique_ptr<DeepseekV3Model> model;
};

TpModel load_tp2(bool expert_parallel) {
  TpModel t;
  auto src = open_weight_source(testing::fixture_dir("tiny-dsv3"), "auto");
  EXPECT_TRUE(src.is_ok());
  t.source = std::move(*src);
  LoadOptions o;
  o.tensor_parallel_size = 2;
  o.expert_parallel = expert_parallel;
  auto model = DeepseekV3Model::load(*t.source, cpu_backend(), o);
  EXPECT_TRUE(model.is_ok()) << model.status().to_string();
  t.model = std::move(*model);
  return t;
}

DeepseekV3Model& tp2_model(bool expert_parallel) {
  static TpModel split = load_tp2(false), whole = load_tp2(true);
  return *(expert_parallel ? whole : split).model;
}

class TensorParallelEngine : public ::testing::TestWithParam<bool> {
 protected:
  std::vector<RequestResult> run(const EngineConfig& cfg, const std::vector<GenerateRequest>& reqs,
                                 uint64_t* preemptions = nullptr) {
    auto e = Engine::create(cfg, tp2_model(GetParam()), testing::tiny_model().tokenizer);
    EXPECT_TRUE(e.is_ok()) << e.status().to_string();
    auto res = testing::run_all(**e, reqs);
    EXPECT_EQ((*e)->gauges().kv_cache_usage, 0.0);  // no leaks
    if (preemptions) *preemptions = (*e)->metrics().num_preemptions;
    return res;
  }
};

TEST_P(TensorParallelEngine, GreedyMatchesReferenceUpToMarginRule) {
  const auto prompts = testing::load_fixture_prompts("tiny-dsv3");
  std::vector<GenerateRequest> reqs;
  for (const auto& p : prompts) reqs.push_back(testing::greedy_request(p.ids, int(p.greedy.size())));
  const auto res = run(testing::small_engine_config(), reqs);  // all prompts in one batch
  ASSERT_EQ(res.size(), prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    const int n = testing::greedy_compare_length(prompts[i].greedy_margin);
    for (int k = 0; k < n; ++k)
      ASSERT_EQ(res[i][0].ids[size_t(k)], prompts[i].greedy[size_t(k)]) << "prompt " << i << " step " << k;
  }
}

TEST_P(TensorParallelEngine, AloneEqualsBatchedChunkedAndPreempted) {
  std::vector<GenerateRequest> reqs;
  for (int i = 0; i < 12; ++i) {
    std::vector<int32_t> ids;
    for (int j = 0; j < 5 + (i * 37) % 90; ++j) ids.push_back(int32_t((i * 131 + j * 17 + 5) % 1000 + 2));
    GenerateRequest q = testing::greedy_request(ids, 10);
    q.params.temperature = 0.8f;
    q.params.seed = 77 + uint64_t(i);
    reqs.push_back(q);
  }
  std::vector<std::vector<int32_t>> alone;
  for (const auto& r : reqs) alone.push_back(run(testing::small_engine_config(), {r})[0][0].ids);
  auto ids = [](const std::vector<RequestResult>& res) {
    std::vector<std::vector<int32_t>> out;
    for (const auto& r : res) out.push_back(r[0].ids);
    return out;
  };
  EXPECT_EQ(ids(run(testing::small_engine_config(), reqs)), alone);
  EngineConfig chunked = testing::small_engine_config();
  chunked.max_num_batched_tokens = 29;
  EXPECT_EQ(ids(run(chunked, reqs)), alone);
  EngineConfig tight = testing::small_engine_config();
  tight.num_kv_blocks = 12;  // 192 tokens for 12 prompts of up to 95 + 10
  tight.enable_prefix_caching = false;
  uint64_t preemptions = 0;
  EXPECT_EQ(ids(run(tight, reqs, &preemptions)), alone);
  EXPECT_GT(preemptions, 0u);
}

TEST_P(TensorParallelEngine, ForkedChoicesContinueFromEveryRanksCopiedBlocks) {
  // n = 2 greedy choices share the prompt's blocks and fork at the first
  // sampled token (copy-on-write of the last partial block): both must equal
  // the single-choice continuation.
  const auto prompts = testing::load_fixture_prompts("tiny-dsv3");
  GenerateRequest one = testing::greedy_request(prompts[1].ids, 12);
  GenerateRequest two = one;
  two.params.n = 2;
  const auto a = run(testing::small_engine_config(), {one});
  const auto b = run(testing::small_engine_config(), {two});
  ASSERT_EQ(b[0].size(), 2u);
  EXPECT_EQ(b[0][0].ids, a[0][0].ids);
  EXPECT_EQ(b[0][1].ids, a[0][0].ids);
}

INSTANTIATE_TEST_SUITE_P(Experts, TensorParallelEngine, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return std::string(i.param ? "WholeOnRanks" : "SplitByIntermediate");
                         });

}  // namespace
}  // namespace sable
