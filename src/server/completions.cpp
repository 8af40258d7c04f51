// POST /v1/completions: prompts (text or token ids) -> the engine; the answer
// as text_completion, whole or streamed. Several prompts become several
// engine requests; choice i*n + j is prompt i's j-th choice.
#include <fmt/format.h>

#include "core/logging.h"
#include "server/endpoints.h"
#include "server/errors.h"
#include "tokenizer/tokenizer.h"

namespace sable::server {

HandlerResult handle_completions(ServerContext& ctx, const HttpRequest& req, const RequestInfo& info) {
  Json body = parse_json_body(req.body);
  CompletionRequest r = parse_completion_request(body, ctx.limits());
  check_model(ctx, r.model);
  check_accepting(ctx);

  ResponseMeta meta;
  meta.id = "cmpl-" + (r.request_id.empty() ? info.base_id : r.request_id);
  meta.created = unix_now();
  meta.model = ctx.model_name();
  meta.include_usage = r.stream_options.include_usage;
  meta.continuous_usage = r.stream_options.continuous_usage_stats;
  meta.logprobs = r.logprobs;
  meta.prompt_logprobs = r.prompt_logprobs;
  meta.echo_logprobs = r.echo && r.logprobs;
  meta.stop = r.params.stop;
  RequestInfo id_info = info;
  id_info.client_id = info.client_id || !r.request_id.empty();

  int max_model_len = ctx.engine->max_model_len();
  int64_t vocab = ctx.engine->vocab_size();
  std::vector<GenerateRequest> reqs;
  std::vector<std::string> echoes;
  size_t total_prompt_tokens = 0;
  for (size_t i = 0; i < r.prompts.size(); ++i) {
    PromptInput& p = r.prompts[i];
    std::string param = r.prompts.size() > 1 ? fmt::format("prompt[{}]", i) : "prompt";
    std::vector<int32_t> ids;
    if (p.text) {
      check_tokenizer(ctx, "a text prompt");
      ids = ctx.tokenizer->encode(*p.text, r.add_special_tokens);
      if (ids.empty()) throw_bad_request("The prompt is empty.", param);
      check_token_ids(ids, vocab, param);
    } else {
      ids = std::move(p.ids);  // validated against the vocabulary by the parser
    }
    if (r.truncate_prompt_tokens) {
      int64_t keep = *r.truncate_prompt_tokens > 0 ? *r.truncate_prompt_tokens : max_model_len - 1;
      if (int64_t(ids.size()) > keep) ids.erase(ids.begin(), ids.end() - keep);
    }
    GenerateRequest g;
    g.request_id = engine_request_id(meta.id, id_info, i, r.prompts.size());
    g.params = r.params;
    g.params.max_tokens = resolve_max_tokens(r, ids.size(), max_model_len, /*chat=*/false);
    g.priority = r.priority;
    if (r.echo) {
      if (p.text) echoes.push_back(*p.text);
      else if (ctx.tokenizer) echoes.push_back(ctx.tokenizer->decode(ids, r.params.skip_special_tokens));
      else echoes.emplace_back();
    }
    total_prompt_tokens += ids.size();
    g.prompt_ids = std::move(ids);
    reqs.push_back(std::move(g));
  }
  if (ctx.config.log_requests)
    LOG_INFO("{}: completion request: {} prompt(s), {} prompt tokens, max_tokens {}, n {}, stream {}", meta.id,
             reqs.size(), total_prompt_tokens, reqs.front().params.max_tokens, r.params.n, r.stream);

  bool stream = r.stream;
  int n = r.params.n;
  auto job = std::make_unique<GenerationJob>(
      ctx, make_completion_formatter(std::move(meta), TokenStrings(ctx.tokenizer, r.return_tokens_as_token_ids)),
      stream, n);
  Status st = job->submit(std::move(reqs), std::move(echoes));
  if (!st.is_ok()) throw ApiException(api_error_from_status(st));
  HandlerResult res;
  res.job = std::move(job);
  return res;
}

}  // namespace sable::server
