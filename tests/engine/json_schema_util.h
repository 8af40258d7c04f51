// Helpers for the structured-output tests: compiling schemas, feeding text
// to a JsonMatcher, and the matcher's two general properties checked on
// whole documents.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "engine/json_matcher.h"

namespace sable::testing {

using OJson = nlohmann::ordered_json;

std::shared_ptr<const JsonSchema> compile_ok(std::string_view schema);
std::string compile_error(std::string_view schema);
// The message of a schema's compile error must contain `needle` (and have the prefix).
void expect_compile_error(std::string_view schema, std::string_view needle);

// Bytes accepted one at a time before the first rejection (the whole size if none).
size_t accepted_prefix(const JsonSchema& schema, std::string_view text);
bool matches(const JsonSchema& schema, std::string_view text);
// The text is accepted byte by byte, and complete only at its end.
void expect_document(const JsonSchema& schema, std::string_view text);
// For top-level numbers, which are complete at their prefixes too.
void expect_matches(const JsonSchema& schema, std::string_view text);
// Rejected exactly at byte `at` (everything before it accepted).
void expect_rejected_at(const JsonSchema& schema, std::string_view text, size_t at);
// All bytes accepted, but the document is not finished.
void expect_incomplete(const JsonSchema& schema, std::string_view text);
// Where `text` first has `needle`, plus `plus`: the byte a rejection names.
size_t at(std::string_view text, std::string_view needle, size_t plus = 0);

// Whole-string acceptance equals byte-by-byte acceptance, and so does completeness.
void expect_bytewise_equals_whole(const JsonSchema& schema, std::string_view text);
// At every prefix of a valid document, every byte the matcher rejects leaves
// it able to finish the document as an untouched copy (same state key).
void expect_rejections_keep_state(const JsonSchema& schema, std::string_view doc);

inline constexpr std::string_view kPersonSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string"},
    "age": {"type": "integer"},
    "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "bb"]}, "maxItems": 2}
  },
  "required": ["name"]
})";

// What the OpenAI Python SDK sends for client.beta.chat.completions.parse(
// response_format=Person) with Pydantic models (Optional[int], a nested model).
inline constexpr std::string_view kPydanticSchema = R"({
  "$defs": {"Address": {"properties": {"city": {"title": "City", "type": "string"}}, "required": ["city"],
                        "title": "Address", "type": "object", "additionalProperties": false}},
  "properties": {"name": {"title": "Name", "type": "string"},
                 "age": {"anyOf": [{"type": "integer"}, {"type": "null"}], "title": "Age"},
                 "home": {"$ref": "#/$defs/Address"},
                 "tags": {"items": {"type": "string"}, "title": "Tags", "type": "array"}},
  "required": ["name", "age", "home", "tags"], "title": "Person", "type": "object", "additionalProperties": false
})";

inline constexpr std::string_view kUnionItemsSchema = R"({"type": "array", "items": {"anyOf": [
  {"type": "integer"}, {"type": "string", "maxLength": 2}, {"type": "null"}, {"type": "boolean"},
  {"type": "object", "properties": {"k": {"type": ["number", "string"]}}}, {"type": "array", "items": {"type": "integer"}}]}})";

}  // namespace sable::testing
