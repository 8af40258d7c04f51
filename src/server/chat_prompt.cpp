#include "server/chat_prompt.h"

#include "core/logging.h"
#include "server/errors.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace sable::server {
namespace {

// A request's template runs on an HTTP thread for one prompt: tighter bounds
// than the server's own (jinja::Limits defaults), still far above what a chat
// template needs (tens of steps per message). The interpreter takes ~1 us per
// step on the CI machine: 500,000 steps bound a hostile template to ~0.5 s.
jinja::Limits request_template_limits() {
  jinja::Limits l;
  l.max_steps = 500'000;
  l.max_output = 8u << 20;
  l.max_items = 1u << 18;
  return l;
}

}  // namespace

std::string render_chat_prompt(const ServerContext& ctx, const ChatRequest& r, const std::string& log_id) {
  const Tokenizer& tok = *ctx.tokenizer;
  Result<std::string> rendered = std::string();
  const bool own = r.chat_template.has_value();
  if (own) {
    if (!ctx.config.trust_request_chat_template)
      throw_bad_request(
          "Chat template is passed with request, but --trust-request-chat-template is not set. Refused request "
          "with untrusted chat template.",
          "chat_template");
    const ChatTemplate tmpl(*r.chat_template, request_template_limits());
    rendered = tok.apply_chat_template(tmpl, r.messages, r.add_generation_prompt, r.template_vars);
  } else {
    if (!tok.has_chat_template())
      throw_bad_request(
          "The model has no chat template; start the server with --chat-template FILE, or use "
          "/v1/completions.");
    rendered = tok.apply_chat_template(r.messages, r.add_generation_prompt, r.template_vars);
  }
  if (!rendered.is_ok()) {
    // A template's raise_exception (e.g. roles that do not alternate) and any
    // failure of the request's own template are the client's mistake; the
    // server's template failing to run is ours.
    ApiError e = api_error_from_status(rendered.status());
    if (own) throw ApiException(ApiError::bad_request("Request chat template: " + e.message, "chat_template"));
    e.message = "Chat template: " + e.message;
    if (e.status >= 500) LOG_ERROR("{}: chat template failed: {}", log_id, rendered.status().message());
    throw ApiException(e);
  }
  return std::move(rendered).value();
}

}  // namespace sable::server
