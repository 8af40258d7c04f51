// The CPU forward against the Hugging Face reference fixtures: logits at
// every position of every prompt, and greedy continuations, with MLA prefill
// in the absorbed form and in the expanded form (keys in chunks of 16, so
// that the log-sum-exp merge of chunks is exercised on every prompt), on one
// rank and split over 2 and 4 tensor-parallel ranks (tiny-dsv3; the FP8
// fixture's parts would cut its scale blocks: tensor_parallel_test.cpp), with
// the routed experts split by intermediate or placed whole on the ranks
// (--enable-expert-parallel).
#include <gtest/gtest.h>

#include "backend/backend.h"
#include "common/fixtures.h"
#include "model/deepseek_v3.h"
#include "model/weight_source.h"
#include "runner/single_sequence.h"

namespace sable {
namespace {

using Mode = DeepseekV3Model::MlaPrefill;

// (fixture, MLA prefill form, tensor-parallel ranks, expert parallel)
class ForwardFixture : public ::testing::TestWithParam<std::tuple<std::string, Mode, int, bool>> {
 protected:
  void SetUp() override {
    const std::string name = std::get<0>(GetParam());
    auto src = open_weight_source(testing::fixture_dir(name), "auto");
    ASSERT_TRUE(src.is_ok()) << src.status().to_string();
    source_ = std::move(*src);
    LoadOptions o;
    o.tensor_parallel_size = std::get<2>(GetParam());
    o.expert_parallel = std::get<3>(GetParam());
    auto m = DeepseekV3Model::load(*source_, cpu_backend(), o);
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    model_ = std::move(*m);
    ASSERT_EQ(model_->tensor_parallel_size(), std::get<2>(GetParam()));
    model_->set_mla_prefill(std::get<1>(GetParam()), /*chunk_keys=*/16);
    prompts_ = testing::load_fixture_prompts(name);
    ASSERT_GE(prompts_.size(), 4u);
  }
  std::unique_ptr<WeightSource> source_;
  std::unique_ptr<DeepseekV3Model> model_;
  std::vector<testing::FixturePrompt> prompts_;
};

TEST_P(ForwardFixture, LogitsMatchReferenceAtEveryPosition) {
  for (size_t i = 0; i < prompts_.size(); ++i) {
    const auto& p = prompts_[i];
    SingleSequenceRunner r(*model_, int(p.ids.size()));
    auto logits = r.step(p.ids, /*all_logits=*/true);
    ASSERT_TRUE(logits.is_ok()) << logits.status().to_string();
    ASSERT_EQ(logits->shape(), p.logits.shape());
    double err = testing::max_rel_error(logits->ptr<float>(), p.logits.ptr<float>(), p.logits.numel());
    EXPECT_LT(err, 1e-4) << "prompt " << i << " (" << p.ids.size() << " tokens)";
  }
}

TEST_P(ForwardFixture, IncrementalDecodeMatchesFullForward) {
  // Feeding the prompt in pieces through the cache must give the same logits
  // as one pass over the whole prompt.
  const auto& p = prompts_[3];  // 100 tokens
  SingleSequenceRunner r(*model_, int(p.ids.size()));
  const int64_t V = model_->config().vocab_size;
  size_t pos = 0;
  for (size_t chunk : {1u, 7u, 32u, 60u}) {
    std::vector<int32_t> part(p.ids.begin() + long(pos), p.ids.begin() + long(pos + chunk));
    auto logits = r.step(part, true);
    ASSERT_TRUE(logits.is_ok());
    double err = testing::max_rel_error(logits->ptr<float>(), p.logits.ptr<float>() + pos * V, int64_t(chunk) * V);
    EXPECT_LT(err, 1e-4) << "chunk at " << pos;
    pos += chunk;
  }
  EXPECT_EQ(pos, p.ids.size());
}

TEST_P(ForwardFixture, GreedyMatchesReferenceUpToMarginRule) {
  for (size_t i = 0; i < prompts_.size(); ++i) {
    const auto& p = prompts_[i];
    auto out = greedy_generate(*model_, p.ids, int(p.greedy.size()));
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    const int n = testing::greedy_compare_length(p.greedy_margin);
    for (int k = 0; k < n; ++k) ASSERT_EQ((*out)[size_t(k)], p.greedy[size_t(k)]) << "prompt " << i << " step " << k;
  }
}

TEST_P(ForwardFixture, OutOfVocabularyIdIsAnError) {
  SingleSequenceRunner r(*model_, 8);
  auto bad = r.step({1, int32_t(model_->config().vocab_size)}, false);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("outside the vocabulary"), std::string::npos);
  // Still usable (under tensor parallelism: no rank was left inside a collective).
  auto good = r.step({1, 2, 3}, false);
  ASSERT_TRUE(good.is_ok()) << good.status().to_string();
}

std::string case_name(const ::testing::TestParamInfo<ForwardFixture::ParamType>& info) {
  std::string s = std::get<0>(info.param);
  for (char& c : s)
    if (c == '-') c = '_';
  s += std::get<1>(info.param) == Mode::kExpanded ? "_expanded" : "_absorbed";
  if (std::get<2>(info.param) > 1) s += "_tp" + std::to_string(std::get<2>(info.param));
  if (std::get<3>(info.param)) s += "_ep";
  return s;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ForwardFixture,
                         ::testing::Combine(::testing::Values("tiny-dsv3", "tiny-dsv3-fp8"),
                                            ::testing::Values(Mode::kAbsorbed, Mode::kExpanded), ::testing::Values(1),
                                            ::testing::Values(false)),
                         case_name);
INSTANTIATE_TEST_SUITE_P(TensorParallel, ForwardFixture,
                         ::testing::Combine(::testing::Values("tiny-dsv3"),
                                            ::testing::Values(Mode::kAbsorbed, Mode::kExpanded),
                                            ::testing::Values(2, 4), ::testing::Values(false, true)),
                         case_name);

}  // namespace
}  // namespace sable
