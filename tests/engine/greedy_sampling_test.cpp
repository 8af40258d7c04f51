// The host sampler (engine/sampler.cpp) against plain implementations.
// Greedy: with no logits processor in play it takes the argmax of the raw
// row without copying it (blocked, vectorizable maxima); with one, the
// argmax of the processed row. Both against a scan: the largest value, the
// lowest index on ties, NaN never chosen. Random: the draw selects the
// token where the cumulative probability crosses the row's uniform without
// sorting the vocabulary; against the definition (sort every candidate,
// truncate, walk).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "core/rng.h"
#include "engine/sampler.h"
#include "engine/sampler_reference.h"

namespace sable {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// The reference: one scan, strict >, NaN skipped; 0 when nothing is a number.
int32_t scan_argmax(const std::vector<float>& x) {
  int32_t best = -1;
  for (int32_t i = 0; i < int32_t(x.size()); ++i)
    if (!std::isnan(x[size_t(i)]) && (best < 0 || x[size_t(i)] > x[size_t(best)])) best = i;
  return best < 0 ? 0 : best;
}

struct Greedy {
  SamplingParams p;
  std::vector<int32_t> tokens{3, 4, 5};
  Greedy() { p.temperature = 0.f; }
  int32_t token(const std::vector<float>& logits) {
    SamplerRow row{&p, 1, 0, &tokens, 2, std::optional<int32_t>(0)};
    return sample_token(logits.data(), int64_t(logits.size()), row).token;
  }
};

TEST(GreedySampling, RawArgmaxMatchesAScanAtEveryPlaceAndSize) {
  std::mt19937 rng(7);
  std::normal_distribution<float> n(0.f, 3.f);
  // Sizes around the 256-entry blocks and the 8-wide inner step.
  for (int64_t V : {1, 7, 8, 9, 255, 256, 257, 1000, 129280}) {
    std::vector<float> x(static_cast<size_t>(V));
    for (float& v : x) v = n(rng);
    Greedy g;
    EXPECT_EQ(g.token(x), scan_argmax(x)) << "V " << V;
    // The maximum at each end and inside a later block.
    for (int64_t at : {int64_t(0), V - 1, V / 2}) {
      std::vector<float> y = x;
      y[size_t(at)] = 100.f;
      EXPECT_EQ(g.token(y), at) << "V " << V << " at " << at;
    }
  }
}

TEST(GreedySampling, TiesGoToTheLowestIndexAcrossBlocks) {
  std::vector<float> x(129280, -1.f);
  x[70000] = 5.f;
  x[300] = 5.f;  // another block, earlier: it wins
  x[301] = 5.f;
  Greedy g;
  EXPECT_EQ(g.token(x), 300);
  x[300] = x[301] = -1.f;
  x[70001] = 5.f;
  EXPECT_EQ(g.token(x), 70000);
}

TEST(GreedySampling, NanNeverWinsAndAllMaskedGivesTheFirst) {
  std::vector<float> x(600, 0.f);
  x[0] = std::nanf("");
  x[10] = 1.f;
  x[512] = std::nanf("");
  Greedy g;
  EXPECT_EQ(g.token(x), 10);
  EXPECT_EQ(g.token(std::vector<float>(600, -kInf)), 0);
  std::vector<float> nans(600, std::nanf(""));
  nans[599] = -kInf;
  EXPECT_EQ(g.token(nans), 599);
  EXPECT_EQ(g.token(std::vector<float>(600, std::nanf(""))), 0);
}

TEST(GreedySampling, ProcessorsStillApply) {
  std::vector<float> x(1000, 0.f);
  x[0] = 3.f;  // the eos id of Greedy's row
  x[5] = 2.f;
  Greedy g;
  EXPECT_EQ(g.token(x), 0);
  g.p.min_tokens = 5;  // one token generated so far: eos is masked
  EXPECT_EQ(g.token(x), 5);
  g.p.min_tokens = 0;
  g.p.logit_bias[7] = 10.f;
  EXPECT_EQ(g.token(x), 7);
  g.p.logit_bias.clear();
  g.p.repetition_penalty = 2.f;  // 5 is in the history (generated): 2 / 2 = 1; 0 is not
  x[0] = 1.5f;
  EXPECT_EQ(g.token(x), 0);
  g.p.repetition_penalty = 1.f;
  EXPECT_EQ(g.token(x), 5);
}

// sample_token's draw by its definition (engine/sampler_reference.h), at
// the uniform sampler.cpp's row_uniform gives a row of this seed and step.
int32_t reference_draw(const std::vector<float>& raw, const SamplingParams& p, uint64_t seed, int step) {
  return sable::reference_draw(raw, p, double(hash_counter(seed, 1, uint64_t(step)) >> 11) * 0x1p-53);
}

TEST(RandomSampling, DrawsTheTokenOfTheDefinition) {
  std::mt19937 rng(11);
  std::normal_distribution<float> n(0.f, 2.f);
  std::vector<float> raw(20000);
  for (float& v : raw) v = n(rng);
  raw[123] = raw[4567];  // a tie across the vocabulary
  struct Case {
    float t, top_p, min_p;
    int top_k;
  };
  int checked = 0, differ = 0;
  for (const Case& c :
       {Case{1.f, 1.f, 0.f, 0}, Case{0.7f, 1.f, 0.f, 0}, Case{1.f, 0.9f, 0.f, 0}, Case{1.f, 0.5f, 0.f, 3000},
        Case{1.3f, 1.f, 0.02f, 0}, Case{1.f, 0.95f, 0.f, 40}, Case{0.5f, 1.f, 0.f, 5}}) {
    SamplingParams p;
    p.temperature = c.t;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    p.top_k = c.top_k;
    std::vector<int32_t> tokens{1, 2, 3, 4};  // 2 prompt + 2 generated: step 2
    for (uint64_t seed = 1; seed <= 60; ++seed) {
      SamplerRow row{&p, seed, 0, &tokens, 2, std::nullopt};
      const int32_t got = sample_token(raw.data(), int64_t(raw.size()), row).token;
      ++checked;
      // The sums run in another order: a uniform within ~1e-15 of a
      // boundary could pick the neighbour; never in 420 draws.
      differ += got != reference_draw(raw, p, seed, 2);
    }
  }
  EXPECT_EQ(checked, 420);
  EXPECT_EQ(differ, 0);
}

TEST(RandomSampling, TopKKeepsTheLowerIdsOfTiedLogits) {
  // Logits on a coarse grid: hundreds tie at the top-k boundary, and the
  // candidates are the lowest ids among them (the canonical order).
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.f, 2.f);
  std::vector<float> raw(50000);
  for (float& v : raw) v = std::round(n(rng) * 2.f) / 2.f;
  raw[777] = std::nanf("");  // never a candidate
  int differ = 0;
  for (int top_k : {1, 7, 50, 300, 4000}) {
    SamplingParams p;
    p.temperature = 0.9f;
    p.top_k = top_k;
    std::vector<float> clean = raw;
    clean[777] = -kInf;  // the definition's view of the NaN
    std::vector<int32_t> tokens{1, 2, 3, 4};
    for (uint64_t seed = 1; seed <= 40; ++seed) {
      SamplerRow row{&p, seed, 0, &tokens, 2, std::nullopt};
      differ += sample_token(raw.data(), int64_t(raw.size()), row).token != reference_draw(clean, p, seed, 2);
    }
  }
  EXPECT_EQ(differ, 0);
  // Every logit equal: the top 50 are ids 0-49, whichever the draw.
  const std::vector<float> flat(50000, 1.f);
  SamplingParams p;
  p.top_k = 50;
  std::vector<int32_t> tokens{1, 2, 3, 4};
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SamplerRow row{&p, seed, 0, &tokens, 2, std::nullopt};
    EXPECT_LT(sample_token(flat.data(), int64_t(flat.size()), row).token, 50) << "seed " << seed;
  }
}

TEST(RandomSampling, WholeVocabularyDrawsOverTiesAndPeaks) {
  // No top-k: the draw bins every logit and gathers candidates only where
  // top-p's cut and the draw fall. Three shapes of row: a coarse grid
  // (thousands of ties inside one bin, which it must sort), a peaked row (a
  // few logits far above the rest: the answer in the first bins), and a
  // flat one (every logit equal: one bin); NaN and -inf sprinkled in. And
  // the edges of the filters: top-p that keeps only the top, top-p beyond
  // what min-p leaves (everything min-p kept stays), min-p above 1 (the
  // most likely alone).
  std::mt19937 rng(5);
  std::normal_distribution<float> n(0.f, 2.f);
  std::vector<float> grid(60000), peaked(60000), flat(60000, 0.25f);
  for (float& v : grid) v = std::round(n(rng) * 2.f) / 2.f;
  for (float& v : peaked) v = n(rng) - 20.f;
  for (int i = 0; i < 6; ++i) peaked[size_t(i) * 9973] = 4.f + float(i);
  for (std::vector<float>* raw : {&grid, &peaked, &flat}) {
    (*raw)[17] = std::nanf("");
    (*raw)[30001] = -kInf;
  }
  int checked = 0, differ = 0;
  for (const std::vector<float>* raw : {&grid, &peaked, &flat})
    for (float top_p : {1.f, 0.9999f, 0.9f, 0.3f, 1e-6f})
      for (float min_p : {0.f, 0.01f, 2.f}) {
        SamplingParams p;
        p.temperature = 0.8f;
        p.top_p = top_p;
        p.min_p = min_p;
        std::vector<int32_t> tokens{1, 2, 3, 4};
        for (uint64_t seed = 1; seed <= 8; ++seed) {
          SamplerRow row{&p, seed, 0, &tokens, 2, std::nullopt};
          ++checked;
          const int32_t got = sample_token(raw->data(), int64_t(raw->size()), row).token;
          differ += got != reference_draw(*raw, p, seed, 2);
          EXPECT_NE(got, 17);
          EXPECT_NE(got, 30001);
        }
      }
  EXPECT_EQ(checked, 360);
  EXPECT_EQ(differ, 0);
}

TEST(RandomSampling, InfiniteOrNoCandidatesGiveTheRawArgmax) {
  std::vector<float> raw(5000, 0.f);
  raw[40] = kInf;  // holds all the mass
  raw[41] = kInf;
  SamplingParams p;
  p.temperature = 1.f;
  std::vector<int32_t> tokens{1, 2, 3, 4};
  SamplerRow row{&p, 7, 0, &tokens, 2, std::nullopt};
  EXPECT_EQ(sample_token(raw.data(), int64_t(raw.size()), row).token, 40);
  std::vector<float> none(5000, -kInf);
  none[3] = std::nanf("");
  EXPECT_EQ(sample_token(none.data(), int64_t(none.size()), row).token, 0);  // the first -inf
}

}  // namespace
}  // namespace sable
