// Access to the reference fixtures (tests/fixtures, from Hugging Face
// transformers) for tests: expected logits, greedy tokens and margins.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/safetensors.h"

namespace sable::testing {

std::string fixture_dir(const std::string& name);  // tests/fixtures/<name>

// The "tiny" preset (DeepSeek-V3's layout at small sizes) with one MTP layer,
// for random-weight models of speculative decoding's tests.
ModelConfig tiny_config_with_mtp();

struct FixturePrompt {
  std::vector<int32_t> ids;
  Tensor logits;               // F32 [len, vocab]
  std::vector<int32_t> greedy;
  std::vector<float> greedy_margin;
};

// Every prompt{i} in <fixture>/expected.safetensors, in order.
std::vector<FixturePrompt> load_fixture_prompts(const std::string& name);

// max |a - b| / max |b| over all elements.
double max_rel_error(const float* a, const float* b, int64_t n);

// How many leading greedy tokens must match: up to (not including) the first
// step whose margin is below 0.01 (shared/fixtures/README.md).
int greedy_compare_length(const std::vector<float>& margin);

}  // namespace sable::testing
