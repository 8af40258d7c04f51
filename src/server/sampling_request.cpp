// The request fields shared by chat and completions: sampling parameters
// under their OpenAI/vLLM names, streaming options, and the vLLM extensions.
// Ranges follow vLLM's SamplingParams checks.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "engine/json_schema.h"
#include "server/errors.h"
#include "server/openai_protocol.h"

namespace sable::server {
namespace {

// Rejects a field that is set (not null, not false, not empty) but that this
// server does not implement: silently ignoring it would change the output.
void reject_if_set(const FieldReader& f, std::string_view key, std::string_view why) {
  const Json* v = f.get(key);
  if (!v) return;
  if (v->is_boolean() && !v->get<bool>()) return;
  if ((v->is_array() || v->is_object() || v->is_string()) && v->empty()) return;
  throw_bad_request(fmt::format("'{}' is not supported by this server: {}.", f.param(key), why), f.param(key));
}

std::vector<std::string> parse_stop(const FieldReader& f) {
  std::vector<std::string> out;
  const Json* v = f.get("stop");
  if (!v) return out;
  if (v->is_string()) {
    if (!v->get_ref<const std::string&>().empty()) out.push_back(v->get<std::string>());
    return out;
  }
  if (!v->is_array()) f.fail_type("stop", "a string or an array of strings", *v);
  if (v->size() > 256) throw_bad_request("'stop' may hold at most 256 strings.", "stop");
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& s = (*v)[i];
    if (!s.is_string())
      throw_bad_request(fmt::format("'stop[{}]' must be a string, got {}.", i, json_type_name(s)), "stop");
    if (!s.get_ref<const std::string&>().empty()) out.push_back(s.get<std::string>());
  }
  return out;
}

std::vector<int32_t> parse_token_id_list(const FieldReader& f, std::string_view key, int64_t vocab) {
  std::vector<int32_t> out;
  const Json* v = f.opt_array(key);
  if (!v) return out;
  for (size_t i = 0; i < v->size(); ++i) {
    auto id = json_as_int((*v)[i]);
    if (!id || *id < 0 || *id > INT32_MAX)
      throw_bad_request(fmt::format("'{}[{}]' must be a non-negative token id.", f.param(key), i), f.param(key));
    out.push_back(int32_t(*id));
  }
  check_token_ids(out, vocab, f.param(key));
  return out;
}

// vLLM's bad_words: a list of non-empty strings (the engine tokenizes them).
std::vector<std::string> parse_bad_words(const FieldReader& f) {
  constexpr size_t kMaxWords = 256, kMaxBytes = 1024;
  std::vector<std::string> out;
  const Json* v = f.opt_array("bad_words");
  if (!v) return out;
  if (v->size() > kMaxWords)
    throw_bad_request(fmt::format("bad_words has {} entries; at most {} are allowed.", v->size(), kMaxWords),
                      "bad_words");
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& w = (*v)[i];
    if (!w.is_string() || w.get<std::string>().find_first_not_of(" \t\n\r\f\v") == std::string::npos ||
        w.get<std::string>().size() > kMaxBytes)
      throw_bad_request(fmt::format("'bad_words[{}]' must be a non-blank string of at most {} bytes.", i, kMaxBytes),
                        "bad_words");
    out.push_back(w.get<std::string>());
  }
  return out;
}

std::map<int32_t, float> parse_logit_bias(const FieldReader& f, int64_t vocab) {
  std::map<int32_t, float> out;
  const Json* v = f.opt_object("logit_bias");
  if (!v) return out;
  for (auto it = v->begin(); it != v->end(); ++it) {
    const std::string& key = it.key();
    char* end = nullptr;
    errno = 0;
    long long id = std::strtoll(key.c_str(), &end, 10);
    if (key.empty() || *end != '\0' || errno != 0 || id < 0 || id > INT32_MAX)
      throw_bad_request(fmt::format("'logit_bias' keys must be token ids, got '{}'.", key), "logit_bias");
    if (vocab > 0 && id >= vocab)
      throw_bad_request(fmt::format("'logit_bias' token id {} is out of vocabulary (size {}).", id, vocab),
                        "logit_bias");
    if (!it.value().is_number() || !std::isfinite(it.value().get<double>()))
      throw_bad_request(fmt::format("'logit_bias[\"{}\"]' must be a number.", key), "logit_bias");
    // OpenAI's range; vLLM clamps to it too.
    double b = std::clamp(it.value().get<double>(), -100.0, 100.0);
    out[int32_t(id)] = float(b);
  }
  return out;
}

std::shared_ptr<const JsonSchema> compile_schema(const Json& schema, const std::string& param) {
  auto c = JsonSchema::compile(schema);
  if (!c.is_ok()) throw_bad_request(fmt::format("{}: {}", param, c.status().message()), param);
  return *c;
}

// A schema given as an object or as a JSON string (guided_json, structured_outputs.json).
std::shared_ptr<const JsonSchema> schema_field(const Json& v, const std::string& param) {
  Json schema = v;
  if (v.is_string()) {
    schema = Json::parse(v.get<std::string>(), nullptr, /*allow_exceptions=*/false);
    if (schema.is_discarded()) throw_bad_request(fmt::format("'{}' is a string but not valid JSON.", param), param);
  }
  return compile_schema(schema, param);
}

// guided_choice / structured_outputs.choice: a list of strings, the output exactly one.
std::shared_ptr<const JsonSchema> choice_field(const Json& v, const std::string& param) {
  if (!v.is_array()) throw_bad_request(fmt::format("'{}' must be a list of strings.", param), param);
  std::vector<std::string> texts;
  for (const Json& t : v) {
    if (!t.is_string()) throw_bad_request(fmt::format("'{}' must be a list of strings.", param), param);
    texts.push_back(t.get<std::string>());
  }
  auto c = JsonSchema::choice(texts);
  if (!c.is_ok()) throw_bad_request(fmt::format("{}: {}", param, c.status().message()), param);
  return *c;
}

// guided_regex / structured_outputs.regex: the whole output matches the pattern.
std::shared_ptr<const JsonSchema> regex_field(const Json& v, const std::string& param) {
  if (!v.is_string()) throw_bad_request(fmt::format("'{}' must be a string (a regular expression).", param), param);
  auto r = JsonSchema::regex(v.get<std::string>());
  if (!r.is_ok()) throw_bad_request(fmt::format("{}: {}", param, r.status().message()), param);
  return *r;
}

// vLLM's structured_outputs object (its newer name for the guided_* fields):
// "json" (a schema), "json_object": true, "choice" or "regex"; the other kinds are refused.
void parse_structured_outputs(const FieldReader& f, SamplingParams& p) {
  const Json* so = f.get("structured_outputs");
  if (!so || so->is_null()) return;
  if (!so->is_object())
    throw_bad_request("'structured_outputs' must be an object, e.g. {\"json\": {...schema...}}.", "structured_outputs");
  FieldReader sr(*so, "structured_outputs.");
  for (const char* k : {"grammar", "structural_tag"})
    reject_if_set(sr, k,
                  "of structured output, JSON, choices and regular expressions are available "
                  "(structured_outputs.json, json_object, choice or regex)");
  const Json* js = sr.get("json");
  const Json* choice = sr.get("choice");
  const Json* regex = sr.get("regex");
  const bool any_object = sr.opt_bool("json_object").value_or(false);
  if (int(js && !js->is_null()) + int(choice && !choice->is_null()) + int(regex && !regex->is_null()) +
          int(any_object) >
      1)
    throw_bad_request("Give one of 'structured_outputs.json', 'json_object', 'choice' and 'regex'.",
                      "structured_outputs");
  if (js && !js->is_null()) p.json_schema = schema_field(*js, "structured_outputs.json");
  if (choice && !choice->is_null()) p.json_schema = choice_field(*choice, "structured_outputs.choice");
  if (regex && !regex->is_null()) p.json_schema = regex_field(*regex, "structured_outputs.regex");
  if (any_object) p.json_schema = JsonSchema::any_object();
}

// Structured output, as vLLM: response_format {"type": "json_object"} (any
// JSON object) or {"type": "json_schema", "json_schema": {"schema": ...}},
// vLLM's guided_json (a schema, as an object or a JSON string) or
// guided_choice (a list of strings) or guided_regex (a pattern), or its structured_outputs {"json" |
// "json_object" | "choice" | "regex": ...}; one of them.
void parse_structured_output(const FieldReader& f, SamplingParams& p) {
  parse_structured_outputs(f, p);
  if (const Json* gj = f.get("guided_json"); gj && !gj->is_null()) {
    if (p.json_schema) throw_bad_request("Give either 'structured_outputs' or 'guided_json', not both.", "guided_json");
    p.json_schema = schema_field(*gj, "guided_json");
  }
  if (const Json* gc = f.get("guided_choice"); gc && !gc->is_null()) {
    if (p.json_schema)
      throw_bad_request("Give one of 'guided_choice', 'guided_json', 'guided_regex' and 'structured_outputs'.",
                        "guided_choice");
    p.json_schema = choice_field(*gc, "guided_choice");
  }
  if (const Json* gr = f.get("guided_regex"); gr && !gr->is_null()) {
    if (p.json_schema)
      throw_bad_request("Give one of 'guided_regex', 'guided_json', 'guided_choice' and 'structured_outputs'.",
                        "guided_regex");
    p.json_schema = regex_field(*gr, "guided_regex");
  }
  const Json* rf = f.opt_object("response_format");
  if (!rf) return;
  FieldReader rr(*rf, "response_format.");
  const auto type = rr.opt_string("type").value_or("text");
  if (type == "text") return;
  if (p.json_schema)
    throw_bad_request(
        "Give one of 'response_format', 'guided_json', 'guided_choice', 'guided_regex' and 'structured_outputs'.",
        "response_format");
  if (type == "json_object") {
    p.json_schema = JsonSchema::any_object();
  } else if (type == "json_schema") {
    const Json* js = rr.opt_object("json_schema");
    const Json* schema = js && js->contains("schema") ? &(*js)["schema"] : nullptr;
    if (!schema || !(schema->is_object() || schema->is_boolean()))
      throw_bad_request("response_format of type 'json_schema' needs 'json_schema': {'name': ..., 'schema': {...}}.",
                        "response_format.json_schema");
    p.json_schema = compile_schema(*schema, "response_format.json_schema.schema");
  } else {
    throw_bad_request(fmt::format("response_format type '{}' is not supported; use 'text', 'json_object' or "
                                  "'json_schema'.", type),
                      "response_format.type");
  }
}

}  // namespace

void check_token_ids(const std::vector<int32_t>& ids, int64_t vocab_size, const std::string& param) {
  if (vocab_size <= 0) return;
  for (int32_t id : ids)
    if (id < 0 || id >= vocab_size)
      throw_bad_request(fmt::format("Token id {} is out of vocabulary (the model's vocabulary has {} tokens).",
                                    id, vocab_size),
                        param);
}

void parse_common_fields(const FieldReader& f, const ProtocolLimits& limits, CommonRequest& out) {
  SamplingParams& p = out.params;
  if (auto m = f.opt_string("model")) out.model = *m;

  out.stream = f.opt_bool("stream").value_or(false);
  if (const Json* so = f.opt_object("stream_options")) {
    if (!out.stream)
      throw_bad_request("Stream options can only be defined when `stream=True`.", "stream_options");
    FieldReader sf(*so, "stream_options.");
    out.stream_options.include_usage = sf.opt_bool("include_usage").value_or(false);
    out.stream_options.continuous_usage_stats = sf.opt_bool("continuous_usage_stats").value_or(false);
  }
  // vLLM's should_include_usage: usage on every chunk needs usage at all.
  if (out.stream) {
    StreamOptions& so = out.stream_options;
    so.include_usage = so.include_usage || limits.force_include_usage;
    so.continuous_usage_stats = so.include_usage && so.continuous_usage_stats;
  }

  if (auto n = f.opt_int("n")) {
    if (*n < 1 || *n > limits.max_n)
      throw_bad_request(fmt::format("n must be between 1 and {}, got {}.", limits.max_n, *n), f.param("n"));
    p.n = int(*n);
  }
  if (auto b = f.opt_int("best_of"); b && *b != p.n)
    throw_bad_request("best_of is not supported: it must be absent or equal to n.", "best_of");
  // The model's generation config first (vLLM's --generation-config auto); the request's fields override it.
  const SamplingDefaults& d = limits.defaults;
  if (d.temperature) p.temperature = *d.temperature;
  if (d.top_p) p.top_p = *d.top_p;
  if (d.top_k) p.top_k = *d.top_k;
  if (d.min_p) p.min_p = *d.min_p;
  if (d.repetition_penalty) p.repetition_penalty = *d.repetition_penalty;
  out.default_max_tokens = d.max_tokens;
  if (auto t = f.opt_number("temperature")) {
    if (*t < 0) throw_bad_request(fmt::format("temperature must be non-negative, got {}.", *t), "temperature");
    p.temperature = float(*t);
  }
  if (auto t = f.opt_number("top_p")) {
    if (*t <= 0 || *t > 1) throw_bad_request(fmt::format("top_p must be in (0, 1], got {}.", *t), "top_p");
    p.top_p = float(*t);
  }
  if (auto k = f.opt_int("top_k")) {
    if (*k < -1 || *k > INT32_MAX)
      throw_bad_request(fmt::format("top_k must be 0 or -1 (disable), or at least 1, got {}.", *k), "top_k");
    p.top_k = int(*k);
  }
  if (auto m = f.opt_number("min_p")) {
    if (*m < 0 || *m > 1) throw_bad_request(fmt::format("min_p must be in [0, 1], got {}.", *m), "min_p");
    p.min_p = float(*m);
  }
  if (auto v = f.opt_number_in("presence_penalty", -2.0, 2.0)) p.presence_penalty = float(*v);
  if (auto v = f.opt_number_in("frequency_penalty", -2.0, 2.0)) p.frequency_penalty = float(*v);
  if (auto v = f.opt_number("repetition_penalty")) {
    if (*v <= 0 || *v > 1e6)
      throw_bad_request(fmt::format("repetition_penalty must be greater than zero, got {}.", *v), "repetition_penalty");
    p.repetition_penalty = float(*v);
  }
  if (auto s = f.opt_int("seed")) p.seed = uint64_t(*s);  // negative seeds wrap, as any 64-bit seed
  p.stop = parse_stop(f);
  p.stop_token_ids = parse_token_id_list(f, "stop_token_ids", limits.vocab_size);
  p.logit_bias = parse_logit_bias(f, limits.vocab_size);
  p.include_stop_str_in_output = f.opt_bool("include_stop_str_in_output").value_or(false);
  p.ignore_eos = f.opt_bool("ignore_eos").value_or(false);
  p.skip_special_tokens = f.opt_bool("skip_special_tokens").value_or(true);
  (void)f.opt_bool("spaces_between_special_tokens");  // type-checked; byte-level BPE needs no spaces
  if (auto m = f.opt_int("min_tokens")) {
    if (*m < 0 || *m > INT32_MAX)
      throw_bad_request(fmt::format("min_tokens must be non-negative, got {}.", *m), "min_tokens");
    p.min_tokens = int(*m);
  }
  if (auto t = f.opt_int("truncate_prompt_tokens")) {
    if (*t < -1 || *t == 0)
      throw_bad_request(fmt::format("truncate_prompt_tokens must be -1 or at least 1, got {}.", *t),
                        "truncate_prompt_tokens");
    out.truncate_prompt_tokens = *t;
  }
  out.echo = f.opt_bool("echo").value_or(false);
  if (auto pr = f.opt_int("priority")) {
    if (*pr < INT32_MIN || *pr > INT32_MAX) throw_bad_request("priority is out of range.", "priority");
    // vLLM's answer, which clients recognise (some drop the field and retry).
    if (*pr != 0 && !limits.priority_scheduling)
      throw_bad_request(fmt::format("Got priority {} but Priority scheduling is not enabled (start the server with "
                                    "--scheduling-policy priority).",
                                    *pr),
                        "priority");
    out.priority = int(*pr);
  }
  if (auto id = f.opt_string("request_id")) out.request_id = *id;
  out.return_tokens_as_token_ids = f.opt_bool("return_tokens_as_token_ids").value_or(limits.return_tokens_as_token_ids);
  (void)f.opt_string("user");

  if (f.opt_bool("use_beam_search").value_or(false))
    throw_bad_request("Beam search is not supported by this server.", "use_beam_search");
  // vLLM's -1 (the whole vocabulary) is out of this range too.
  if (auto v = f.opt_int_in("prompt_logprobs", 0, limits.max_logprobs)) {
    out.prompt_logprobs = int(*v);
    p.prompt_logprobs = int(*v);
  }
  if (f.get("allowed_token_ids")) {
    p.allowed_token_ids = parse_token_id_list(f, "allowed_token_ids", limits.vocab_size);
    if (p.allowed_token_ids.empty())
      throw_bad_request("allowed_token_ids must name at least one token.", "allowed_token_ids");
    std::sort(p.allowed_token_ids.begin(), p.allowed_token_ids.end());
    p.allowed_token_ids.erase(std::unique(p.allowed_token_ids.begin(), p.allowed_token_ids.end()),
                              p.allowed_token_ids.end());
  }
  p.bad_words = parse_bad_words(f);
  reject_if_set(f, "logits_processors", "custom logits processors are not available");
  reject_if_set(f, "guided_grammar",
                "of structured output, JSON, choices and regular expressions are available (response_format "
                "json_object or json_schema, guided_json, guided_choice, guided_regex, or structured_outputs json / "
                "choice / regex)");
  parse_structured_output(f, p);
}

int resolve_max_tokens(const CommonRequest& r, size_t prompt_len, int max_model_len, bool chat) {
  const char* where = chat ? "in the messages" : "in your prompt";
  const char* what = chat ? "messages" : "prompt";
  if (r.max_tokens && *r.max_tokens < 1)
    throw_bad_request(fmt::format("max_tokens must be at least 1, got {}.", *r.max_tokens), "max_tokens");
  if (!r.max_tokens) {
    if (int64_t(prompt_len) >= max_model_len)
      throw ApiException(ApiError::bad_request(
          fmt::format("This model's maximum context length is {} tokens. However, your request has {} input "
                      "tokens ({} over the limit, and at least one token must be left for the completion). "
                      "Please reduce the length of the {}.",
                      max_model_len, prompt_len, int64_t(prompt_len) - max_model_len + 1, what),
          chat ? "messages" : "prompt", "context_length_exceeded"));
    const int64_t rest = max_model_len - int64_t(prompt_len);
    return int(r.default_max_tokens ? std::min(rest, *r.default_max_tokens) : rest);
  }
  int64_t total = int64_t(prompt_len) + *r.max_tokens;
  if (total > max_model_len)
    throw ApiException(ApiError::bad_request(
        fmt::format("This model's maximum context length is {} tokens. However, you requested {} tokens ({} {}, "
                    "{} for the completion), {} over the limit. Please reduce the length of the {} or completion.",
                    max_model_len, total, prompt_len, where, *r.max_tokens, total - max_model_len, what),
        *r.max_tokens > max_model_len ? "max_tokens" : (chat ? "messages" : "prompt"), "context_length_exceeded"));
  if (r.params.min_tokens > *r.max_tokens)
    throw_bad_request(fmt::format("min_tokens ({}) must be less than or equal to max_tokens ({}).",
                                  r.params.min_tokens, *r.max_tokens),
                      "min_tokens");
  return int(*r.max_tokens);
}

}  // namespace sable::server
