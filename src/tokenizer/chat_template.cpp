#include "tokenizer/chat_template.h"

#include "tokenizer/jinja/parser.h"

namespace sable {
namespace {

Status template_error(const jinja::TemplateError& e) {
  if (e.line() < 0)  // raised while converting the request's messages or variables, before the template ran
    return invalid_argument(std::string("chat template input: ") + e.what());
  return invalid_argument("chat template error at line " + std::to_string(e.line()) + ", column " +
                          std::to_string(e.col()) + ": " + e.what());
}

}  // namespace

ChatTemplate::ChatTemplate(std::string source, jinja::Limits limits)
    : source_(std::move(source)), limits_(limits) {
  try {
    tmpl_ = jinja::parse_template(source_);
  } catch (const jinja::TemplateError& e) {
    parse_error_ = template_error(e);
  }
}

ChatTemplate::~ChatTemplate() = default;

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                         const nlohmann::ordered_json& extra_vars,
                                         const nlohmann::ordered_json& special_tokens) const {
  if (!parse_error_.is_ok()) return parse_error_;
  try {
    std::vector<std::pair<std::string, jinja::Value>> vars;
    if (special_tokens.is_object())
      for (auto it = special_tokens.begin(); it != special_tokens.end(); ++it)
        vars.emplace_back(it.key(), jinja::Value::from_json(it.value()));
    vars.emplace_back("messages", jinja::Value::from_json(messages));
    vars.emplace_back("tools", jinja::Value::none());
    vars.emplace_back("documents", jinja::Value::none());
    vars.emplace_back("add_generation_prompt", jinja::Value::boolean(add_generation_prompt));
    if (extra_vars.is_object())
      for (auto it = extra_vars.begin(); it != extra_vars.end(); ++it)
        vars.emplace_back(it.key(), jinja::Value::from_json(it.value()));
    jinja::Interpreter in(*tmpl_, limits_);
    return in.render(vars);
  } catch (const jinja::TemplateError& e) {
    return template_error(e);
  }
}

}  // namespace sable
