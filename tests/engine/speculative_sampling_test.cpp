// Speculative decoding's verification of one draft token (verify_draft): the
// token it returns must be distributed exactly as sample_token's, whatever
// the draft, or speculation would change the model's output. The rows are
// built by hand, without a model, so the distributions can be computed
// analytically and sampled many times.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "engine/sampler.h"

namespace sable {
namespace {

// Logits in no particular id order, so the canonical (probability) order
// differs from the id order. Order by logit: 1, 5, 3, 6, 0, 7, 2, 4.
const std::vector<float> kLogits = {0.3f, 2.0f, -1.0f, 1.2f, -2.0f, 1.5f, 0.8f, -0.2f};
constexpr int64_t kV = 8;

struct Row {
  SamplingParams p;
  std::vector<int32_t> tokens{5, 6, 7, 8, 9};  // 3 prompt + 2 generated: step 2
  std::vector<uint8_t> allowed;                // structured-output mask when not empty
  SamplerRow row(uint64_t seed = 42) {
    SamplerRow r{&p, seed, 0, &tokens, 3, std::optional<int32_t>(1)};
    if (!allowed.empty()) r.allowed = &allowed;
    return r;
  }
};

// The distribution sample_token draws from, written independently of the
// sampler: softmax at the temperature, the top_k most likely, then the
// smallest prefix whose (top-k normalised) mass reaches top_p, renormalised.
std::vector<double> analytic(const std::vector<float>& logits, float temperature, int top_k, float top_p) {
  std::vector<int> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  if (top_k > 0 && top_k < int(order.size())) order.resize(size_t(top_k));
  std::vector<double> w(order.size());
  double sum = 0;
  for (size_t i = 0; i < order.size(); ++i) sum += w[i] = std::exp(double(logits[order[i]]) / temperature);
  size_t keep = top_p < 1.0f ? 0 : order.size();
  double cum = 0;
  while (keep < order.size() && (keep == 0 || cum < double(top_p))) cum += w[keep++] / sum;
  double mass = 0;
  for (size_t i = 0; i < keep; ++i) mass += w[i];
  std::vector<double> p(logits.size(), 0.0);
  for (size_t i = 0; i < keep; ++i) p[size_t(order[i])] = w[i] / mass;
  return p;
}

TEST(SpeculativeSampling, GreedyAcceptsOnlyTheArgmax) {
  Row r;
  r.p.temperature = 0.f;
  for (int32_t draft : {1, 5, 3, 4, -1, 8, 1 << 30}) {
    SampleResult s = verify_draft(kLogits.data(), kV, r.row(), draft);
    EXPECT_EQ(s.token, 1) << draft;
    EXPECT_EQ(s.draft_accepted, draft == 1) << draft;
  }
}

TEST(SpeculativeSampling, GreedyUsesTheProcessedArgmax) {
  {
    Row r;
    r.p.temperature = 0.f;
    r.p.logit_bias[5] = 1.0f;  // 1.5 + 1 beats the raw argmax (id 1, 2.0)
    EXPECT_EQ(verify_draft(kLogits.data(), kV, r.row(), 5).token, 5);
    EXPECT_TRUE(verify_draft(kLogits.data(), kV, r.row(), 5).draft_accepted);
    EXPECT_EQ(verify_draft(kLogits.data(), kV, r.row(), 1).token, 5);
    EXPECT_FALSE(verify_draft(kLogits.data(), kV, r.row(), 1).draft_accepted);
  }
  {
    Row r;
    r.p.temperature = 0.f;
    r.allowed = {0, 0, 0, 1, 0, 0, 1, 0};  // only 3 and 6 may come next
    EXPECT_EQ(verify_draft(kLogits.data(), kV, r.row(), 3).token, 3);
    EXPECT_TRUE(verify_draft(kLogits.data(), kV, r.row(), 3).draft_accepted);
    EXPECT_EQ(verify_draft(kLogits.data(), kV, r.row(), 1).token, 3);
    EXPECT_FALSE(verify_draft(kLogits.data(), kV, r.row(), 1).draft_accepted);
  }
}

// Over kDraws seeds, for drafts of every kind, the empirical distribution of
// verify_draft's token matches the analytic one and sample_token's own, and
// the draft is accepted with probability p(draft). The tolerance is 5 sigma
// of a frequency estimate (sigma = sqrt(p (1 - p) / kDraws)); the draws are
// deterministic, so the test never flakes once it passes.
//
// A wrong formula exceeds it by far. With top_k = 0 the probabilities are
// p(1) = .468, p(5) = .229, p(3) = .149, p(6) = .084, p(0) = .041,
// p(7) = .020, p(2) = .0064, p(4) = .0015. Accepting with probability
// p(draft)^2 gives the draft a frequency of p^2 (the residual excludes it):
// for the least likely draft, 4, that is 2.4e-6 instead of .0015, a gap of
// 17 sigma (sigma = 8.8e-5); for draft 1, .219 instead of .468 (220 sigma).
// Drawing the residual from p without removing the draft gives the draft
// 2p - p^2: .0031 instead of .0015 (17 sigma) for draft 4, .717 instead of
// .468 for draft 1. Both mutations were tried and fail this test through
// the frequencies alone (without the check that a rejected draft is never
// returned), as does taking the acceptance uniform from the residual draw's
// stream: the two must be independent.
void expect_exact_distribution(int top_k, float top_p) {
  constexpr int kDraws = 200000;
  Row r;
  r.p.temperature = 0.7f;
  r.p.top_k = top_k;
  r.p.top_p = top_p;
  const std::vector<double> p = analytic(kLogits, r.p.temperature, top_k, top_p);
  // 5 sigma; 0 where q is 0, so a token outside p must never come.
  auto tol = [&](double q) { return 5 * std::sqrt(q * (1 - q) / kDraws); };

  std::vector<int32_t> sampled(kDraws);
  std::vector<double> f_sample(kV, 0.0);
  for (int i = 0; i < kDraws; ++i) {
    sampled[size_t(i)] = sample_token(kLogits.data(), kV, r.row(uint64_t(i))).token;
    f_sample[size_t(sampled[size_t(i)])] += 1.0 / kDraws;
  }
  for (int64_t t = 0; t < kV; ++t) {
    EXPECT_NEAR(f_sample[size_t(t)], p[size_t(t)], tol(p[size_t(t)])) << "token " << t;
  }

  // The most likely token, a mid one, a less likely one (truncated away by
  // top_p when top_k = 4), the least likely (truncated by top_k = 4), and
  // ids outside the vocabulary.
  for (int32_t draft : {1, 3, 6, 4, int32_t(kV), -1}) {
    const double pd = draft >= 0 && draft < kV ? p[size_t(draft)] : 0.0;
    std::vector<double> f(kV, 0.0);
    int accepted = 0, differs = 0;
    for (int i = 0; i < kDraws; ++i) {
      SampleResult s = verify_draft(kLogits.data(), kV, r.row(uint64_t(i)), draft);
      ASSERT_TRUE(s.token >= 0 && s.token < kV);
      f[size_t(s.token)] += 1.0 / kDraws;
      accepted += s.draft_accepted;
      differs += s.token != sampled[size_t(i)];
      // Accepted: the draft itself; rejected: never the draft (the residual excludes it).
      ASSERT_EQ(s.token == draft, s.draft_accepted);
    }
    SCOPED_TRACE(::testing::Message() << "top_k " << top_k << " top_p " << top_p << " draft " << draft);
    EXPECT_NEAR(double(accepted) / kDraws, pd, tol(pd));
    for (int64_t t = 0; t < kV; ++t) {
      const double q = p[size_t(t)];
      EXPECT_NEAR(f[size_t(t)], q, tol(q)) << "token " << t;
      EXPECT_NEAR(f[size_t(t)], f_sample[size_t(t)], std::sqrt(2.0) * tol(q)) << "token " << t;
    }
    // A draft outside p's support is always rejected and the residual is p
    // itself: the draw is then sample_token's, token for token.
    if (pd == 0) {
      EXPECT_EQ(accepted, 0);
      EXPECT_EQ(differs, 0);
    }
  }
}

TEST(SpeculativeSampling, MatchesSampleTokenDistribution) { expect_exact_distribution(0, 1.0f); }

TEST(SpeculativeSampling, MatchesSampleTokenDistributionTruncated) {
  // top_k = 4 keeps 1, 5, 3, 6 (normalised .503, .246, .160, .091); top_p
  // = 0.9 then keeps 1, 5, 3 (cumulative .909): 6 and 4 are outside p.
  const std::vector<double> p = analytic(kLogits, 0.7f, 4, 0.9f);
  ASSERT_GT(p[3], 0);
  ASSERT_EQ(p[6], 0);
  ASSERT_EQ(p[4], 0);
  expect_exact_distribution(4, 0.9f);
}

TEST(SpeculativeSampling, DraftHoldingAllTheMassIsAlwaysAccepted) {
  // The only kept candidate (top_k = 1), and a candidate whose rivals
  // underflow to probability 0: there is no residual to draw from.
  Row a;
  a.p.temperature = 1.0f;
  a.p.top_k = 1;
  std::vector<float> far = {0.f, -2000.f, -3000.f, -2500.f};
  Row b;
  b.p.temperature = 1.0f;
  for (uint64_t seed = 0; seed < 1000; ++seed) {
    SampleResult s = verify_draft(kLogits.data(), kV, a.row(seed), 1);
    EXPECT_TRUE(s.draft_accepted);
    EXPECT_EQ(s.token, 1);
    s = verify_draft(kLogits.data(), kV, a.row(seed), 5);
    EXPECT_FALSE(s.draft_accepted);
    EXPECT_EQ(s.token, 1);
    s = verify_draft(far.data(), int64_t(far.size()), b.row(seed), 0);
    EXPECT_TRUE(s.draft_accepted);
    EXPECT_EQ(s.token, 0);
  }
}

TEST(SpeculativeSampling, DeterministicPerSeedAndStep) {
  Row r;
  r.p.temperature = 0.7f;
  int changed_by_step = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    for (int32_t draft : {1, 3, 4, -1}) {
      SampleResult a = verify_draft(kLogits.data(), kV, r.row(seed), draft);
      SampleResult b = verify_draft(kLogits.data(), kV, r.row(seed), draft);
      EXPECT_EQ(a.token, b.token);
      EXPECT_EQ(a.draft_accepted, b.draft_accepted);
      Row later = r;  // one more token generated: the next step's uniforms
      later.tokens.push_back(a.token);
      SampleResult c = verify_draft(kLogits.data(), kV, later.row(seed), draft);
      changed_by_step += c.token != a.token || c.draft_accepted != a.draft_accepted;
    }
  }
  EXPECT_GT(changed_by_step, 100);  // the step is part of the draw
}

TEST(SpeculativeSampling, LogprobsAreOfTheReturnedToken) {
  for (float temperature : {0.f, 0.7f}) {
    Row r;
    r.p.temperature = temperature;
    r.p.logprobs = 2;
    r.p.logit_bias[5] = 1.0f;  // logprobs are of the raw logits, not the processed ones
    bool seen_accept = false, seen_reject = false;
    for (uint64_t seed = 0; seed < 50; ++seed) {
      SampleResult s = verify_draft(kLogits.data(), kV, r.row(seed), 5);
      (s.draft_accepted ? seen_accept : seen_reject) = true;
      TokenLogprob want = token_logprob(kLogits.data(), kV, s.token, 2);
      EXPECT_FLOAT_EQ(s.logprob, want.logprob);
      ASSERT_EQ(s.top.size(), 2u);
      EXPECT_EQ(s.top[0].first, 1);  // the raw top two
      EXPECT_EQ(s.top[1].first, 5);
      EXPECT_FLOAT_EQ(s.top[0].second, want.top[0].second);
      EXPECT_FLOAT_EQ(s.top[1].second, want.top[1].second);
    }
    EXPECT_TRUE(seen_accept);
    if (temperature > 0) {
      EXPECT_TRUE(seen_reject);
    }
  }
}

}  // namespace
}  // namespace sable
