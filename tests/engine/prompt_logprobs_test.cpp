// Prompt logprobs (SamplingParams::prompt_logprobs) against the reference
// fixtures: the log_softmax of transformers' logits at each position, for
// the prompt token that follows it. Also: whole or chunked, with a warm
// prefix cache, with n > 1 and under preemption, the same values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "common/fixtures.h"
#include "engine/engine_util.h"
#include "engine/scheduler.h"

namespace sable {
namespace {

using testing::tiny_model;

// log_softmax of row `pos` of the reference logits at `token`, and its rank.
std::pair<double, int> reference_logprob(const testing::FixturePrompt& p, int pos, int32_t token) {
  const int64_t V = p.logits.dim(1);
  const float* row = p.logits.ptr<float>() + int64_t(pos) * V;
  const float mx = *std::max_element(row, row + V);
  double sum = 0;
  for (int64_t i = 0; i < V; ++i) sum += std::exp(double(row[i]) - mx);
  int rank = 1;
  for (int64_t i = 0; i < V; ++i) rank += row[i] > row[token];
  return {double(row[token]) - mx - std::log(sum), rank};
}

GenerateRequest prompt_logprobs_request(const std::vector<int32_t>& ids, int top_n, int max_tokens = 2) {
  GenerateRequest r = testing::greedy_request(ids, max_tokens);
  r.params.prompt_logprobs = top_n;
  return r;
}

// The engine's prompt logprobs of one choice against the fixture: within
// 2e-2 (the CPU forward is float32 with bf16 weights, as the fixture's, but
// sums in another order; logits agree to ~1e-3 of their spread).
void expect_matches_reference(const testing::FixturePrompt& p, const std::vector<TokenLogprob>& got, int top_n,
                              const std::string& what) {
  ASSERT_EQ(got.size(), p.ids.size()) << what;
  EXPECT_TRUE(std::isnan(got[0].logprob)) << what << ": the first prompt token has no logprob";
  EXPECT_TRUE(got[0].top.empty()) << what;
  int rank_mismatch = 0;
  for (size_t i = 1; i < got.size(); ++i) {
    ASSERT_EQ(got[i].token_id, p.ids[i]) << what << " at " << i;
    const auto [want, rank] = reference_logprob(p, int(i) - 1, p.ids[i]);
    ASSERT_NEAR(got[i].logprob, want, 2e-2) << what << " at " << i;
    rank_mismatch += std::abs(got[i].rank - rank) > 1;  // near-ties may swap
    ASSERT_EQ(int(got[i].top.size()), top_n) << what << " at " << i;
    for (size_t k = 1; k < got[i].top.size(); ++k) EXPECT_GE(got[i].top[k - 1].second, got[i].top[k].second);
    if (top_n > 0) EXPECT_GE(got[i].top[0].second, got[i].logprob - 1e-6) << what << " at " << i;
  }
  EXPECT_LE(rank_mismatch, int(got.size()) / 20) << what;
}

TEST(PromptLogprobs, MatchReferenceFixtures) {
  const auto prompts = testing::load_fixture_prompts("tiny-dsv3");
  for (int top_n : {0, 3}) {
    auto e = Engine::create(testing::small_engine_config(), *tiny_model().model, nullptr);
    ASSERT_TRUE(e.is_ok());
    std::vector<GenerateRequest> reqs;
    for (const auto& p : prompts) reqs.push_back(prompt_logprobs_request(p.ids, top_n));
    auto res = testing::run_all(**e, reqs);
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_EQ(res[i][0].events_with_prompt_logprobs, 1);
      expect_matches_reference(prompts[i], res[i][0].prompt_logprobs, top_n,
                               "prompt " + std::to_string(i) + " top " + std::to_string(top_n));
    }
    EXPECT_EQ((*e)->gauges().kv_cache_usage, 0.0);
  }
}

TEST(PromptLogprobs, SameWhenChunkedCachedForkedOrPreempted) {
  const auto prompts = testing::load_fixture_prompts("tiny-dsv3");
  const testing::FixturePrompt& p = prompts[4];         // the longest: 300 tokens
  ASSERT_GT(int(p.ids.size()), kPromptLogitsMaxChunk);  // runs in chunks whatever the budget

  // A small budget splits the prompt further.
  EngineConfig chunked = testing::small_engine_config();
  chunked.max_num_batched_tokens = 37;
  auto e = Engine::create(chunked, *tiny_model().model, nullptr);
  auto out = testing::run_all(**e, {prompt_logprobs_request(p.ids, 2)});
  expect_matches_reference(p, out[0][0].prompt_logprobs, 2, "chunked");

  // A warm prefix cache: the prompt is computed again for its logits.
  auto w = Engine::create(testing::small_engine_config(), *tiny_model().model, nullptr);
  testing::run_all(**w, {testing::greedy_request(p.ids, 2)});
  auto warm = testing::run_all(**w, {prompt_logprobs_request(p.ids, 2)});
  EXPECT_EQ(warm[0][0].cached_tokens, 0);
  expect_matches_reference(p, warm[0][0].prompt_logprobs, 2, "after a cached run");
  // A later plain request still uses the cache.
  auto plain = testing::run_all(**w, {testing::greedy_request(p.ids, 2)});
  EXPECT_GT(plain[0][0].cached_tokens, 0);

  // n = 3: every choice gets the prompt logprobs once.
  GenerateRequest forked = prompt_logprobs_request(prompts[2].ids, 1, 3);
  forked.params.n = 3;
  forked.params.temperature = 1.0f;
  forked.params.seed = 5;
  auto f = testing::run_all(**w, {forked});
  ASSERT_EQ(f[0].size(), 3u);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(f[0][size_t(c)].events_with_prompt_logprobs, 1) << c;
    expect_matches_reference(prompts[2], f[0][size_t(c)].prompt_logprobs, 1, "choice " + std::to_string(c));
  }

  // Preemption: a pool too small for all of them at once recomputes some.
  EngineConfig tight = testing::small_engine_config();
  tight.num_kv_blocks = 24;
  tight.enable_prefix_caching = false;
  auto t = Engine::create(tight, *tiny_model().model, nullptr);
  std::vector<GenerateRequest> reqs;
  for (int rep = 0; rep < 3; ++rep)
    for (const auto& q : prompts) reqs.push_back(prompt_logprobs_request(q.ids, 1, 60));
  auto res = testing::run_all(**t, reqs);
  EXPECT_GT((*t)->metrics().num_preemptions, 0u);
  for (size_t i = 0; i < reqs.size(); ++i)
    expect_matches_reference(prompts[i % prompts.size()], res[i][0].prompt_logprobs, 1,
                             "preempted run, request " + std::to_string(i));
  EXPECT_EQ((*t)->gauges().kv_cache_usage, 0.0);
}

// Many prompt-logprobs requests at once (lm-evaluation-harness sends them
// concurrently): the step's prompt-logits rows stay within the plan's bound,
// and every request still gets the reference values.
TEST(PromptLogprobs, ManyAtOnceShareTheStepsRows) {
  const auto prompts = testing::load_fixture_prompts("tiny-dsv3");
  EngineConfig cfg = testing::small_engine_config();
  cfg.max_num_seqs = 8;  // 8 prompt-logits rows per step
  auto e = Engine::create(cfg, *tiny_model().model, nullptr);
  std::vector<GenerateRequest> reqs;
  for (int rep = 0; rep < 4; ++rep)
    for (const auto& q : prompts) reqs.push_back(prompt_logprobs_request(q.ids, 0, 1));
  auto res = testing::run_all(**e, reqs);
  for (size_t i = 0; i < reqs.size(); ++i)
    expect_matches_reference(prompts[i % prompts.size()], res[i][0].prompt_logprobs, 0, "request " + std::to_string(i));
  EXPECT_GE((*e)->metrics().steps, 300u / 8);  // the longest prompt alone takes 300 / 8 steps
  EXPECT_EQ((*e)->gauges().kv_cache_usage, 0.0);
}

TEST(PromptLogprobs, OutOfRangeIsRefused) {
  auto e = Engine::create(testing::small_engine_config(), *tiny_model().model, nullptr);
  GenerateRequest r = prompt_logprobs_request({5, 6, 7}, 21);
  auto h = (*e)->submit(std::move(r));
  ASSERT_FALSE(h.is_ok());
  EXPECT_NE(h.status().message().find("prompt_logprobs must be between 0 and 20"), std::string::npos);
}

}  // namespace
}  // namespace sable
