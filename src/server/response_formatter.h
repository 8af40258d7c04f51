// Turns engine outputs into OpenAI JSON: chat.completion(.chunk) or
// text_completion. GenerationJob drives it; it knows nothing of sockets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request.h"
#include "server/logprobs_format.h"
#include "server/sse.h"

namespace sable::server {

using OJson = nlohmann::ordered_json;

// Everything one choice has produced so far.
struct ChoiceState {
  std::string text;                        // all text (non-streaming) 
  std::vector<int32_t> token_ids;
  std::vector<TokenLogprob> logprobs;      // all (non-streaming)
  std::vector<TokenLogprob> pending_logprobs;  // streaming: not yet sent
  std::optional<FinishReason> finish;
  std::string stop_reason;
  int completion_tokens = 0;
  size_t text_offset = 0;                  // completions logprobs: characters sent so far
  std::string echo;                        // text to put before the output (echo)
  std::vector<TokenLogprob> prompt_logprobs;  // with prompt logprobs: one per prompt token
  bool prompt_sent = false;                   // streaming: the prompt's logprobs went out
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
};

// The common fields of every response of one request.
struct ResponseMeta {
  std::string id;          // "chatcmpl-..." / "cmpl-..."
  int64_t created = 0;     // unix seconds
  std::string model;
  std::string role = "assistant";  // chat: the response message's role (vLLM's get_chat_request_role)
  bool include_usage = false;
  bool continuous_usage = false;
  std::optional<int> logprobs;  // requested: top-N (0: the chosen token only)
  // Requested prompt_logprobs (the response's prompt_logprobs field), and
  // completions' echo with logprobs (the prompt's tokens lead the logprobs).
  std::optional<int> prompt_logprobs;
  bool echo_logprobs = false;
  std::vector<std::string> stop;  // to tell a stop string from a stop token id
  // Chat with tools and tool_choice "auto" on a server started with
  // --enable-auto-tool-choice: the --tool-call-parser name ("" = none).
  std::string tool_parser;
  // tool_choice naming a function: the output is its arguments ("" = none);
  // a named call finishes "stop" (OpenAI, vLLM). forced_required: tool_choice
  // "required", the output a list of calls (required_tool_calls.h),
  // finishing "tool_calls".
  std::string forced_tool;
  bool forced_required = false;
  // --reasoning-parser NAME: <think> text goes to reasoning ("" = off);
  // reasoning_closed: the rendered prompt already closed the reasoning.
  std::string reasoning_parser;
  bool reasoning_closed = false;
};

class ResponseFormatter {
 public:
  ResponseFormatter(ResponseMeta meta, TokenStrings ts) : meta_(std::move(meta)), ts_(std::move(ts)) {}
  virtual ~ResponseFormatter() = default;
  const ResponseMeta& meta() const { return meta_; }

  // Streaming: events before any output (chat sends each choice's role).
  virtual void stream_start(int num_choices, const std::vector<ChoiceState>& choices, std::string& out) = 0;
  // Streaming: events for one output of choice `index`; st is already updated
  // with it (pending_logprobs holds what is still to send).
  virtual void stream_output(int index, const RequestOutput& o, ChoiceState& st, const Usage& u,
                             std::string& out) = 0;
  // Non-streaming: the whole response.
  virtual OJson full_response(const std::vector<ChoiceState>& choices, const Usage& u) = 0;
  // Streaming with include_usage: the last chunk, with empty choices.
  OJson usage_chunk(const Usage& u) const;
  // "chat.completion.chunk" or "text_completion".
  virtual const char* chunk_object() const = 0;

  static OJson usage_json(const Usage& u);
  // vLLM's stop_reason: the stop string, the stop token id, or null (EOS).
  OJson stop_reason_json(const ChoiceState& st) const;

 protected:
  OJson chunk_head(const char* object) const;

  ResponseMeta meta_;
  TokenStrings ts_;
};

std::unique_ptr<ResponseFormatter> make_chat_formatter(ResponseMeta meta, TokenStrings ts);
std::unique_ptr<ResponseFormatter> make_completion_formatter(ResponseMeta meta, TokenStrings ts);

}  // namespace sable::server
