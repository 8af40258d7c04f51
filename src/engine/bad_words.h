// vLLM's bad_words as token sequences (SamplingParams::update_from_tokenizer):
// each word, stripped of leading whitespace, encoded as it is and with one
// leading space (the word inside a text), the second only when it differs
// from the first in its first token and has as many tokens; applied by the
// sampler to the generated tokens (engine/sampler.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace sable {

class Tokenizer;

// kInvalidArgument for a word that encodes to no token.
Result<std::vector<std::vector<int32_t>>> bad_words_token_ids(const Tokenizer& tok,
                                                              const std::vector<std::string>& words);

// Masks (sets to -inf) in logits [V] the tokens that would complete a bad
// word after `generated` (the choice's output tokens so far).
void mask_bad_words(float* logits, int64_t V, const std::vector<std::vector<int32_t>>& bad_words,
                    const int32_t* generated, size_t num_generated);

}  // namespace sable
