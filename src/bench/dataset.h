// The prompts a benchmark sends. Lengths are token counts of the model's own
// tokenizer, so "1000 in" means 1000 tokens at the server:
//
//   random         every prompt exactly --input-len tokens (vLLM's random
//                  dataset: random token ids decoded to text, re-encoded and
//                  adjusted until the text encodes to the target length),
//                  --output-len tokens asked for each; --range-ratio R draws
//                  both uniformly from [len*(1-R), len*(1+R)].
//   sharegpt-like  lengths with ShareGPT's long tail: log-normal around the
//                  given lengths (sigma 0.8, clipped to [4, 4x]); or, with
//                  --dataset-path, the first two turns of each conversation
//                  of a ShareGPT JSON file (vLLM's sampling and filters).
//
// Prompts are fresh random text, so nothing is shared between them and
// prefix caching cannot help (each run of a sweep gets its own seed too).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace sable {
class Tokenizer;
}

namespace sable::bench {

struct BenchPrompt {
  std::string text;            // the prompt as text (empty when built without a tokenizer)
  std::vector<int32_t> ids;    // its token ids (no BOS)
  int prompt_len = 0;          // ids.size()
  int output_len = 0;          // max_tokens to ask for
};

struct DatasetOptions {
  std::string name = "random";  // random | sharegpt-like
  std::string path;             // ShareGPT JSON for sharegpt-like (optional)
  int input_len = 1024;
  int output_len = 128;
  double range_ratio = 0;
  int num_prompts = 100;
  uint64_t seed = 0;
};

// tokenizer may be null: then prompts are ids only, drawn from [0, vocab_size).
Result<std::vector<BenchPrompt>> make_prompts(const DatasetOptions& o, const Tokenizer* tokenizer,
                                              int64_t vocab_size);

// Text of random tokens that the tokenizer encodes to exactly `target` ids
// (or as close as a few rounds of adjusting get; the prompt's ids are what
// it really encodes to). `allowed` are the ids to draw from.
BenchPrompt random_text_prompt(const Tokenizer& tok, int target, const std::vector<int32_t>& allowed,
                               uint64_t seed);
// Ids safe to draw: not added/special tokens, and decoding on their own to
// valid UTF-8 (so that decode -> encode stays close to the drawn count).
std::vector<int32_t> drawable_token_ids(const Tokenizer& tok);

}  // namespace sable::bench
