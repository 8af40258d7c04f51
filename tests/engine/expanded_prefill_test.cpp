// MLA prefill in the expanded form through the whole engine: the runner puts
// the expanded sequences at the end of the batch and keeps the logits rows in
// the scheduler's order, and the model runs the absorbed form for the rest
// (decode rows, single-token chunks). With a small token budget, steps mix
// decode rows and prefill chunks of several sequences; the fixture prompts'
// greedy continuations must still match the reference.
#include <gtest/gtest.h>

#include "common/fixtures.h"
#include "engine/engine_util.h"
#include "model/presets.h"

namespace sable {
namespace {

using testing::tiny_model;
using Mode = DeepseekV3Model::MlaPrefill;

// Forces a prefill mode on the shared tiny model for one test.
struct PrefillMode {
  explicit PrefillMode(Mode m, int chunk_keys) { tiny_model().model->set_mla_prefill(m, chunk_keys); }
  ~PrefillMode() { tiny_model().model->set_mla_prefill(Mode::kAuto); }
};

TEST(ExpandedPrefill, MixedBatchesMatchReferenceFixtures) {
  PrefillMode mode(Mode::kExpanded, /*chunk_keys=*/24);
  const auto prompts = testing::load_fixture_prompts("tiny-dsv3");
  std::vector<GenerateRequest> reqs;
  // Short prompts first so that they are decoding while the fixtures' longer
  // prompts are still being prefilled in chunks.
  for (int i = 0; i < 6; ++i) {
    std::vector<int32_t> ids;
    for (int j = 0; j < 3 + 5 * i; ++j) ids.push_back(int32_t((i * 131 + j * 17 + 5) % 1000 + 2));
    reqs.push_back(testing::greedy_request(ids, 20));
  }
  for (const auto& p : prompts) reqs.push_back(testing::greedy_request(p.ids, int(p.greedy.size())));
  for (int budget : {2048, 45}) {
    EngineConfig cfg = testing::small_engine_config();
    cfg.max_num_batched_tokens = budget;
    auto e = Engine::create(cfg, *tiny_model().model, nullptr);
    ASSERT_TRUE(e.is_ok()) << e.status().to_string();
    auto res = testing::run_all(**e, reqs);
    for (size_t i = 0; i < prompts.size(); ++i) {
      const auto& out = res[6 + i][0].ids;
      const int n = testing::greedy_compare_length(prompts[i].greedy_margin);
      ASSERT_GE(out.size(), size_t(n));
      for (int k = 0; k < n; ++k)
        ASSERT_EQ(out[size_t(k)], prompts[i].greedy[size_t(k)]) << "budget " << budget << " prompt " << i << " step " << k;
    }
    EXPECT_EQ((*e)->gauges().kv_cache_usage, 0.0);
  }
}

TEST(ExpandedPrefill, AutoNeverExpandsOnABatchInvariantBackend) {
  // The CPU backend is batch-invariant: the form must not depend on chunking.
  ASSERT_TRUE(tiny_model().model->backend().batch_invariant());
  EXPECT_FALSE(tiny_model().model->use_expanded(4096, 100000));
  PrefillMode mode(Mode::kExpanded, 16);
  EXPECT_TRUE(tiny_model().model->use_expanded(2, 100));
  EXPECT_FALSE(tiny_model().model->use_expanded(1, 100));  // decode rows stay absorbed
}

TEST(ExpandedPrefill, AutoRuleCountsFlops) {
  // DeepSeek-V3: 278.5 K FLOPs per query-key pair absorbed, 81.9 K expanded,
  // plus 33.6 M per key to up-project. A prompt from position 0 breaks even
  // near 341 tokens; a chunk over a long context near 171.
  auto c = preset_config("dsv3");
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_FALSE(DeepseekV3Model::expanded_is_cheaper(*c, 300, 300));
  EXPECT_TRUE(DeepseekV3Model::expanded_is_cheaper(*c, 400, 400));
  EXPECT_FALSE(DeepseekV3Model::expanded_is_cheaper(*c, 160, 100000));
  EXPECT_TRUE(DeepseekV3Model::expanded_is_cheaper(*c, 180, 100000));
  EXPECT_FALSE(DeepseekV3Model::expanded_is_cheaper(*c, 1, 100000));
}

}  // namespace
}  // namespace sable
