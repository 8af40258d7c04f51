// Turning a row of logits into the next token, as vLLM does: min_tokens
// masking, logit_bias, repetition/presence/frequency penalties, then greedy
// (temperature 0) or temperature + min_p + top-k + top-p sampling. The random
// draw depends only on (seed, choice, step), so a request gets the same
// tokens whatever else is in the batch and however often it was preempted.
// Logprobs are of the raw model output (vLLM's default).
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "engine/request.h"

namespace sable {

struct SamplerRow {
  const SamplingParams* params = nullptr;
  uint64_t seed = 0;
  int choice = 0;
  const std::vector<int32_t>* tokens = nullptr;  // prompt + generated so far
  int prompt_len = 0;
  std::optional<int32_t> eos_token_id;  // masked until min_tokens
  // Structured output: allowed[id] != 0 for the tokens that may come next
  // (TokenTrie::allowed_tokens); the others are masked first.
  const std::vector<uint8_t>* allowed = nullptr;
};

struct SampleResult {
  int32_t token = 0;
  float logprob = 0;                           // of the chosen token
  std::vector<std::pair<int32_t, float>> top;  // top-N (token, logprob) when asked
  bool draft_accepted = false;                 // verify_draft: the token is the draft
};

// logits: [V] float32 for one sequence.
SampleResult sample_token(const float* logits, int64_t vocab, const SamplerRow& row);

// Speculative decoding: the next token given a draft token proposed for this
// position, drawn so that the output has exactly the distribution
// sample_token's has (vLLM's rejection sampler with a one-hot draft
// distribution, as for drafts chosen by argmax). Greedy: the argmax, and the
// draft is accepted iff it is the argmax. Random: with p the processed,
// truncated (top-k, min-p, top-p) and renormalized distribution that
// sample_token draws from, the draft is accepted with probability p(draft);
// otherwise the token is drawn from p with the draft removed, renormalized.
// Both uniforms depend only on (seed, choice, step), like sample_token's.
// A draft that is not among p's candidates (masked, truncated away, or not
// an id in [0, vocab)) is rejected and the token is then sample_token's.
// Logprobs are filled for the returned token as sample_token fills them.
SampleResult verify_draft(const float* logits, int64_t vocab, const SamplerRow& row, int32_t draft);

// The row as a backend's own sampler takes it (Backend::sample_tokens), or
// nothing when the row needs the host: logprobs, logit_bias, penalties,
// min_tokens masking, allowed_token_ids, bad_words and structured output
// read or change single logits. The seed mixes in the
// choice and the step is the number of tokens generated, so a row's draw is
// its own whatever the batch (the host and a device draw differently).
std::optional<TokenSamplingRow> device_sampling_row(const SamplerRow& row);

// The raw log_softmax of `token` in a row of logits, its rank (1 + the
// tokens with a larger logit) and the top n (prompt logprobs).
TokenLogprob token_logprob(const float* logits, int64_t vocab, int32_t token, int n);

// Applies the logits processors (allowed_token_ids, bad_words, min_tokens,
// logit_bias, penalties) in place.
void apply_logits_processors(float* logits, int64_t vocab, const SamplerRow& row);

}  // namespace sable
