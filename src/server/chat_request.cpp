// /v1/chat/completions request body: the messages (normalized for the chat
// template), template variables, and chat's logprobs form.
#include <fmt/format.h>

#include "engine/json_schema.h"
#include "server/errors.h"
#include "server/openai_protocol.h"
#include "server/required_tool_calls.h"

namespace sable::server {
namespace {

bool known_role(const std::string& r) {
  return r == "system" || r == "user" || r == "assistant" || r == "tool" || r == "developer";
}

// content: a string, null (assistant with tool calls), or a list of parts of
// which only text is supported; parts are joined with "\n" as vLLM does for
// templates that take a string.
Json normalize_content(const Json& msg, const std::string& role, const std::string& prefix) {
  auto it = msg.find("content");
  bool absent = it == msg.end() || it->is_null();
  if (absent) {
    if (role == "assistant") return nullptr;
    throw_bad_request(fmt::format("'{}content' is required for a '{}' message.", prefix, role), prefix + "content");
  }
  const Json& c = *it;
  if (c.is_string()) return c;
  if (!c.is_array())
    throw_bad_request(fmt::format("'{}content' must be a string or an array of content parts, got {}.", prefix,
                                  json_type_name(c)),
                      prefix + "content");
  std::string text;
  for (size_t j = 0; j < c.size(); ++j) {
    const Json& part = c[j];
    std::string pp = fmt::format("{}content[{}]", prefix, j);
    if (!part.is_object()) throw_bad_request(fmt::format("'{}' must be an object.", pp), pp);
    FieldReader pf(part, pp + ".");
    auto type = pf.opt_string("type");
    if (!type) throw_bad_request(fmt::format("'{}.type' is required.", pp), pp + ".type");
    if (*type != "text" && *type != "input_text")
      throw_bad_request(fmt::format("Content part type '{}' is not supported: this model takes text only.", *type),
                        pp + ".type");
    auto t = pf.opt_string("text");
    if (!t) throw_bad_request(fmt::format("'{}.text' is required.", pp), pp + ".text");
    if (j > 0) text += "\n";
    text += *t;
  }
  return text;
}

Json normalize_message(const Json& m, size_t i) {
  std::string prefix = fmt::format("messages[{}].", i);
  if (!m.is_object())
    throw_bad_request(fmt::format("'messages[{}]' must be an object, got {}.", i, json_type_name(m)),
                      fmt::format("messages[{}]", i));
  FieldReader f(m, prefix);
  auto role = f.opt_string("role");
  if (!role) throw_bad_request(fmt::format("'{}role' is required.", prefix), prefix + "role");
  if (!known_role(*role))
    throw_bad_request(fmt::format("'{}role' must be one of 'system', 'developer', 'user', 'assistant', 'tool', "
                                  "got '{}'.", prefix, *role),
                      prefix + "role");
  (void)f.opt_string("name");
  Json out = m;  // other keys (tool_calls, tool_call_id, ...) go to the template as given
  // OpenAI's "developer" is the system prompt for models that predate it.
  out["role"] = *role == "developer" ? "system" : *role;
  out["content"] = normalize_content(m, *role, prefix);
  if (const Json* tc = f.opt_array("tool_calls")) {
    for (size_t k = 0; k < tc->size(); ++k)
      if (!(*tc)[k].is_object())
        throw_bad_request(fmt::format("'{}tool_calls[{}]' must be an object.", prefix, k), prefix + "tool_calls");
  }
  if (*role == "tool") (void)f.opt_string("tool_call_id");
  return out;
}

// tool_choice {"type": "function", "function": {"name": N}}: the output is
// constrained to N's parameters schema and returned as N's call (vLLM).
void parse_named_tool_choice(const Json& tc, ChatRequest& r) {
  const Json* fn = tc.contains("function") && tc["function"].is_object() ? &tc["function"] : nullptr;
  if (tc.value("type", "") != "function" || !fn || !fn->contains("name") || !(*fn)["name"].is_string())
    throw_bad_request("tool_choice must be 'none', 'auto' or {'type': 'function', 'function': {'name': ...}}.",
                      "tool_choice");
  const std::string name = (*fn)["name"].get<std::string>();
  const Json* tool = nullptr;
  if (r.template_vars.contains("tools"))
    for (const Json& t : r.template_vars["tools"])
      if (t.contains("function") && t["function"].is_object() && t["function"].value("name", "") == name) tool = &t;
  if (!tool) throw_bad_request(fmt::format("tool_choice names function '{}', which is not in 'tools'.", name), "tool_choice");
  if (r.params.json_schema)
    throw_bad_request("A named tool_choice already constrains the output; drop 'response_format' / 'guided_json'.",
                      "tool_choice");
  const Json& fdef = (*tool)["function"];
  auto schema = JsonSchema::compile(tool_parameters_schema(fdef));
  if (!schema.is_ok())
    throw_bad_request(fmt::format("tool_choice: the parameters of '{}': {}", name, schema.status().message()),
                      "tool_choice");
  r.params.json_schema = *schema;
  r.tool_choice = "function";
  r.forced_tool = name;
}

}  // namespace

ChatRequest parse_chat_request(const Json& body, const ProtocolLimits& limits) {
  ChatRequest r;
  r.add_special_tokens = false;  // the template writes BOS itself
  FieldReader f(body);
  const Json* msgs = f.get("messages");
  if (!msgs) throw_bad_request("'messages' is required.", "messages");
  if (!msgs->is_array()) f.fail_type("messages", "an array", *msgs);
  if (msgs->empty()) throw_bad_request("'messages' must contain at least one message.", "messages");
  for (size_t i = 0; i < msgs->size(); ++i) r.messages.push_back(normalize_message((*msgs)[i], i));

  parse_common_fields(f, limits, r);
  // max_completion_tokens replaces the deprecated max_tokens.
  if (auto m = f.opt_int("max_completion_tokens")) r.max_tokens = *m;
  else if (auto m2 = f.opt_int("max_tokens")) r.max_tokens = *m2;
  r.add_special_tokens = f.opt_bool("add_special_tokens").value_or(false);

  r.logprobs = f.opt_bool("logprobs").value_or(false);
  if (auto t = f.opt_int("top_logprobs")) {
    if (*t < 0 || *t > limits.max_logprobs)
      throw_bad_request(fmt::format("top_logprobs must be between 0 and {}, got {}.", limits.max_logprobs, *t),
                        "top_logprobs");
    if (!r.logprobs && *t > 0)
      throw_bad_request("When using `top_logprobs`, `logprobs` must be set to true.", "top_logprobs");
    r.top_logprobs = int(*t);
  }
  if (r.logprobs) r.params.logprobs = r.top_logprobs;

  r.add_generation_prompt = f.opt_bool("add_generation_prompt").value_or(true);
  r.continue_final_message = f.opt_bool("continue_final_message").value_or(false);
  if (r.add_generation_prompt && r.continue_final_message && f.has("add_generation_prompt"))
    throw_bad_request("Cannot set both `continue_final_message` and `add_generation_prompt` to true.",
                      "continue_final_message");
  if (r.continue_final_message) {
    r.add_generation_prompt = false;
    if (r.messages.back()["role"] != "assistant")
      throw_bad_request("`continue_final_message` needs the last message to be from the assistant.",
                        "continue_final_message");
  }

  if (const Json* tools = f.opt_array("tools")) {
    for (size_t i = 0; i < tools->size(); ++i)
      if (!(*tools)[i].is_object())
        throw_bad_request(fmt::format("'tools[{}]' must be an object.", i), "tools");
    if (!tools->empty()) r.template_vars["tools"] = *tools;
  }
  r.tool_choice = r.template_vars.contains("tools") ? "auto" : "none";
  if (const Json* tc = f.get("tool_choice"); tc && !tc->is_null()) {
    if (tc->is_object()) {
      parse_named_tool_choice(*tc, r);
    } else if (tc->is_string() && *tc == "required") {
      // As vLLM: the output is a list of calls of the tools (at least one),
      // each its name and its own parameters (required_tool_calls.h).
      const Json* tools = r.template_vars.contains("tools") ? &r.template_vars["tools"] : nullptr;
      if (!tools) throw_bad_request("tool_choice 'required' needs 'tools'.", "tool_choice");
      if (r.params.json_schema)
        throw_bad_request(
            "tool_choice 'required' already constrains the output; drop 'response_format' / "
            "'guided_json'.",
            "tool_choice");
      auto schema = JsonSchema::compile(required_tool_calls_schema(*tools));
      if (!schema.is_ok())
        throw_bad_request("tool_choice 'required': " + schema.status().message() +
                              " (the tools' names and parameters become one schema; name a function, or use "
                              "'auto', when they cannot)",
                          "tool_choice");
      r.params.json_schema = *schema;
      r.tool_choice = "required";
    } else {
      if (!(tc->is_string() && (*tc == "none" || *tc == "auto")))
        throw_bad_request("tool_choice must be 'none', 'auto', 'required' or {'type': 'function', 'function': "
                          "{'name': ...}}.",
                          "tool_choice");
      r.tool_choice = tc->get<std::string>();
    }
  }
  if (const Json* docs = f.opt_array("documents")) r.template_vars["documents"] = *docs;
  if (const Json* kw = f.opt_object("chat_template_kwargs"))
    for (auto it = kw->begin(); it != kw->end(); ++it) {
      if (it.key() != "chat_template") {
        r.template_vars[it.key()] = it.value();
      } else if (!it.value().is_null()) {
        if (!it.value().is_string())
          throw_bad_request("chat_template_kwargs.chat_template must be a string.", "chat_template_kwargs");
        r.chat_template = it.value().get<std::string>();
      }
    }
  if (auto t = f.opt_string("chat_template")) r.chat_template = std::move(*t);
  return r;
}

}  // namespace sable::server
