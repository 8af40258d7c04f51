// Which rows a backend's own sampler may draw (device_sampling_row): every
// parameter that reads or changes single logits keeps the row on the host,
// and a row's seed and step depend on the request alone.
#include <gtest/gtest.h>

#include "engine/sampler.h"

namespace sable {
namespace {

struct Row {
  SamplingParams p;
  std::vector<int32_t> tokens{5, 6, 7, 8, 9};  // 3 prompt + 2 generated
  SamplerRow row(uint64_t seed = 42, int choice = 0) {
    return SamplerRow{&p, seed, choice, &tokens, 3, std::optional<int32_t>(1)};
  }
};

TEST(DeviceSamplingRow, PlainSamplingGoesToTheDevice) {
  Row r;
  r.p.temperature = 0.7f;
  r.p.top_k = 40;
  r.p.top_p = 0.9f;
  r.p.min_p = 0.05f;
  auto d = device_sampling_row(r.row());
  ASSERT_TRUE(d.has_value());
  EXPECT_FLOAT_EQ(d->temperature, 0.7f);
  EXPECT_EQ(d->top_k, 40);
  EXPECT_FLOAT_EQ(d->top_p, 0.9f);
  EXPECT_FLOAT_EQ(d->min_p, 0.05f);
  EXPECT_EQ(d->step, 2);
}

TEST(DeviceSamplingRow, GreedyAndDisabledTopKAreNormalised) {
  Row r;
  r.p.temperature = 1e-7f;
  r.p.top_k = -1;
  auto d = device_sampling_row(r.row());
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->temperature, 0.f);
  EXPECT_EQ(d->top_k, 0);
}

TEST(DeviceSamplingRow, LogitReadersAndProcessorsStayOnTheHost) {
  auto host = [](auto&& set) {
    Row r;
    set(r.p);
    return !device_sampling_row(r.row()).has_value();
  };
  EXPECT_TRUE(host([](SamplingParams& p) { p.logprobs = 0; }));
  EXPECT_TRUE(host([](SamplingParams& p) { p.logit_bias[3] = -100.f; }));
  EXPECT_TRUE(host([](SamplingParams& p) { p.repetition_penalty = 1.1f; }));
  EXPECT_TRUE(host([](SamplingParams& p) { p.presence_penalty = 0.5f; }));
  EXPECT_TRUE(host([](SamplingParams& p) { p.frequency_penalty = -0.5f; }));
  EXPECT_TRUE(host([](SamplingParams& p) { p.allowed_token_ids = {1, 2}; }));
  EXPECT_TRUE(host([](SamplingParams& p) { p.bad_words_token_ids = {{5}}; }));
  EXPECT_TRUE(host([](SamplingParams& p) { p.min_tokens = 3; }));   // 2 generated: EOS still masked
  EXPECT_FALSE(host([](SamplingParams& p) { p.min_tokens = 2; }));  // reached: nothing to mask
}

TEST(DeviceSamplingRow, SeedDependsOnRequestSeedAndChoiceOnly) {
  Row a, b;
  b.tokens = {1, 2, 3, 4, 5};  // other tokens, same lengths
  EXPECT_EQ(device_sampling_row(a.row(42, 0))->seed, device_sampling_row(b.row(42, 0))->seed);
  EXPECT_NE(device_sampling_row(a.row(42, 0))->seed, device_sampling_row(a.row(43, 0))->seed);
  EXPECT_NE(device_sampling_row(a.row(42, 0))->seed, device_sampling_row(a.row(42, 1))->seed);
}

}  // namespace
}  // namespace sable
