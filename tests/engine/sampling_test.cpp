// Each sampling parameter changes the output in the way it should: every
// test here fails if the engine ignores the parameter.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "common/fixtures.h"
#include "engine/bad_words.h"
#include "engine/engine_util.h"
#include "tokenizer/tokenizer.h"

namespace sable {
namespace {

using testing::tiny_model;

class Sampling : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = Engine::create(testing::small_engine_config(), *tiny_model().model, tiny_model().tokenizer);
    ASSERT_TRUE(e.is_ok());
    engine_ = std::move(*e);
    prompt_ = testing::load_fixture_prompts("tiny-dsv3")[2].ids;  // 17 tokens
    greedy_ = run(base())[0];
  }
  GenerateRequest base(int max_tokens = 12) { return testing::greedy_request(prompt_, max_tokens); }
  testing::RequestResult run(GenerateRequest r) { return testing::run_all(*engine_, {r})[0]; }
  std::unique_ptr<Engine> engine_;
  std::vector<int32_t> prompt_;
  testing::ChoiceResult greedy_;
};

TEST_F(Sampling, TopKOneEqualsGreedy) {
  auto r = base();
  r.params.temperature = 1.0f;
  r.params.seed = 5;
  auto free_run = run(r)[0];
  r.params.top_k = 1;
  EXPECT_EQ(run(r)[0].ids, greedy_.ids);
  EXPECT_NE(free_run.ids, greedy_.ids);  // sampling without top_k does differ
}

TEST_F(Sampling, TinyTopPAndFullMinPEqualGreedy) {
  auto r = base();
  r.params.temperature = 1.0f;
  r.params.seed = 5;
  r.params.top_p = 1e-6f;
  EXPECT_EQ(run(r)[0].ids, greedy_.ids);
  r.params.top_p = 1.0f;
  r.params.min_p = 1.0f;
  EXPECT_EQ(run(r)[0].ids, greedy_.ids);
}

TEST_F(Sampling, SeedMakesSamplingReproducible) {
  auto r = base();
  r.params.temperature = 1.0f;
  r.params.seed = 123;
  auto a = run(r)[0], b = run(r)[0];
  EXPECT_EQ(a.ids, b.ids);
  r.params.seed = 124;
  EXPECT_NE(run(r)[0].ids, a.ids);
}

TEST_F(Sampling, LogitBiasBansAndForces) {
  auto r = base(4);
  const int32_t first = greedy_.ids[0];
  r.params.logit_bias[first] = -100;
  auto banned = run(r)[0];
  EXPECT_NE(banned.ids[0], first);
  r.params.logit_bias.clear();
  r.params.logit_bias[777] = 100;
  auto forced = run(r)[0];
  for (int32_t t : forced.ids) EXPECT_EQ(t, 777);
}

// vLLM's allowed_token_ids: every token comes from the list, sampled or greedy.
TEST_F(Sampling, AllowedTokenIdsConfineTheOutput) {
  auto r = base(8);
  const std::set<int32_t> allowed = {11, 222, 333, 444};
  r.params.allowed_token_ids.assign(allowed.begin(), allowed.end());
  for (float temp : {0.0f, 1.0f}) {
    r.params.temperature = temp;
    r.params.seed = 9;
    auto out = run(r)[0];
    ASSERT_EQ(out.ids.size(), 8u);
    for (int32_t t : out.ids) EXPECT_TRUE(allowed.count(t)) << "token " << t << " at temperature " << temp;
  }
  // One allowed token: it is the whole output.
  r.params.allowed_token_ids = {777};
  const auto only = run(r)[0];
  for (int32_t t : only.ids) EXPECT_EQ(t, 777);
}

// vLLM's bad_words: a one-token word is never generated; a longer one loses
// its last token only after the rest of it.
TEST_F(Sampling, BadWordsAreNotGenerated) {
  ASSERT_GE(greedy_.ids.size(), 4u);
  const int32_t t0 = greedy_.ids[0], t1 = greedy_.ids[1];
  auto r = base(4);
  r.params.bad_words_token_ids = {{t0}};
  auto one = run(r)[0];
  EXPECT_NE(one.ids[0], t0);
  for (int32_t t : one.ids) EXPECT_NE(t, t0);
  // [t0, t1]: t0 may come, but t1 not right after it.
  r.params.bad_words_token_ids = {{t0, t1}};
  auto two = run(r)[0];
  EXPECT_EQ(two.ids[0], t0);
  EXPECT_NE(two.ids[1], t1);
  // A sequence whose prefix never occurs changes nothing.
  r.params.bad_words_token_ids = {{t1 == 5 ? 6 : 5, t1}};
  EXPECT_EQ(run(r)[0].ids, std::vector<int32_t>(greedy_.ids.begin(), greedy_.ids.begin() + 4));
}

// Engine::submit tokenizes bad_words (as vLLM: the word and " word"): a word
// forced by logit_bias is not generated once it is a bad word; a word past
// the model's vocabulary, or an out-of-vocabulary allowed token, is refused.
// (The tiny model has 1,024 tokens; its tokenizer is DeepSeek-V3's, so some
// words encode past them.)
TEST_F(Sampling, BadWordsAsTextAndValidation) {
  const Tokenizer& tok = *tiny_model().tokenizer;
  const int64_t V = tiny_model().model->config().vocab_size;
  std::string inside_word, outside_word;
  int32_t inside_id = -1;
  for (int32_t t = 300; t < int32_t(V) && (inside_word.empty() || outside_word.empty()); ++t) {
    const std::string w = tok.decode({t}, false);
    auto seqs = bad_words_token_ids(tok, {w});
    if (!seqs.is_ok()) continue;
    bool inside = true;
    for (const auto& q : *seqs)
      for (int32_t id : q) inside = inside && id < V;
    if (inside && inside_word.empty() && (*seqs)[0].size() == 1) inside_word = w, inside_id = (*seqs)[0][0];
    if (!inside && outside_word.empty()) outside_word = w;
  }
  ASSERT_FALSE(inside_word.empty());
  auto r = base(4);
  r.params.logit_bias[inside_id] = 100;
  const auto forced = run(r)[0];
  for (int32_t t : forced.ids) EXPECT_EQ(t, inside_id);
  r.params.bad_words = {inside_word};
  const auto banned = run(r)[0];
  for (int32_t t : banned.ids) EXPECT_NE(t, inside_id) << "bad word '" << inside_word << "'";
  if (!outside_word.empty()) {
    auto o = base(4);
    o.params.bad_words = {outside_word};
    EXPECT_FALSE(engine_->submit(o).is_ok()) << outside_word;
  }
  auto bad = base(4);
  bad.params.allowed_token_ids = {1, int32_t(V)};
  EXPECT_FALSE(engine_->submit(bad).is_ok());
}

TEST_F(Sampling, StopTokenIdsAndMinTokens) {
  auto r = base();
  const int32_t third = greedy_.ids[2];
  r.params.stop_token_ids = {third};
  auto out = run(r)[0];
  ASSERT_EQ(out.finish, "stop");
  EXPECT_EQ(out.stop_reason, std::to_string(third));
  EXPECT_EQ(out.ids.back(), third);
  EXPECT_LE(out.ids.size(), 3u);
  // min_tokens masks stop tokens until reached.
  r.params.stop_token_ids = {greedy_.ids[0]};
  r.params.min_tokens = 3;
  auto held = run(r)[0];
  EXPECT_NE(held.ids[0], greedy_.ids[0]);
  EXPECT_GE(held.ids.size(), 3u);
}

TEST_F(Sampling, EosStopsUnlessIgnored) {
  auto r = base(6);
  r.params.logit_bias[1] = 100;  // force the EOS token (id 1 in DeepSeek-V3)
  r.params.ignore_eos = false;
  auto stopped = run(r)[0];
  EXPECT_EQ(stopped.finish, "stop");
  EXPECT_EQ(stopped.ids.size(), 1u);
  r.params.ignore_eos = true;
  auto kept = run(r)[0];
  EXPECT_EQ(kept.finish, "length");
  EXPECT_EQ(kept.ids.size(), 6u);
}

TEST_F(Sampling, MaxTokensGivesLength) {
  auto out = run(base(3))[0];
  EXPECT_EQ(out.finish, "length");
  EXPECT_EQ(out.ids.size(), 3u);
  EXPECT_EQ(out.completion_tokens, 3);
  EXPECT_EQ(out.prompt_tokens, int(prompt_.size()));
}

TEST_F(Sampling, StopStringAcrossTokensCutsExactly) {
  // Take a stop string that starts inside one generated token's text and
  // ends inside the next one's.
  const auto& tok = *tiny_model().tokenizer;
  std::string full;
  std::vector<size_t> ends;
  for (int32_t id : greedy_.ids) {
    full = tok.decode(std::vector<int32_t>(greedy_.ids.begin(), greedy_.ids.begin() + long(ends.size() + 1)));
    ends.push_back(full.size());
  }
  size_t k = 0;
  while (k + 2 < ends.size() && !(ends[k] >= 2 && ends[k + 1] - ends[k] >= 1 && ends[k] - (k ? ends[k - 1] : 0) >= 2)) ++k;
  ASSERT_LT(k + 2, ends.size()) << "no token pair suitable for the test";
  const size_t start = ends[k] - 1;  // last byte of token k's text
  const std::string stop = full.substr(start, ends[k + 1] - start);
  auto r = base();
  r.params.stop = {stop};
  auto out = run(r)[0];
  EXPECT_EQ(out.finish, "stop");
  EXPECT_EQ(out.stop_reason, stop);
  EXPECT_EQ(out.text, full.substr(0, full.find(stop)));
  r.params.include_stop_str_in_output = true;
  auto incl = run(r)[0];
  EXPECT_EQ(incl.text, full.substr(0, full.find(stop) + stop.size()));
}

TEST_F(Sampling, RepetitionAndFrequencyPenaltiesChangeTheOutput) {
  auto r = base(24);
  auto plain = run(r)[0];
  r.params.repetition_penalty = 5.0f;
  auto rep = run(r)[0];
  EXPECT_NE(rep.ids, plain.ids);
  // Under a strong repetition penalty, fewer tokens repeat the prompt or output.
  auto repeats = [&](const std::vector<int32_t>& ids) {
    std::set<int32_t> seen(prompt_.begin(), prompt_.end());
    int n = 0;
    for (int32_t t : ids) { n += seen.count(t) ? 1 : 0; seen.insert(t); }
    return n;
  };
  EXPECT_LE(repeats(rep.ids), repeats(plain.ids));
  r.params.repetition_penalty = 1.0f;
  r.params.frequency_penalty = 2.0f;
  r.params.presence_penalty = 2.0f;
  EXPECT_NE(run(r)[0].ids, plain.ids);
}

TEST_F(Sampling, LogprobsAreNormalisedAndSorted) {
  auto r = base(4);
  r.params.logprobs = 5;
  auto out = run(r)[0];
  ASSERT_EQ(out.logprobs.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const auto& lp = out.logprobs[i];
    EXPECT_EQ(lp.token_id, out.ids[i]);
    ASSERT_EQ(lp.top.size(), 5u);
    EXPECT_EQ(lp.top[0].first, lp.token_id);  // greedy picks the most likely
    EXPECT_FLOAT_EQ(lp.top[0].second, lp.logprob);
    for (size_t j = 1; j < 5; ++j) EXPECT_GE(lp.top[j - 1].second, lp.top[j].second);
    EXPECT_LE(lp.logprob, 0.f);
    EXPECT_GT(lp.logprob, -20.f);
  }
}

}  // namespace
}  // namespace sable
