// /v1/completions request body: the prompt in its four forms (a string, a
// list of strings, token ids, a list of token-id lists) and completions'
// integer logprobs.
#include <fmt/format.h>

#include "server/errors.h"
#include "server/openai_protocol.h"

namespace sable::server {
namespace {

std::vector<int32_t> parse_ids(const Json& arr, const std::string& param, int64_t vocab) {
  std::vector<int32_t> ids;
  ids.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    auto v = json_as_int(arr[i]);
    if (!arr[i].is_number() || !v || *v < 0 || *v > INT32_MAX)
      throw_bad_request(fmt::format("'{}[{}]' must be a non-negative token id.", param, i), param);
    ids.push_back(int32_t(*v));
  }
  if (ids.empty()) throw_bad_request(fmt::format("'{}' is empty; a prompt needs at least one token.", param), param);
  check_token_ids(ids, vocab, param);
  return ids;
}

std::vector<PromptInput> parse_prompts(const Json* p, const ProtocolLimits& limits) {
  std::vector<PromptInput> out;
  if (!p) throw_bad_request("'prompt' is required.", "prompt");
  if (p->is_string()) {
    out.push_back({p->get<std::string>(), {}});
    return out;
  }
  if (!p->is_array())
    throw_bad_request(fmt::format("'prompt' must be a string, an array of strings, an array of token ids or an "
                                  "array of token-id arrays, got {}.", json_type_name(*p)),
                      "prompt");
  if (p->empty()) throw_bad_request("'prompt' must not be empty.", "prompt");
  const Json& first = (*p)[0];
  if (first.is_number()) {
    out.push_back({std::nullopt, parse_ids(*p, "prompt", limits.vocab_size)});
    return out;
  }
  if (p->size() > size_t(limits.max_prompts))
    throw_bad_request(fmt::format("At most {} prompts may be sent in one request, got {}.", limits.max_prompts,
                                  p->size()),
                      "prompt");
  bool strings = first.is_string();
  for (size_t i = 0; i < p->size(); ++i) {
    const Json& e = (*p)[i];
    std::string param = fmt::format("prompt[{}]", i);
    if (strings && e.is_string()) {
      out.push_back({e.get<std::string>(), {}});
    } else if (!strings && e.is_array()) {
      out.push_back({std::nullopt, parse_ids(e, param, limits.vocab_size)});
    } else {
      throw_bad_request(fmt::format("'{}' must be {} like the first prompt, got {}.", param,
                                    strings ? "a string" : "an array of token ids", json_type_name(e)),
                        "prompt");
    }
  }
  return out;
}

}  // namespace

CompletionRequest parse_completion_request(const Json& body, const ProtocolLimits& limits) {
  CompletionRequest r;
  FieldReader f(body);
  r.prompts = parse_prompts(f.get("prompt"), limits);
  parse_common_fields(f, limits, r);
  r.add_special_tokens = f.opt_bool("add_special_tokens").value_or(true);
  // OpenAI's default for completions is 16 tokens; an explicit null means
  // "the rest of the context", as in vLLM.
  auto it = body.find("max_tokens");
  if (it == body.end()) r.max_tokens = 16;
  else if (auto m = f.opt_int("max_tokens")) r.max_tokens = *m;

  if (const Json* lp = f.get("logprobs")) {
    // A boolean here is a chat-style mistake; say so rather than coerce.
    if (lp->is_boolean())
      throw_bad_request("'logprobs' for completions is an integer (the number of top logprobs), not a boolean.",
                        "logprobs");
    auto v = f.opt_int("logprobs");
    if (*v < 0 || *v > limits.max_logprobs)
      throw_bad_request(fmt::format("logprobs must be between 0 and {}, got {}.", limits.max_logprobs, *v),
                        "logprobs");
    r.logprobs = int(*v);
    r.params.logprobs = int(*v);
  }
  if (auto s = f.opt_string("suffix"); s && !s->empty())
    throw_bad_request("'suffix' is not supported by this server.", "suffix");
  // echo with logprobs: the prompt's tokens lead the logprobs (the first
  // with none), as lm-evaluation-harness reads them for loglikelihoods.
  if (r.echo && r.logprobs) r.params.prompt_logprobs = std::max(r.params.prompt_logprobs.value_or(0), *r.logprobs);
  return r;
}

}  // namespace sable::server
