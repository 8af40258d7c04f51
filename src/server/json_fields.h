// Typed access to the fields of a JSON request object. A field of the wrong
// type is the client's mistake: it throws ApiException (400) naming the
// field, so no nlohmann type_error can ever escape as a 500.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sable::server {

// Requests are parsed with key order kept: messages and tools are rendered
// into the prompt by the chat template, where order shows.
using Json = nlohmann::ordered_json;

// Parses a request body: valid JSON (UTF-8 checked), nesting at most
// max_depth, an object at the top. Throws a 400 otherwise.
Json parse_json_body(std::string_view body, int max_depth = 64);

// "JSON type name" for messages: "string", "integer", "array", ...
const char* json_type_name(const Json& j);

class FieldReader {
 public:
  // prefix names the object in errors ("messages[2]."); empty at top level.
  explicit FieldReader(const Json& obj, std::string prefix = "") : obj_(obj), prefix_(std::move(prefix)) {}

  // The field, or null when absent or JSON null (OpenAI treats both alike).
  const Json* get(std::string_view key) const;
  bool has(std::string_view key) const { return get(key) != nullptr; }
  std::string param(std::string_view key) const { return prefix_ + std::string(key); }

  std::optional<bool> opt_bool(std::string_view key) const;
  // Finite numbers only.
  std::optional<double> opt_number(std::string_view key) const;
  // Integers (an integral float like 3.0 counts) in int64 range.
  std::optional<int64_t> opt_int(std::string_view key) const;
  std::optional<std::string> opt_string(std::string_view key) const;
  // Must be an object (or absent); returns it.
  const Json* opt_object(std::string_view key) const;
  const Json* opt_array(std::string_view key) const;

  // With a range check: "n must be between 1 and 128, got 1000".
  std::optional<int64_t> opt_int_in(std::string_view key, int64_t lo, int64_t hi) const;
  std::optional<double> opt_number_in(std::string_view key, double lo, double hi) const;

  [[noreturn]] void fail_type(std::string_view key, const char* expected, const Json& got) const;

 private:
  const Json& obj_;
  std::string prefix_;
};

// Integer value of j (integral floats accepted), or nullopt.
std::optional<int64_t> json_as_int(const Json& j);

}  // namespace sable::server
