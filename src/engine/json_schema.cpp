#include "engine/json_schema.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "engine/json_schema_compiler.h"
#include "engine/regex_dfa.h"

namespace sable {

JsonSchema::JsonSchema() {
  static std::atomic<uint64_t> next_id{1};
  id_ = next_id.fetch_add(1, std::memory_order_relaxed);
  nodes_.push_back({.kind = Kind::kAny});                                     // kAnyNode
  nodes_.push_back({.kind = Kind::kObject, .child = kAnyNode});               // kAnyObjectNode
  nodes_.push_back({.kind = Kind::kArray, .child = kAnyNode});                // kAnyArrayNode
  lists_.push_back({.texts = {"false", "null", "true"}});                     // kKeywordList
  lists_.push_back({.texts = {"false", "true"}});                             // kBooleanList
  lists_.push_back({.texts = {"null"}});                                      // kNullList
}

std::shared_ptr<const JsonSchema> JsonSchema::any_object() {
  static const std::shared_ptr<const JsonSchema> schema = [] {
    std::shared_ptr<JsonSchema> s(new JsonSchema());
    s->root_ = kAnyObjectNode;
    return std::shared_ptr<const JsonSchema>(std::move(s));
  }();
  return schema;
}

Result<std::shared_ptr<const JsonSchema>> JsonSchema::choice(const std::vector<std::string>& texts) {
  if (texts.empty()) return invalid_argument("choice: the list of choices is empty");
  if (texts.size() > kMaxChoices)
    return invalid_argument("choice: " + std::to_string(texts.size()) + " choices; at most " +
                            std::to_string(kMaxChoices) + " are supported");
  TextList list;
  for (const std::string& t : texts) {
    if (t.empty()) return invalid_argument("choice: an empty choice (the output would be empty)");
    if (t.size() > kMaxChoiceBytes)
      return invalid_argument("choice: a choice of " + std::to_string(t.size()) + " bytes; at most " +
                              std::to_string(kMaxChoiceBytes) + " are supported");
    list.texts.push_back(t);
  }
  std::sort(list.texts.begin(), list.texts.end());
  list.texts.erase(std::unique(list.texts.begin(), list.texts.end()), list.texts.end());
  std::shared_ptr<JsonSchema> s(new JsonSchema());
  s->lists_.push_back(std::move(list));
  s->nodes_.push_back({.kind = Kind::kLiteral, .list = uint16_t(s->lists_.size() - 1)});
  s->root_ = uint16_t(s->nodes_.size() - 1);
  return std::shared_ptr<const JsonSchema>(std::move(s));
}

Result<std::shared_ptr<const JsonSchema>> JsonSchema::regex(std::string_view pattern) {
  auto dfa = RegexDfa::compile(pattern);
  if (!dfa.is_ok()) return dfa.status();
  std::shared_ptr<JsonSchema> s(new JsonSchema());
  s->regex_ = std::make_shared<const RegexDfa>(std::move(*dfa));
  s->nodes_.push_back({.kind = Kind::kRegex});
  s->root_ = uint16_t(s->nodes_.size() - 1);
  return std::shared_ptr<const JsonSchema>(std::move(s));
}

namespace {

template <typename J>
Result<std::shared_ptr<const JsonSchema>> compile_schema(std::shared_ptr<JsonSchema> out, const J& schema,
                                                         uint16_t* root) {
  json_schema_internal::JsonSchemaCompiler<J> compiler(*out, schema);
  SABLE_ASSIGN_OR_RETURN(*root, compiler.compile(schema, "$", 0));
  return std::shared_ptr<const JsonSchema>(std::move(out));
}

}  // namespace

Result<std::shared_ptr<const JsonSchema>> JsonSchema::compile(const nlohmann::ordered_json& schema) {
  std::shared_ptr<JsonSchema> out(new JsonSchema());
  JsonSchema* raw = out.get();
  return compile_schema(std::move(out), schema, &raw->root_);
}

Result<std::shared_ptr<const JsonSchema>> JsonSchema::compile(const nlohmann::json& schema) {
  std::shared_ptr<JsonSchema> out(new JsonSchema());
  JsonSchema* raw = out.get();
  return compile_schema(std::move(out), schema, &raw->root_);
}

}  // namespace sable
