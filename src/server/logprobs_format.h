// Token logprobs in OpenAI's two formats: chat's
//   {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}
// and completions'
//   {"tokens", "token_logprobs", "top_logprobs": [{token: logprob}], "text_offset"}.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request.h"

namespace sable {
class Tokenizer;
}

namespace sable::server {

class TokenStrings {
 public:
  // tokenizer may be null (then tokens print as "token_id:N").
  TokenStrings(std::shared_ptr<const Tokenizer> tok, bool as_token_ids)
      : tok_(std::move(tok)), as_ids_(as_token_ids) {}
  // The token's raw bytes (a byte-level token may be part of a character).
  std::string bytes(int32_t id) const;
  // The token as text: its bytes with broken UTF-8 replaced by U+FFFD, or
  // "token_id:N" when asked for ids.
  std::string text(int32_t id) const;

 private:
  std::shared_ptr<const Tokenizer> tok_;
  bool as_ids_;
};

// JSON cannot carry -inf; vLLM sends -9999.0 instead.
double json_logprob(float lp);

// Chat: the entries of "content" for these tokens.
nlohmann::ordered_json chat_logprob_entries(const std::vector<TokenLogprob>& lps, const TokenStrings& ts);

// Completions: the logprobs object for these tokens; text_offset starts at
// *offset (characters of text before them) and advances it. With `prompt`
// (echo), the prompt's tokens come first, at most top_n alternatives each,
// and the first of them has null logprob and top_logprobs.
nlohmann::ordered_json completion_logprobs(const std::vector<TokenLogprob>& lps, const TokenStrings& ts, size_t* offset,
                                           const std::vector<TokenLogprob>* prompt = nullptr, int top_n = 0);

// vLLM's prompt_logprobs: null for the first token, then per token an object
// {"<token id>": {"logprob", "rank", "decoded_token"}} with the prompt token
// and the top_n most likely ones.
nlohmann::ordered_json prompt_logprobs_json(const std::vector<TokenLogprob>& lps, int top_n, const TokenStrings& ts);

}  // namespace sable::server
