// $ref, anyOf / oneOf and lists of types: what compiles (Pydantic's
// schemas), what is refused and why, and depth through references.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "engine/json_schema_util.h"

namespace sable {
namespace {

using testing::accepted_prefix;
using testing::at;
using testing::compile_error;
using testing::compile_ok;
using testing::expect_bytewise_equals_whole;
using testing::expect_compile_error;
using testing::expect_document;
using testing::expect_incomplete;
using testing::expect_matches;
using testing::expect_rejected_at;
using testing::expect_rejections_keep_state;
using testing::kPersonSchema;
using testing::kPydanticSchema;
using testing::kUnionItemsSchema;
using testing::matches;
using testing::OJson;

TEST(JsonSchemaUnion, PydanticSchema) {
  auto s = compile_ok(kPydanticSchema);
  expect_document(*s, R"({"name":"Ada","age":null,"home":{"city":"X"},"tags":[]})");
  expect_document(*s, R"({"name":"Ada","age":36,"home":{"city":"X"},"tags":["a","b"]})");
  expect_document(*s, R"({"name": "Ada", "age": -1, "home": {"city": "X"}, "tags": ["a", "b"]})");
  std::string doc = R"({"name":"Ada","age":"36","home":{"city":"X"},"tags":[]})";
  expect_rejected_at(*s, doc, at(doc, R"("36")"));  // neither integer nor null starts with '"'
  doc = R"({"name":"Ada","age":3.5,"home":{"city":"X"},"tags":[]})";
  expect_rejected_at(*s, doc, at(doc, "."));
  doc = R"({"name":"Ada","age":nul,"home":{"city":"X"},"tags":[]})";
  expect_rejected_at(*s, doc, at(doc, "nul,", 3));
  doc = R"({"name":"Ada","age":null,"tags":[]})";  // home is required
  expect_rejected_at(*s, doc, at(doc, "tags"));
  doc = R"({"name":"Ada","age":null,"home":{"city":"X","zip":"1"},"tags":[]})";  // Address is closed
  expect_rejected_at(*s, doc, at(doc, R"("X",)", 3));
  doc = R"({"name":"Ada","age":null,"home":{},"tags":[]})";  // city is required
  expect_rejected_at(*s, doc, at(doc, "{}", 1));
  doc = R"({"name":"Ada","age":null,"home":null,"tags":[]})";
  expect_rejected_at(*s, doc, at(doc, "null,\"tags"));
  expect_incomplete(*s, R"({"name":"Ada","age":null,"home":{"city":"X"})");
}

TEST(JsonSchemaUnion, RefForms) {
  // definitions (draft 7), a $ref beside annotations, a shared definition.
  auto s = compile_ok(R"({
    "definitions": {"Point": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}},
    "type": "object",
    "properties": {"a": {"$ref": "#/definitions/Point", "description": "first", "default": {"x": 0}},
                   "b": {"$ref": "#/definitions/Point"},
                   "c": {"type": "array", "items": {"$ref": "#/definitions/Point"}}},
    "required": ["a", "b"]
  })");
  expect_document(*s, R"({"a":{"x":1},"b":{"x":2},"c":[{"x":3},{"x":4}]})");
  std::string doc = R"({"a":{"x":1},"b":{"y":2}})";
  expect_rejected_at(*s, doc, at(doc, "y"));
  doc = R"({"a":{"x":1},"b":{"x":2},"c":[{"x":"3"}]})";
  expect_rejected_at(*s, doc, at(doc, R"("3")"));

  // The whole schema a $ref; JSON-pointer escapes; a pointer into properties;
  // a chain of references.
  auto root_ref = compile_ok(R"({"$ref": "#/$defs/a~1b", "$defs": {"a/b": {"$ref": "#/$defs/t~0"},
                                                                 "t~": {"type": "integer"}}})");
  expect_matches(*root_ref, "42");
  expect_rejected_at(*root_ref, R"("x")", 0);
  auto pointer = compile_ok(R"({"type": "object", "properties": {"a": {"type": "boolean"},
                                                                  "b": {"$ref": "#/properties/a"}}})");
  expect_document(*pointer, R"({"a":true,"b":false})");
  expect_rejected_at(*pointer, R"({"a":true,"b":1})", 14);
  auto indexed = compile_ok(R"({"anyOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/anyOf/0"}}]})");
  expect_document(*indexed, R"(["a","b"])");
  expect_document(*indexed, R"("a")");
  expect_rejected_at(*indexed, R"([1])", 1);

  // nlohmann::json (sorted keys) compiles references too.
  auto sorted = JsonSchema::compile(nlohmann::json::parse(kPydanticSchema));
  ASSERT_TRUE(sorted.is_ok()) << sorted.status().to_string();
  EXPECT_TRUE(matches(**sorted, R"({"age":null,"home":{"city":"X"},"name":"Ada","tags":[]})"));
}

TEST(JsonSchemaUnion, RefUsedTwiceCompilesOnce) {
  // Each definition is referenced twice by the one before it: compiled per
  // use, the schema would have 2^20 nodes (and not fit the 16-bit indices).
  nlohmann::ordered_json defs = nlohmann::ordered_json::object();
  for (int i = 0; i < 20; ++i) {
    const std::string next = "#/$defs/D" + std::to_string(i + 1);
    defs["D" + std::to_string(i)] = {{"type", "object"},
                                     {"properties", {{"a", {{"$ref", next}}}, {"b", {{"$ref", next}}}}}};
  }
  defs["D20"] = {{"type", "integer"}};
  nlohmann::ordered_json schema = {{"$defs", defs}, {"$ref", "#/$defs/D0"}};
  auto r = JsonSchema::compile(schema);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  expect_document(**r, R"({"a":{"a":{},"b":{"b":{}}},"b":{"a":{"a":{}}}})");
  expect_rejected_at(**r, R"({"a":{"b":1}})", 10);
}

TEST(JsonSchemaUnion, TypeLists) {
  auto s = compile_ok(R"({"type": ["string", "null"], "maxLength": 3})");
  expect_document(*s, R"("abc")");
  expect_document(*s, "null");
  expect_rejected_at(*s, R"("abcd")", 4);
  expect_rejected_at(*s, "1", 0);
  expect_rejected_at(*s, "true", 0);
  expect_incomplete(*s, "nul");

  // Each type reads its own keywords.
  auto mixed = compile_ok(R"({"type": ["object", "array", "integer"], "properties": {"a": {"type": "integer"}},
                              "required": ["a"], "items": {"type": "string"}, "maxItems": 1})");
  expect_document(*mixed, R"({"a":1})");
  expect_document(*mixed, R"(["x"])");
  expect_matches(*mixed, "-3");
  expect_rejected_at(*mixed, "{}", 1);
  expect_rejected_at(*mixed, R"(["x","y"])", 4);
  expect_rejected_at(*mixed, "[1]", 1);
  expect_rejected_at(*mixed, "1.5", 1);
  expect_rejected_at(*mixed, "null", 0);

  auto bool_or_null = compile_ok(R"({"type": ["boolean", "null", "boolean"]})");
  for (const char* doc : {"true", "false", "null"}) expect_document(*bool_or_null, doc);
  expect_rejected_at(*bool_or_null, "0", 0);
  auto single = compile_ok(R"({"type": ["number"]})");
  expect_matches(*single, "1.5");

  // With enum: the values of any of the types.
  auto with_enum = compile_ok(R"({"type": ["string", "null"], "enum": ["a", null, 1]})");
  expect_document(*with_enum, R"("a")");
  expect_document(*with_enum, "null");
  expect_rejected_at(*with_enum, "1", 0);

  expect_compile_error(R"({"type": ["integer", "number"]})",
                       "json_schema: 'type' at $: alternatives 0 and 1 can both start with '-'");
}

TEST(JsonSchemaUnion, ObjectOrNull) {
  for (const char* keyword : {"anyOf", "oneOf"}) {
    const std::string schema = std::string(R"({"type": "object", "properties": {"p": {")") + keyword +
                               R"(": [{"type": "object", "properties": {"x": {"type": "integer"}},
                                        "required": ["x"], "additionalProperties": false},
                                       {"type": "null"}], "default": null, "title": "P"}},
                                 "required": ["p"]})";
    auto s = compile_ok(schema);
    expect_document(*s, R"({"p":{"x":1}})");
    expect_document(*s, R"({"p":null})");
    expect_document(*s, R"({"p": {"x": 1}})");
    expect_rejected_at(*s, R"({"p":{}})", 6);
    expect_rejected_at(*s, R"({"p":{"x":1,"y":2}})", 11);
    expect_rejected_at(*s, R"({"p":[]})", 5);
    expect_rejected_at(*s, R"({"p":nil})", 6);
    expect_rejected_at(*s, R"({"p":"x"})", 5);
    expect_rejected_at(*s, R"({})", 1);

    // At the top level and as array items.
    auto top = compile_ok(std::string(R"({")") + keyword + R"(": [{"type": "array", "items": {")" + keyword +
                          R"(": [{"type": "object", "properties": {"k": {"type": "string"}}}, {"type": "integer"},
                                 {"enum": ["a", false]}]}}, {"type": "null"}]})");
    expect_document(*top, "null");
    expect_document(*top, R"([{"k":"v"},7,"a",false,{}])");
    expect_rejected_at(*top, R"([true])", 1);
    expect_rejected_at(*top, R"([null])", 1);
    expect_rejected_at(*top, R"(["b"])", 2);
    expect_rejected_at(*top, R"({})", 0);
  }

  // A single alternative is that alternative; repeated ones count once.
  auto single = compile_ok(R"({"anyOf": [{"type": "string"}]})");
  expect_document(*single, R"("x")");
  expect_rejected_at(*single, "1", 0);
  auto repeated = compile_ok(R"({"$defs": {"S": {"type": "string"}},
                                 "anyOf": [{"$ref": "#/$defs/S"}, {"$ref": "#/$defs/S"}, {"type": "null"}]})");
  expect_document(*repeated, R"("x")");
  expect_document(*repeated, "null");
  auto anything = compile_ok(R"({"anyOf": [{}, true]})");
  expect_document(*anything, R"({"a":[1]})");
}

// {"type": "object", "anyOf": [...]}: the type applies to each alternative
// (here making both objects, so an object union).
TEST(JsonSchemaUnion, KeywordsBesideAnyOfApplyToEachAlternative) {
  auto s = compile_ok(R"({"type": "object", "anyOf": [
      {"properties": {"a": {"type": "integer"}}, "required": ["a"]},
      {"properties": {"b": {"type": "string"}}, "required": ["b"]}]})");
  expect_document(*s, R"({"a": 1})");
  expect_document(*s, R"({"b": "x"})");
  EXPECT_FALSE(matches(*s, "1"));
  EXPECT_FALSE(matches(*s, R"({"a": 1, "b": "x"})"));
}

TEST(JsonSchemaUnion, LiteralsAndNestedUnions) {
  // enum/const/boolean/null alternatives merge into one list of texts, so
  // they may share first bytes with each other (not with other alternatives).
  auto literals = compile_ok(R"({"anyOf": [{"const": "red"}, {"enum": ["green", "blue", 1]}, {"const": 12},
                                           {"type": "boolean"}, {"type": "null"}, {"enum": ["red"]},
                                           {"type": "object"}]})");
  for (const char* doc : {R"("red")", R"("green")", R"("blue")", "true", "false", "null", R"({"a":1})"})
    expect_document(*literals, doc);
  expect_matches(*literals, "1");
  expect_matches(*literals, "12");
  expect_rejected_at(*literals, R"("re")", 3);
  expect_rejected_at(*literals, "2", 0);
  expect_rejected_at(*literals, "[]", 0);
  // Nested unions are flattened, and their literals merged with the outer ones.
  auto nested = compile_ok(R"({"anyOf": [{"anyOf": [{"type": "integer"}, {"const": "a"}]},
                                         {"oneOf": [{"type": "array"}, {"const": "b"}]}]})");
  expect_matches(*nested, "5");
  expect_document(*nested, R"("a")");
  expect_document(*nested, R"("b")");
  expect_document(*nested, R"([1,"x"])");
  expect_rejected_at(*nested, R"("c")", 1);
  // oneOf: a value allowed by two alternatives would match neither.
  expect_compile_error(R"({"oneOf": [{"enum": ["a", "b"]}, {"const": "b"}]})",
                       "json_schema: 'oneOf' at $: alternatives 0 and 1 both allow \"b\"");
  expect_compile_error(R"({"$defs": {"S": {"type": "string"}}, "oneOf": [{"$ref": "#/$defs/S"}, {"$ref": "#/$defs/S"}]})",
                       "json_schema: 'oneOf' at $: alternatives 0 and 1 are the same schema");
  expect_compile_error(R"({"oneOf": [{"type": "boolean"}, {"type": ["null", "boolean"]}]})",
                       "'oneOf' at $: alternatives 0 and 1 both allow false");
  auto any_of_overlap = compile_ok(R"({"anyOf": [{"enum": ["a", "b"]}, {"const": "b"}]})");
  expect_document(*any_of_overlap, R"("b")");
}

TEST(JsonSchemaUnion, CompileErrors) {
  // Recursion: direct, through another definition, through anyOf, to the root.
  expect_compile_error(R"({"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}},
                           "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}}})",
                       "json_schema: recursive '$ref' #/$defs/Node at $.properties.next.properties.next is not supported");
  expect_compile_error(R"({"$ref": "#/$defs/Node",
                           "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}}})",
                       "json_schema: recursive '$ref' #/$defs/Node at $.properties.next is not supported");
  expect_compile_error(R"({"$ref": "#/$defs/A", "$defs": {"A": {"type": "array", "items": {"$ref": "#/$defs/B"}},
                                                          "B": {"anyOf": [{"$ref": "#/$defs/A"}, {"type": "null"}]}}})",
                       "json_schema: recursive '$ref' #/$defs/A at $.items.anyOf[0] is not supported");
  expect_compile_error(R"({"$defs": {"A": {"$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"})",
                       "recursive '$ref' #/$defs/A at $ ");
  expect_compile_error(R"({"type": "object", "properties": {"self": {"$ref": "#"}}})",
                       "recursive '$ref' # at $.properties.self");
  // Targets that are missing, in other documents, anchors, malformed.
  expect_compile_error(R"({"type": "object", "properties": {"x": {"$ref": "#/$defs/Missing"}}, "$defs": {}})",
                       "json_schema: '$ref' #/$defs/Missing at $.properties.x does not resolve");
  expect_compile_error(R"({"$ref": "#/definitions/A", "$defs": {"A": {}}})", "'$ref' #/definitions/A at $ does not");
  expect_compile_error(R"({"$ref": "https://example.com/person.json"})",
                       "json_schema: '$ref' https://example.com/person.json at $ is not supported");
  expect_compile_error(R"({"$ref": "other.json#/$defs/A"})", "'$ref' other.json#/$defs/A at $ is not supported");
  expect_compile_error(R"({"$ref": "#node"})", "'$ref' #node at $ is not supported");
  expect_compile_error(R"({"$ref": "#/$defs/a~2", "$defs": {}})", "'$ref' #/$defs/a~2 at $ is not a valid JSON pointer");
  expect_compile_error(R"({"$ref": 1})", "'$ref' at $ must be a string");
  expect_compile_error(R"({"$ref": "#/$defs/A", "$defs": {"A": {"type": "string", "pattern": "(a"}}})",
                       "'pattern' at $: regex: a '(' without its ')'");
  // Keywords beside $ref other than annotations; beside anyOf, ones that
  // contradict an alternative or meet one that is not inline.
  expect_compile_error(R"({"$ref": "#/$defs/A", "type": "object", "$defs": {"A": {}}})",
                       "json_schema: 'type' next to '$ref' at $ is not supported");
  expect_compile_error(R"({"type": "object", "anyOf": [{"properties": {"a": {}}}, {"type": "null"}]})",
                       "json_schema: 'type' next to 'anyOf' at $ differs from the one in $.anyOf[1]; merging them is "
                       "not supported");
  expect_compile_error(R"({"type": "object", "anyOf": [{"$ref": "#/$defs/A"}], "$defs": {"A": {}}})",
                       "'type' next to 'anyOf' at $ is supported only with inline alternatives (no $ref, anyOf or "
                       "oneOf in them); $.anyOf[0] is not one");
  expect_compile_error(R"({"anyOf": [{"type": "string"}], "oneOf": [{"type": "string"}]})",
                       "'anyOf' and 'oneOf' together at $ are not supported");
  // Alternatives that can start with the same byte (two closed objects are an
  // object union, json_object_union_test.cpp; an object of any keys is not closed).
  expect_compile_error(R"({"type": "object", "properties": {"x": {"anyOf": [
                           {"type": "object", "properties": {"a": {}}}, {"type": "object"}]}}})",
                       "json_schema: 'anyOf' at $.properties.x: alternatives 0 and 1 can both start with '{'; only "
                       "alternatives of different JSON types, closed objects and const/enum values are supported");
  expect_compile_error(R"({"anyOf": [{"type": "integer"}, {"type": "number"}]})",
                       "json_schema: 'anyOf' at $: alternatives 0 and 1 can both start with '-'");
  expect_compile_error(R"({"oneOf": [{"type": "null"}, {"type": "string"}, {"type": "array"}, {"items": {}}]})",
                       "json_schema: 'oneOf' at $: alternatives 2 and 3 can both start with '['");
  expect_compile_error(R"({"anyOf": [{"type": "string"}, {"const": "x"}]})", "alternatives 0 and 1 can both start with '\"'");
  expect_compile_error(R"({"anyOf": [{"const": 5}, {"type": "integer"}]})", "alternatives 0 and 1 can both start with '5'");
  expect_compile_error(R"({"anyOf": [{}, {"type": "null"}]})", "alternatives 0 and 1 can both start with 'n'");
  expect_compile_error(R"({"anyOf": [{"type": "null"}, {"anyOf": [{"type": "string"}, {"type": "boolean"}]},
                                    {"enum": [false]}, {"anyOf": [{"type": "integer"}, {"type": "string"}]}]})",
                       "alternatives 1 and 3 can both start with '\"'");
  // Malformed lists, and errors inside alternatives.
  expect_compile_error(R"({"anyOf": []})", "'anyOf' at $ must be a non-empty list of schemas");
  expect_compile_error(R"({"oneOf": {"type": "null"}})", "'oneOf' at $ must be a non-empty list of schemas");
  expect_compile_error(R"({"anyOf": [{"type": "null"}, {"type": "string", "pattern": "a\\1"}]})",
                       "'pattern' at $.anyOf[1]: regex: backreferences are not supported");
  expect_compile_error(R"({"anyOf": [{"type": "null"}, false]})", "the schema false at $.anyOf[1]");
}

TEST(JsonSchemaUnion, DepthThroughRefs) {
  // D0 -> D1 -> ... -> Dn, each an object around the next: n levels.
  auto chain = [](int n) {
    nlohmann::ordered_json defs = nlohmann::ordered_json::object();
    for (int i = 0; i < n; ++i) {
      defs["D" + std::to_string(i)] = {{"type", "object"},
                                       {"properties", {{"x", {{"$ref", "#/$defs/D" + std::to_string(i + 1)}}}}}};
    }
    defs["D" + std::to_string(n)] = {{"type", "integer"}};
    return nlohmann::ordered_json{{"$ref", "#/$defs/D0"}, {"$defs", defs}};
  };
  auto fits = JsonSchema::compile(chain(JsonSchema::kMaxDepth));
  ASSERT_TRUE(fits.is_ok()) << fits.status().to_string();
  std::string doc = "1";
  for (int i = 0; i < JsonSchema::kMaxDepth; ++i) doc = "{\"x\":" + doc + "}";
  expect_document(**fits, doc);
  auto deeper = JsonSchema::compile(chain(JsonSchema::kMaxDepth + 1));
  ASSERT_FALSE(deeper.is_ok());
  EXPECT_NE(deeper.status().message().find("nests objects and arrays deeper than 24 levels"), std::string::npos)
      << deeper.status().message();

  // A definition compiled at one depth and reused deeper must still fit
  // there, in either order of use.
  std::string deep = R"({"type":"integer"})";
  for (int d = 0; d < JsonSchema::kMaxDepth - 1; ++d) deep = R"({"type":"array","items":)" + deep + "}";
  const std::string shallow_use = R"("a":{"$ref":"#/$defs/Deep"})";
  const std::string deep_use = R"("b":{"type":"array","items":{"$ref":"#/$defs/Deep"}})";
  compile_ok(R"({"$defs":{"Deep":)" + deep + R"(},"type":"object","properties":{)" + shallow_use + "}}");
  expect_compile_error(R"({"$defs":{"Deep":)" + deep + R"(},"type":"object","properties":{)" + shallow_use + "," +
                           deep_use + "}}",
                       "the schema at $.properties.b.items (#/$defs/Deep) nests objects and arrays deeper than 24");
  expect_compile_error(R"({"$defs":{"Deep":)" + deep + R"(},"type":"object","properties":{)" + deep_use + "," +
                           shallow_use + "}}",
                       "nests objects and arrays deeper than 24");

  // Subschemas nested without containers are bounded too (no stack overflow).
  nlohmann::ordered_json defs = nlohmann::ordered_json::object();
  for (int i = 0; i < 1000; ++i) defs["A" + std::to_string(i)] = {{"$ref", "#/$defs/A" + std::to_string(i + 1)}};
  defs["A1000"] = {{"type", "null"}};
  auto long_chain = JsonSchema::compile(nlohmann::ordered_json{{"$ref", "#/$defs/A0"}, {"$defs", defs}});
  ASSERT_FALSE(long_chain.is_ok());
  EXPECT_NE(long_chain.status().message().find("nests subschemas more than 128 deep"), std::string::npos)
      << long_chain.status().message();
  std::string any_of = R"({"type":"null"})";
  for (int i = 0; i < 10000; ++i) any_of = R"({"anyOf":[)" + any_of + "]}";
  expect_compile_error(any_of, "nests subschemas more than 128 deep");
  any_of = R"({"type":"null"})";
  for (int i = 0; i < 100; ++i) any_of = R"({"anyOf":[)" + any_of + "]}";
  compile_ok(any_of);
}

}  // namespace
}  // namespace sable
