// OpenAI (and vLLM) request bodies for /v1/chat/completions and
// /v1/completions: parsed, type-checked and validated into plain structs
// carrying the engine's SamplingParams. Every problem throws ApiException
// (400) naming the field, with vLLM's wording where clients may match on it.
// Unknown fields are ignored, as vLLM does; fields that would change the
// output but are not supported (structured output, beam search, prompt
// logprobs, suffix) are rejected rather than silently dropped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/request.h"
#include "server/generation_defaults.h"
#include "server/json_fields.h"

namespace sable::server {

struct ProtocolLimits {
  int max_n = 128;
  int max_logprobs = 20;
  int max_prompts = 1024;
  int64_t vocab_size = 0;  // token ids must be below it (0: not checked)
  SamplingDefaults defaults;  // the model's generation config, for fields a request omits
  // --scheduling-policy priority; off (vLLM's fcfs), a non-zero priority is a 400, as vLLM.
  bool priority_scheduling = false;
  // --return-tokens-as-token-ids: the default of the request field of that name.
  bool return_tokens_as_token_ids = false;
  // --enable-force-include-usage: a streamed response reports usage whether
  // or not its stream_options ask.
  bool force_include_usage = false;
};

struct StreamOptions {
  bool include_usage = false;
  bool continuous_usage_stats = false;
};

// Fields that chat and completions share.
struct CommonRequest {
  std::string model;                   // "" when absent (the default model)
  bool stream = false;
  StreamOptions stream_options;
  SamplingParams params;               // max_tokens resolved per prompt later
  std::optional<int64_t> max_tokens;   // as requested; nullopt: the rest of the context
  std::optional<int64_t> default_max_tokens;      // the generation config's cap on that default
  std::optional<int64_t> truncate_prompt_tokens;  // keep only the last k prompt tokens
  bool echo = false;
  // vLLM's prompt_logprobs: top-N logprobs of each prompt token, in the
  // response's prompt_logprobs field.
  std::optional<int> prompt_logprobs;
  bool add_special_tokens = false;
  int priority = 0;
  std::string request_id;              // vLLM's body field, or ""
  bool return_tokens_as_token_ids = false;
};

struct ChatRequest : CommonRequest {
  Json messages = Json::array();       // content normalized to strings (or null)
  Json template_vars = Json::object(); // tools, documents, chat_template_kwargs
  // The request's own template (`chat_template`, or chat_template_kwargs'
  // `chat_template` as transformers reads it); used only with
  // --trust-request-chat-template.
  std::optional<std::string> chat_template;
  // "none", "auto", "required" (one tool only) or "function" (a named
  // function: {"type": "function", "function": {"name": ...}}); absent:
  // "auto" with tools, else "none" (OpenAI's default).
  std::string tool_choice = "none";
  // tool_choice "function" or "required": the function called. The output
  // is constrained to its `parameters` schema (params.json_schema) and
  // becomes the call's arguments, as vLLM does.
  std::string forced_tool;
  bool add_generation_prompt = true;
  bool continue_final_message = false;
  bool logprobs = false;
  int top_logprobs = 0;
};

// One prompt of a completions request: text, or token ids.
struct PromptInput {
  std::optional<std::string> text;
  std::vector<int32_t> ids;
};

struct CompletionRequest : CommonRequest {
  std::vector<PromptInput> prompts;
  std::optional<int> logprobs;
};

ChatRequest parse_chat_request(const Json& body, const ProtocolLimits& limits);
CompletionRequest parse_completion_request(const Json& body, const ProtocolLimits& limits);

// Shared by both parsers: the sampling fields and the common ones.
void parse_common_fields(const FieldReader& f, const ProtocolLimits& limits, CommonRequest& out);

// The max_tokens for a prompt of prompt_len tokens: the requested value, or
// the rest of the context; throws a 400 in vLLM's words when the prompt
// (plus the requested completion) does not fit in max_model_len. `chat`
// picks the wording ("messages" or "prompt").
int resolve_max_tokens(const CommonRequest& r, size_t prompt_len, int max_model_len, bool chat);

// Checks token ids against the vocabulary; param names the field in errors.
void check_token_ids(const std::vector<int32_t>& ids, int64_t vocab_size, const std::string& param);

}  // namespace sable::server
