// POST /tokenize and POST /detokenize, as vLLM serves them: a prompt or chat
// messages to token ids, and token ids back to text.
#include <fmt/format.h>

#include "server/chat_prompt.h"
#include "server/endpoints.h"
#include "server/errors.h"
#include "server/sse.h"
#include "tokenizer/tokenizer.h"

namespace sable::server {

HandlerResult handle_tokenize(ServerContext& ctx, const HttpRequest& req, const RequestInfo& info) {
  Json body = parse_json_body(req.body);
  FieldReader f(body);
  if (auto m = f.opt_string("model")) check_model(ctx, *m);
  check_tokenizer(ctx, "tokenization");
  const Tokenizer& tok = *ctx.tokenizer;
  std::vector<int32_t> ids;
  if (f.has("messages")) {
    // The chat form: render the template as /v1/chat/completions would.
    ChatRequest cr = parse_chat_request(body, ctx.limits());
    ids = tok.encode(render_chat_prompt(ctx, cr, info.base_id), cr.add_special_tokens);
  } else {
    auto prompt = f.opt_string("prompt");
    if (!prompt) throw_bad_request("Either 'prompt' (a string) or 'messages' is required.", "prompt");
    ids = tok.encode(*prompt, f.opt_bool("add_special_tokens").value_or(true));
  }
  OJson out;
  out["count"] = ids.size();
  out["max_model_len"] = ctx.engine->max_model_len();
  out["tokens"] = ids;
  if (f.opt_bool("return_token_strs").value_or(false)) {
    OJson strs = OJson::array();
    for (int32_t id : ids) strs.push_back(tok.id_to_token(id).value_or(""));
    out["token_strs"] = std::move(strs);
  } else {
    out["token_strs"] = nullptr;
  }
  HandlerResult r;
  r.response = HttpResponse::json(200, dump_json(out));
  return r;
}

HandlerResult handle_detokenize(ServerContext& ctx, const HttpRequest& req, const RequestInfo&) {
  Json body = parse_json_body(req.body);
  FieldReader f(body);
  if (auto m = f.opt_string("model")) check_model(ctx, *m);
  check_tokenizer(ctx, "detokenization");
  const Json* tokens = f.opt_array("tokens");
  if (!tokens) throw_bad_request("'tokens' is required.", "tokens");
  std::vector<int32_t> ids;
  for (size_t i = 0; i < tokens->size(); ++i) {
    auto v = json_as_int((*tokens)[i]);
    if (!(*tokens)[i].is_number() || !v || *v < 0 || *v > INT32_MAX)
      throw_bad_request(fmt::format("'tokens[{}]' must be a non-negative token id.", i), "tokens");
    ids.push_back(int32_t(*v));
  }
  // The tokenizer's vocabulary, not the model's: detokenize is a tokenizer call.
  check_token_ids(ids, ctx.tokenizer->vocab_size(), "tokens");
  OJson out;
  out["prompt"] = ctx.tokenizer->decode(ids, /*skip_special_tokens=*/false);
  HandlerResult r;
  r.response = HttpResponse::json(200, dump_json(out));
  return r;
}

}  // namespace sable::server
