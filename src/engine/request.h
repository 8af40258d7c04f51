// What a client asks of the engine and what it gets back: sampling
// parameters (vLLM's names and defaults), a request, and the stream of
// outputs. Plain data; the engine validates.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

namespace sable {

class JsonSchema;  // engine/json_schema.h

struct SamplingParams {
  int n = 1;                        // choices per prompt (share the prompt's blocks)
  float temperature = 1.0f;         // 0: greedy
  float top_p = 1.0f;
  int top_k = 0;                    // 0 or -1: off
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;  // > 1 discourages tokens of prompt and output
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::map<int32_t, float> logit_bias;
  // vLLM's allowed_token_ids: only these tokens may be generated (empty: any).
  std::vector<int32_t> allowed_token_ids;
  // vLLM's bad_words: words the output must not contain. The engine turns
  // them into token sequences at submission (bad_words_token_ids, below):
  // the last token of a sequence is masked whenever the generated tokens end
  // with the rest of it (a one-token sequence: always).
  std::vector<std::string> bad_words;
  std::vector<std::vector<int32_t>> bad_words_token_ids;
  std::optional<uint64_t> seed;     // same tokens whatever else is in the batch
  std::vector<std::string> stop;    // stop strings (never in the output unless asked)
  std::vector<int32_t> stop_token_ids;
  bool include_stop_str_in_output = false;
  bool ignore_eos = false;
  int max_tokens = 16;
  int min_tokens = 0;               // EOS/stop tokens are masked before this many
  std::optional<int> logprobs;      // top-N logprobs per token (0: the chosen one only); <= 20
  // Logprobs of the prompt's own tokens (vLLM's prompt_logprobs; completions'
  // echo with logprobs): top-N per prompt token (0: the token itself only),
  // <= 20. The prompt is computed whole for it, without the prefix cache.
  std::optional<int> prompt_logprobs;
  bool skip_special_tokens = true;
  bool detokenize = true;
  // Structured output (response_format json_object / json_schema, guided_json):
  // the generated text is one JSON document matching this schema; the choice
  // ends ("stop") when the document is complete.
  std::shared_ptr<const JsonSchema> json_schema;
  // When set, json_schema applies only to the output after the first
  // occurrence of this text, the end of the model's reasoning ("</think>";
  // engine/reasoning_gate.h); before it the output is unconstrained.
  std::string structured_after;
};

enum class FinishReason { kStop, kLength, kAbort, kError };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "abort", "error"

struct GenerateRequest {
  std::string request_id;
  std::vector<int32_t> prompt_ids;
  SamplingParams params;
  int priority = 0;  // lower runs first (vLLM's convention); FCFS within a priority
  std::chrono::steady_clock::time_point arrival = std::chrono::steady_clock::now();
};

struct TokenLogprob {
  int32_t token_id = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // (token, logprob), best first
  int rank = 0;                                // prompt logprobs: 1 + the tokens with a larger logit (0: not computed)
};

// One event for one choice. Outputs of a choice arrive in order; the last has
// finish_reason set.
struct RequestOutput {
  int index = 0;                      // the choice, in [0, n)
  std::vector<int32_t> token_ids;     // new tokens since the previous event
  std::string text;                   // new text since the previous event (UTF-8 safe)
  std::vector<TokenLogprob> logprobs; // one per new token when requested
  // With prompt_logprobs, on the choice's first event: one per prompt token,
  // in order; the first token has no logprob (NaN, top empty, rank 0).
  std::vector<TokenLogprob> prompt_logprobs;
  std::optional<FinishReason> finish_reason;
  std::string stop_reason;            // the matched stop string, or the stop token id
  std::string error;                  // for kError
  // Filled on the final event of the choice:
  int prompt_tokens = 0;
  int completion_tokens = 0;          // of this choice
  int cached_prompt_tokens = 0;       // prompt tokens served from the prefix cache
};

}  // namespace sable
