#include "server/json_fields.h"

#include <cmath>

#include <fmt/format.h>

#include "server/errors.h"

namespace sable::server {

// nlohmann's parser keeps its own stack, but destroying and dumping a value
// recurse; a body of a million '[' would overflow the stack. Count depth
// outside strings first.
static bool nesting_within(std::string_view s, int max_depth) {
  int depth = 0;
  bool in_str = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_str) {
      if (c == '\\') ++i;
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

Json parse_json_body(std::string_view body, int max_depth) {
  if (body.empty()) throw_bad_request("The request body is empty; expected a JSON object.");
  if (!nesting_within(body, max_depth))
    throw_bad_request(fmt::format("The request body nests deeper than {} levels.", max_depth));
  Json j;
  try {
    j = Json::parse(body.begin(), body.end());
  } catch (const nlohmann::json::exception& e) {
    // parse_error, or out_of_range for a number like 9e999. e.what() names
    // the byte offset and what was expected; it quotes at most a few bytes of
    // input and may contain invalid UTF-8 (replaced when the error is sent).
    throw_bad_request(std::string("Invalid JSON in the request body: ") + e.what());
  }
  if (!j.is_object())
    throw_bad_request(fmt::format("The request body must be a JSON object, got {}.", json_type_name(j)));
  return j;
}

const char* json_type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
    case Json::value_t::number_float: return "number";
    case Json::value_t::string: return "string";
    case Json::value_t::array: return "array";
    case Json::value_t::object: return "object";
    default: return "value";
  }
}

std::optional<int64_t> json_as_int(const Json& j) {
  if (j.is_number_integer() && !j.is_number_unsigned()) return j.get<int64_t>();
  if (j.is_number_unsigned()) {
    uint64_t u = j.get<uint64_t>();
    if (u > uint64_t(INT64_MAX)) return std::nullopt;
    return int64_t(u);
  }
  if (j.is_number_float()) {
    double d = j.get<double>();
    // 2^63 is exactly representable; anything at or past it overflows int64.
    if (std::isfinite(d) && d == std::floor(d) && d >= -9.2233720368547758e18 && d < 9.2233720368547758e18)
      return int64_t(d);
  }
  return std::nullopt;
}

const Json* FieldReader::get(std::string_view key) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) return nullptr;
  return &*it;
}

void FieldReader::fail_type(std::string_view key, const char* expected, const Json& got) const {
  throw_bad_request(fmt::format("'{}' must be {}, got {}.", param(key), expected, json_type_name(got)), param(key));
}

std::optional<bool> FieldReader::opt_bool(std::string_view key) const {
  const Json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) fail_type(key, "a boolean", *v);
  return v->get<bool>();
}

std::optional<double> FieldReader::opt_number(std::string_view key) const {
  const Json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_number()) fail_type(key, "a number", *v);
  double d = v->get<double>();
  if (!std::isfinite(d)) throw_bad_request(fmt::format("'{}' must be a finite number.", param(key)), param(key));
  return d;
}

std::optional<int64_t> FieldReader::opt_int(std::string_view key) const {
  const Json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_number()) fail_type(key, "an integer", *v);
  auto i = json_as_int(*v);
  if (!i) {
    if (v->is_number_float() && std::isfinite(v->get<double>()) && v->get<double>() != std::floor(v->get<double>()))
      throw_bad_request(fmt::format("'{}' must be an integer, got {}.", param(key), v->get<double>()), param(key));
    throw_bad_request(fmt::format("'{}' is out of range.", param(key)), param(key));
  }
  return i;
}

std::optional<std::string> FieldReader::opt_string(std::string_view key) const {
  const Json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_string()) fail_type(key, "a string", *v);
  return v->get<std::string>();
}

const Json* FieldReader::opt_object(std::string_view key) const {
  const Json* v = get(key);
  if (v && !v->is_object()) fail_type(key, "an object", *v);
  return v;
}

const Json* FieldReader::opt_array(std::string_view key) const {
  const Json* v = get(key);
  if (v && !v->is_array()) fail_type(key, "an array", *v);
  return v;
}

std::optional<int64_t> FieldReader::opt_int_in(std::string_view key, int64_t lo, int64_t hi) const {
  auto v = opt_int(key);
  if (v && (*v < lo || *v > hi))
    throw_bad_request(fmt::format("'{}' must be between {} and {}, got {}.", param(key), lo, hi, *v), param(key));
  return v;
}

std::optional<double> FieldReader::opt_number_in(std::string_view key, double lo, double hi) const {
  auto v = opt_number(key);
  if (v && (*v < lo || *v > hi))
    throw_bad_request(fmt::format("'{}' must be between {} and {}, got {}.", param(key), lo, hi, *v), param(key));
  return v;
}

}  // namespace sable::server
