// The model creator's default sampling parameters, as vLLM applies them
// (`--generation-config auto`, its default since v0.8): the fields of the
// model's generation_config.json among temperature, top_p, top_k, min_p,
// repetition_penalty and max_new_tokens that differ from Hugging Face's own
// defaults (GenerationConfig.to_diff_dict). A request field overrides them;
// `--generation-config vllm` turns them off (OpenAI's defaults).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"

namespace sable::server {

struct SamplingDefaults {
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<int> top_k;
  std::optional<int64_t> max_tokens;  // max_new_tokens: caps the default max_tokens
  bool empty() const;
  std::string describe() const;  // "temperature=0.6, top_p=0.95"
};

// Reads DIR/generation_config.json; no file: no defaults. A file that is not
// JSON, or a field of the wrong type or range, is an error naming it.
Result<SamplingDefaults> load_generation_defaults(const std::string& dir);

}  // namespace sable::server
