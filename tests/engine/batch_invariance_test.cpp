// The engine's outputs do not depend on what else is in the batch, on how
// prompts are chunked, on preemption, or on the prefix cache.
#include <gtest/gtest.h>

#include "common/fixtures.h"
#include "engine/engine_util.h"

namespace sable {
namespace {

using testing::tiny_model;

// The five fixture prompts, then 27 more of varied lengths (ids < 1024).
std::vector<std::vector<int32_t>> mixed_prompts() {
  std::vector<std::vector<int32_t>> out;
  for (const auto& p : testing::load_fixture_prompts("tiny-dsv3")) out.push_back(p.ids);
  for (int i = 0; i < 27; ++i) {
    std::vector<int32_t> ids;
    const int len = 3 + (i * 37) % 150;
    for (int j = 0; j < len; ++j) ids.push_back(int32_t((i * 131 + j * 17 + 5) % 1000 + 2));
    out.push_back(ids);
  }
  return out;
}

std::vector<GenerateRequest> requests(const std::vector<std::vector<int32_t>>& prompts, float temperature) {
  std::vector<GenerateRequest> r;
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerateRequest q = testing::greedy_request(prompts[i], 12);
    q.params.temperature = temperature;
    q.params.seed = 1000 + i;
    r.push_back(q);
  }
  return r;
}

std::vector<std::vector<int32_t>> run(const EngineConfig& cfg, const std::vector<GenerateRequest>& reqs,
                                      uint64_t* preemptions = nullptr) {
  auto e = Engine::create(cfg, *tiny_model().model, tiny_model().tokenizer);
  EXPECT_TRUE(e.is_ok()) << e.status().to_string();
  auto res = testing::run_all(**e, reqs);
  std::vector<std::vector<int32_t>> ids;
  for (auto& r : res) {
    EXPECT_EQ(r[0].finish, "length");
    ids.push_back(r[0].ids);
  }
  if (preemptions) *preemptions = (*e)->metrics().num_preemptions;
  EXPECT_EQ((*e)->gauges().kv_cache_usage, 0.0);  // no leaks
  return ids;
}

class BatchInvariance : public ::testing::TestWithParam<float> {};

TEST_P(BatchInvariance, AloneEqualsBatchedChunkedAndPreempted) {
  const float temperature = GetParam();
  const auto prompts = mixed_prompts();
  ASSERT_EQ(prompts.size(), 32u);
  const auto reqs = requests(prompts, temperature);

  // Each prompt alone.
  std::vector<std::vector<int32_t>> alone;
  for (const auto& r : reqs) alone.push_back(run(testing::small_engine_config(), {r})[0]);

  // All 32 together.
  EXPECT_EQ(run(testing::small_engine_config(), reqs), alone);

  // Chunked prefill forced by a small token budget.
  EngineConfig chunked = testing::small_engine_config();
  chunked.max_num_batched_tokens = 37;
  EXPECT_EQ(run(chunked, reqs), alone);

  // Preemption forced by a pool too small for all of them at once.
  EngineConfig tight = testing::small_engine_config();
  tight.num_kv_blocks = 24;  // 384 tokens for 32 prompts of up to 300 + 12
  tight.enable_prefix_caching = false;
  uint64_t preemptions = 0;
  EXPECT_EQ(run(tight, reqs, &preemptions), alone);
  EXPECT_GT(preemptions, 0u);
}

INSTANTIATE_TEST_SUITE_P(Temperatures, BatchInvariance, ::testing::Values(0.0f, 1.0f));

TEST(Engine, GreedyMatchesReferenceFixtures) {
  auto e = Engine::create(testing::small_engine_config(), *tiny_model().model, nullptr);
  ASSERT_TRUE(e.is_ok());
  const auto prompts = testing::load_fixture_prompts("tiny-dsv3");
  std::vector<GenerateRequest> reqs;
  for (const auto& p : prompts) reqs.push_back(testing::greedy_request(p.ids, int(p.greedy.size())));
  auto res = testing::run_all(**e, reqs);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const int n = testing::greedy_compare_length(prompts[i].greedy_margin);
    for (int k = 0; k < n; ++k) ASSERT_EQ(res[i][0].ids[size_t(k)], prompts[i].greedy[size_t(k)]) << i << ":" << k;
  }
}

TEST(Engine, PrefixCacheHitGivesTheColdOutput) {
  const auto prompts = testing::load_fixture_prompts("tiny-dsv3");
  const std::vector<int32_t> prefix = prompts[4].ids;  // 300 tokens
  std::vector<int32_t> a = prefix, b = prefix;
  a.push_back(11);
  b.insert(b.end(), {12, 13, 14});

  // Cold: b alone, prefix caching off.
  EngineConfig cold_cfg = testing::small_engine_config();
  cold_cfg.enable_prefix_caching = false;
  auto cold = Engine::create(cold_cfg, *tiny_model().model, nullptr);
  auto cold_out = testing::run_all(**cold, {testing::greedy_request(b, 8)});

  auto e = Engine::create(testing::small_engine_config(), *tiny_model().model, nullptr);
  testing::run_all(**e, {testing::greedy_request(a, 4)});
  const uint64_t hits_before = (*e)->metrics().prefix_cache_hits;
  auto warm_out = testing::run_all(**e, {testing::greedy_request(b, 8)});
  const uint64_t hits = (*e)->metrics().prefix_cache_hits - hits_before;
  EXPECT_GE(hits, 288u);  // 18 full blocks of 16 of the 300-token prefix
  EXPECT_EQ(warm_out[0][0].cached_tokens, int(hits));
  EXPECT_EQ(warm_out[0][0].ids, cold_out[0][0].ids);
}

TEST(Engine, NSharesThePromptAndSeedsDiffer) {
  auto e = Engine::create(testing::small_engine_config(), *tiny_model().model, nullptr);
  GenerateRequest r = testing::greedy_request(testing::load_fixture_prompts("tiny-dsv3")[3].ids, 6);
  r.params.n = 4;
  r.params.temperature = 1.0f;
  r.params.seed = 7;
  auto out = testing::run_all(**e, {r});
  ASSERT_EQ(out[0].size(), 4u);
  int distinct = 0;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(out[0][i].ids.size(), 6u);
    EXPECT_EQ(out[0][i].finish, "length");
    if (i > 0 && out[0][i].ids != out[0][0].ids) ++distinct;
  }
  EXPECT_GT(distinct, 0);
  // Same seed, same outputs.
  auto again = testing::run_all(**e, {r});
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(again[0][i].ids, out[0][i].ids);
  EXPECT_EQ((*e)->gauges().kv_cache_usage, 0.0);
}

}  // namespace
}  // namespace sable
