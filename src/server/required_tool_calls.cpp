#include "server/required_tool_calls.h"

#include <fmt/format.h>

#include <set>

#include "server/errors.h"
#include "server/random_id.h"

namespace sable::server {

Json tool_parameters_schema(const Json& function) {
  return function.contains("parameters") && !function["parameters"].is_null()
             ? function["parameters"]
             : Json{{"type", "object"}, {"properties", Json::object()}};
}

Json required_tool_calls_schema(const Json& tools) {
  Json alternatives = Json::array();
  std::set<std::string> names;
  for (size_t i = 0; i < tools.size(); ++i) {
    const Json& t = tools[i];
    if (!t.contains("function") || !t["function"].is_object() || !t["function"].contains("name") ||
        !t["function"]["name"].is_string())
      throw_bad_request(fmt::format("tool_choice 'required': tools[{}] has no function name.", i), "tool_choice");
    const Json& fn = t["function"];
    const std::string name = fn["name"].get<std::string>();
    if (!names.insert(name).second)
      throw_bad_request(fmt::format("tool_choice 'required': two tools are named '{}'.", name), "tool_choice");
    const Json params = tool_parameters_schema(fn);
    // The name first: it tells the alternatives apart before the parameters,
    // whose schemas differ (json_object_union.h).
    alternatives.push_back({{"properties", {{"name", {{"type", "string"}, {"enum", {name}}}}, {"parameters", params}}},
                            {"required", {"name", "parameters"}}});
  }
  return {{"type", "array"}, {"minItems", 1}, {"items", {{"type", "object"}, {"anyOf", std::move(alternatives)}}}};
}

namespace {

// A byte scanner over the list: JSON nesting and strings, the keys of each
// call object (depth 2), the name's text and the parameters' value text.
// The schema fixes the shape (name before parameters, compact separators);
// the scanner only relies on the nesting.
class RequiredCallsParser final : public ToolCallParser {
 public:
  void feed(std::string_view text, std::string&, std::vector<ToolCallDelta>& calls) override {
    for (char c : text) step(c, calls);
    flush(calls);
  }
  void finish(std::string&, std::vector<ToolCallDelta>& calls) override { flush(calls); }
  int num_calls() const override { return calls_; }

 private:
  enum class Field { kNone, kName, kParams, kOther };

  void step(char c, std::vector<ToolCallDelta>& calls) {
    const bool in_params = field_ == Field::kParams && (depth_ > 2 || value_started_);
    if (in_str_) {
      if (esc_) {
        esc_ = false;
      } else if (c == '\\') {
        esc_ = true;
      } else if (c == '"') {
        in_str_ = false;
        if (depth_ == 2 && reading_key_) {
          reading_key_ = false;
          return;
        }
        if (depth_ == 2 && field_ == Field::kName) {
          name_done(calls);
          return;
        }
      }
      if (reading_key_)
        key_ += c;
      else if (depth_ == 2 && field_ == Field::kName)
        name_ += c;
      if (in_params) args_ += c;
      if (depth_ == 2 && field_ == Field::kParams && !in_str_) end_params(calls);  // a string value ended
      return;
    }
    switch (c) {
      case '"':
        in_str_ = true;
        if (depth_ == 2 && expect_key_) {
          reading_key_ = true;
          expect_key_ = false;
          key_.clear();
          return;
        }
        if (depth_ == 2 && field_ == Field::kParams) value_started_ = true;
        break;
      case '{':
      case '[':
        if (depth_ == 2 && field_ == Field::kParams) value_started_ = true;
        ++depth_;
        if (depth_ == 2) {  // a call object opens
          name_.clear();
          args_.clear();  // the last call's, if it never had a name
          named_ = false;
          field_ = Field::kNone;
          expect_key_ = true;
        }
        break;
      case '}':
      case ']':
        --depth_;
        if (depth_ < 2) {  // a call object (or the list) closes, after a scalar value maybe
          if (field_ == Field::kParams) end_params(calls);
          field_ = Field::kNone;
          return;
        }
        if (depth_ == 2 && field_ == Field::kParams) {
          args_ += c;
          end_params(calls);  // the parameters value closed
          return;
        }
        break;
      case ':':
        if (depth_ == 2) {
          field_ = key_ == "name" ? Field::kName : key_ == "parameters" ? Field::kParams : Field::kOther;
          value_started_ = false;
          return;
        }
        break;
      case ',':
        if (depth_ == 2) {
          if (field_ == Field::kParams) end_params(calls);  // a number or literal ended
          field_ = Field::kNone;
          expect_key_ = true;
          return;
        }
        break;
      case ' ':
        if (depth_ == 2 && !value_started_) return;  // a separator's space
        break;
      default:
        if (depth_ == 2 && field_ == Field::kParams) value_started_ = true;  // a number or literal
        break;
    }
    if (field_ == Field::kParams && (depth_ > 2 || value_started_)) args_ += c;
  }

  void name_done(std::vector<ToolCallDelta>& calls) {
    std::string name = name_;
    if (name.find('\\') != std::string::npos) {
      const Json decoded = Json::parse("\"" + name + "\"", nullptr, false);
      if (decoded.is_string()) name = decoded.get<std::string>();
    }
    ToolCallDelta d;
    d.index = calls_++;
    d.first = true;
    d.id = "chatcmpl-tool-" + random_hex_id();
    d.name = std::move(name);
    d.arguments = std::move(args_);  // parameters before the name (not in this schema's order): kept
    args_.clear();
    named_ = true;
    calls.push_back(std::move(d));
  }

  void end_params(std::vector<ToolCallDelta>& calls) {
    flush(calls);
    field_ = Field::kNone;
  }

  // The parameters text gathered so far, as one piece of the current call.
  void flush(std::vector<ToolCallDelta>& calls) {
    if (!named_ || args_.empty()) return;
    ToolCallDelta d;
    d.index = calls_ - 1;
    d.arguments = std::move(args_);
    args_.clear();
    calls.push_back(std::move(d));
  }

  int depth_ = 0;  // 1: inside the list; 2: inside a call object; more: inside a value
  bool in_str_ = false, esc_ = false;
  bool expect_key_ = false, reading_key_ = false, value_started_ = false;
  Field field_ = Field::kNone;
  std::string key_, name_, args_;
  bool named_ = false;
  int calls_ = 0;
};

}  // namespace

std::unique_ptr<ToolCallParser> make_required_tool_call_parser() { return std::make_unique<RequiredCallsParser>(); }

}  // namespace sable::server
