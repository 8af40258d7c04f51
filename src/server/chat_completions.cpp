// POST /v1/chat/completions: messages -> chat template -> token ids -> the
// engine; the answer as chat.completion or a chat.completion.chunk stream.
#include <fmt/format.h>

#include "core/logging.h"
#include "server/chat_prompt.h"
#include "server/endpoints.h"
#include "server/errors.h"
#include "server/reasoning_parser.h"
#include "tokenizer/tokenizer.h"

namespace sable::server {
namespace {

// continue_final_message: the prompt ends right after the last message's
// text (no end-of-turn token), as transformers does it: cut the rendered
// template after the last occurrence of that text.
std::string cut_after_final_message(const std::string& rendered, const Json& messages) {
  const Json& content = messages.back()["content"];
  std::string final_text = content.is_string() ? content.get<std::string>() : "";
  size_t b = final_text.find_first_not_of(" \t\r\n");
  size_t e = final_text.find_last_not_of(" \t\r\n");
  final_text = b == std::string::npos ? "" : final_text.substr(b, e - b + 1);
  if (final_text.empty()) return rendered;
  size_t pos = rendered.rfind(final_text);
  if (pos == std::string::npos)
    throw_bad_request("continue_final_message: the chat template did not render the final message verbatim.",
                      "continue_final_message");
  return rendered.substr(0, pos + final_text.size());
}

}  // namespace

HandlerResult handle_chat_completions(ServerContext& ctx, const HttpRequest& req, const RequestInfo& info) {
  Json body = parse_json_body(req.body);
  ChatRequest r = parse_chat_request(body, ctx.limits());
  check_model(ctx, r.model);
  // vLLM's rule and message: without a parser, tool calls would come back as
  // raw text that the client cannot tell from an answer.
  const bool use_tool_parser = r.template_vars.contains("tools") && r.tool_choice == "auto";
  if (use_tool_parser && ctx.config.tool_call_parser.empty())
    throw_bad_request("\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set",
                      "tool_choice");
  check_accepting(ctx);
  check_tokenizer(ctx, "chat");
  const Tokenizer& tok = *ctx.tokenizer;
  std::string prompt = render_chat_prompt(ctx, r, info.base_id);
  if (r.continue_final_message) prompt = cut_after_final_message(prompt, r.messages);

  std::vector<int32_t> ids = tok.encode(prompt, r.add_special_tokens);
  if (ids.empty()) throw_bad_request("The rendered prompt is empty.", "messages");
  if (r.truncate_prompt_tokens && *r.truncate_prompt_tokens > 0 && ids.size() > size_t(*r.truncate_prompt_tokens))
    ids.erase(ids.begin(), ids.end() - *r.truncate_prompt_tokens);
  check_token_ids(ids, ctx.engine->vocab_size(), "messages");
  int max_model_len = ctx.engine->max_model_len();
  if (r.truncate_prompt_tokens && *r.truncate_prompt_tokens == -1 && int64_t(ids.size()) >= max_model_len)
    ids.erase(ids.begin(), ids.end() - (max_model_len - 1));

  ResponseMeta meta;
  meta.id = "chatcmpl-" + (r.request_id.empty() ? info.base_id : r.request_id);
  meta.created = unix_now();
  meta.model = ctx.model_name();
  // As vLLM: --response-role after a generation prompt, else the role of the
  // message the output continues.
  meta.role = r.add_generation_prompt || r.messages.empty() ? ctx.config.response_role
                                                            : r.messages.back()["role"].get<std::string>();
  meta.include_usage = r.stream_options.include_usage;
  meta.continuous_usage = r.stream_options.continuous_usage_stats;
  if (r.logprobs) meta.logprobs = r.top_logprobs;
  meta.prompt_logprobs = r.prompt_logprobs;
  meta.stop = r.params.stop;
  if (use_tool_parser) meta.tool_parser = ctx.config.tool_call_parser;
  meta.forced_tool = r.forced_tool;
  meta.forced_required = r.tool_choice == "required";
  meta.reasoning_parser = ctx.config.reasoning_parser;
  meta.reasoning_closed = !meta.reasoning_parser.empty() && reasoning_closed_in_prompt(prompt);

  GenerateRequest g;
  RequestInfo id_info = info;
  id_info.client_id = info.client_id || !r.request_id.empty();
  g.request_id = engine_request_id(meta.id, id_info, 0, 1);
  g.params = r.params;
  // With a reasoning parser, a schema constrains the answer, not the reasoning.
  if (g.params.json_schema && !meta.reasoning_parser.empty() && !meta.reasoning_closed)
    g.params.structured_after = std::string(kReasoningEnd);
  g.params.max_tokens = resolve_max_tokens(r, ids.size(), max_model_len, /*chat=*/true);
  g.prompt_ids = std::move(ids);
  g.priority = r.priority;

  // echo: the reply starts with the last message's content when that
  // message is the assistant's (vLLM's behaviour).
  std::string echo;
  if (r.echo && r.messages.back()["role"] == "assistant" && r.messages.back()["content"].is_string())
    echo = r.messages.back()["content"].get<std::string>();

  if (ctx.config.log_requests)
    LOG_INFO("{}: chat request: {} messages, {} prompt tokens, max_tokens {}, n {}, stream {}", meta.id,
             r.messages.size(), g.prompt_ids.size(), g.params.max_tokens, g.params.n, r.stream);
  bool stream = r.stream;
  int n = g.params.n;
  auto job = std::make_unique<GenerationJob>(
      ctx, make_chat_formatter(std::move(meta), TokenStrings(ctx.tokenizer, r.return_tokens_as_token_ids)), stream, n);
  std::vector<GenerateRequest> reqs;
  reqs.push_back(std::move(g));
  Status st = job->submit(std::move(reqs), {echo});
  if (!st.is_ok()) throw ApiException(api_error_from_status(st));
  HandlerResult res;
  res.job = std::move(job);
  return res;
}

}  // namespace sable::server
