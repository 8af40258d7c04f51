// Structured output: the schema compiler's subset and errors, checked by the
// documents it makes the matcher accept. Most checks name the exact byte
// where a document must be rejected, so a matcher that rejects late (or
// early) fails.
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

TEST(JsonSchema, PropertiesInOrderWithRequired) {
  auto s = compile_ok(kPersonSchema);
  expect_document(*s, R"({"name":"x","age":3,"tags":["bb"]})");
  expect_document(*s, R"({"name":"x"})");
  expect_document(*s, R"({"name":"x", "tags":["a","bb"]})");
  expect_document(*s, R"({"name":"", "age": -7, "tags": []})");
  expect_rejected_at(*s, R"({"age":3,"name":"x"})", 2);   // order: name is required first
  expect_rejected_at(*s, R"({})", 1);                     // name is required
  expect_rejected_at(*s, R"({"name":"x","extra":1})", 13);
  expect_rejected_at(*s, R"({"name":"x","age":3.5})", 19);
  expect_rejected_at(*s, R"({"name":"x","tags":["c"]})", 21);
  expect_rejected_at(*s, R"({"name":"x","tags":["a","bb","a"]})", 28);  // maxItems 2
  expect_rejected_at(*s, R"({"name":"x","tags":["a"],"age":1})", 24);   // tags is last: no ','
  expect_rejected_at(*s, R"({"name":"x","name":"y"})", 13);             // no duplicate
  expect_rejected_at(*s, R"({"name":1})", 8);
  expect_rejected_at(*s, R"({"names":"x"})", 6);
  expect_rejected_at(*s, R"([])", 0);
  expect_incomplete(*s, R"({"name":"x")");
}

TEST(JsonSchema, RequiredPropertyCannotBeSkipped) {
  auto s = compile_ok(R"({"properties":{"a":{},"b":{},"c":{}},"required":["b"]})");
  expect_document(*s, R"({"b":1})");
  expect_document(*s, R"({"a":[{"x":null}],"b":"s","c":false})");
  expect_rejected_at(*s, R"({"c":1})", 2);  // the key is cut off at its first byte
  expect_rejected_at(*s, R"({"a":1})", 6);  // '}' with b still due
  expect_rejected_at(*s, R"({"a":1,"c":1})", 8);
}

TEST(JsonSchema, OrderedJsonKeepsPropertyOrder) {
  const char* schema = R"({"type":"object","properties":{"z":{"type":"integer"},"a":{"type":"integer"}}})";
  auto ordered = JsonSchema::compile(OJson::parse(schema));
  ASSERT_TRUE(ordered.is_ok());
  EXPECT_TRUE(matches(**ordered, R"({"z":1,"a":2})"));
  EXPECT_FALSE(matches(**ordered, R"({"a":2,"z":1})"));
  // nlohmann::json has sorted the keys already.
  auto sorted = JsonSchema::compile(nlohmann::json::parse(schema));
  ASSERT_TRUE(sorted.is_ok());
  EXPECT_TRUE(matches(**sorted, R"({"a":2,"z":1})"));
  EXPECT_FALSE(matches(**sorted, R"({"z":1,"a":2})"));
}

TEST(JsonSchema, ObjectForms) {
  auto closed_empty = compile_ok(R"({"type":"object","properties":{}})");
  expect_document(*closed_empty, "{}");
  expect_rejected_at(*closed_empty, R"({"a":1})", 1);
  auto no_extra = compile_ok(R"({"type":"object","additionalProperties":false})");
  expect_document(*no_extra, "{}");
  expect_rejected_at(*no_extra, R"({"a":1})", 1);
  auto map = compile_ok(R"({"type":"object","additionalProperties":{"type":"integer"}})");
  expect_document(*map, R"({"a":1,"b":2,"a":3})");
  expect_rejected_at(*map, R"({"a":"x"})", 5);
  auto free = compile_ok(R"({"type":"object"})");
  expect_document(*free, R"({"a":{"b":[1,"2",null]}})");
}

TEST(JsonSchema, EmptySchemaIsAnyValue) {
  for (const char* schema : {"{}", "true", R"({"title":"t","description":"d"})"}) {
    auto s = compile_ok(schema);
    for (const char* doc : {R"("x")", "[1,{}]", "3", "-2.5", "null", "true", "false", R"({"a":[]})"})
      EXPECT_TRUE(matches(*s, doc)) << schema << " " << doc;
    expect_rejected_at(*s, "nan", 1);
    expect_rejected_at(*s, "'x'", 0);
  }
}

TEST(JsonSchema, Arrays) {
  auto s = compile_ok(R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":2})");
  expect_rejected_at(*s, "[]", 1);
  expect_document(*s, "[1]");
  expect_document(*s, "[1, 2]");
  expect_rejected_at(*s, "[1,2,3]", 4);
  expect_rejected_at(*s, "[1,\"2\"]", 3);
  expect_rejected_at(*s, "[ 1]", 1);
  auto zero = compile_ok(R"({"type":"array","maxItems":0})");
  expect_document(*zero, "[]");
  expect_rejected_at(*zero, "[1]", 1);
  auto any_items = compile_ok(R"({"items":true})");
  expect_document(*any_items, R"([1,"a",[],{"b":null}])");
}

TEST(JsonSchema, StringLength) {
  auto s = compile_ok(R"({"type":"string","minLength":2,"maxLength":3})");
  expect_document(*s, R"("ab")");
  expect_document(*s, R"("abc")");
  expect_rejected_at(*s, R"("a")", 2);
  expect_rejected_at(*s, R"("abcd")", 4);
  // One character each: an escape, a raw two-byte character, a surrogate pair.
  expect_document(*s, "\"\\n\xc3\xa9\\ud83d\\ude00\"");
  expect_rejected_at(*s, R"("\n\n\n\n")", 7);
}

TEST(JsonSchema, EnumOfMixedValues) {
  auto s = compile_ok(R"({"enum":[1,"x",null,true,12,{"k":[1]}]})");
  for (const char* doc : {R"("x")", "null", "true", R"({"k":[1]})"}) expect_document(*s, doc);
  expect_matches(*s, "1");
  expect_matches(*s, "12");
  expect_rejected_at(*s, "123", 2);
  expect_rejected_at(*s, "2", 0);
  expect_rejected_at(*s, R"("y")", 1);
  expect_rejected_at(*s, R"("xx")", 2);
  expect_rejected_at(*s, "false", 0);
  expect_incomplete(*s, R"("x)");
  expect_incomplete(*s, "nul");

  // Inside containers the literal ends at the container's next byte.
  auto arr = compile_ok(R"({"type":"array","items":{"enum":[1,12,"x"]}})");
  expect_document(*arr, R"([1,12,"x",1])");
  expect_rejected_at(*arr, "[13]", 2);
  expect_rejected_at(*arr, "[1 ]", 2);

  // type and string length drop the values they exclude.
  auto typed = compile_ok(R"({"type":"string","enum":["a","bbb",1],"maxLength":2})");
  expect_document(*typed, R"("a")");
  expect_rejected_at(*typed, R"("bbb")", 1);
  expect_rejected_at(*typed, "1", 0);
}

TEST(JsonSchema, EnumIsNotLimitedTo64Values) {
  OJson values = OJson::array();
  for (int i = 0; i < 300; ++i) values.push_back("v" + std::to_string(i));
  auto r = JsonSchema::compile(OJson{{"enum", values}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  expect_document(**r, R"("v0")");
  expect_document(**r, R"("v299")");
  expect_rejected_at(**r, R"("v300")", 4);
}

TEST(JsonSchema, Const) {
  auto s = compile_ok(R"({"type":"object","properties":{"kind":{"const":"circle"},"r":{"const":2.5}}})");
  expect_document(*s, R"({"kind":"circle","r":2.5})");
  expect_rejected_at(*s, R"({"kind":"circles"})", 15);
  expect_rejected_at(*s, R"({"kind":"circle","r":2.50})", 24);
  auto in_enum = compile_ok(R"({"enum":["a","b"],"const":"b"})");
  expect_document(*in_enum, R"("b")");
  expect_rejected_at(*in_enum, R"("a")", 1);
}

TEST(JsonSchema, BooleanAndNull) {
  auto b = compile_ok(R"({"type":"boolean"})");
  expect_document(*b, "true");
  expect_document(*b, "false");
  expect_rejected_at(*b, "null", 0);
  auto n = compile_ok(R"({"type":"null"})");
  expect_document(*n, "null");
  expect_rejected_at(*n, "nil", 1);
}

TEST(JsonSchema, Numbers) {
  auto s = compile_ok(R"({"type":"number","minimum":0,"maximum":10})");  // bounds are not enforced
  JsonMatcher m(*s);
  ASSERT_TRUE(m.accept("12"));
  EXPECT_TRUE(m.complete());
  ASSERT_TRUE(m.accept(uint8_t('.')));
  EXPECT_FALSE(m.complete());  // "12."
  ASSERT_TRUE(m.accept(uint8_t('5')));
  EXPECT_TRUE(m.complete());
  expect_matches(*s, "1e5");
  expect_matches(*s, "-0.0E-0");
  expect_incomplete(*s, "-");
  expect_incomplete(*s, "1e");
  expect_incomplete(*s, "1e+");
  expect_rejected_at(*s, "00", 1);
  expect_rejected_at(*s, "-01", 2);
  expect_rejected_at(*s, "1.e5", 2);
  expect_rejected_at(*s, "1,", 1);

  auto i = compile_ok(R"({"type":"integer"})");
  expect_matches(*i, "-42");
  expect_rejected_at(*i, "3.5", 1);
  expect_rejected_at(*i, "1e3", 1);
  expect_rejected_at(*i, "\"1\"", 0);
}

TEST(JsonSchema, DepthIsBounded) {
  std::string deep(30, '[');
  // Any value: 24 nested arrays fit, the 25th is refused.
  auto any_value = compile_ok("{}");
  expect_rejected_at(*any_value, deep, JsonSchema::kMaxDepth);
  expect_document(*any_value, std::string(JsonSchema::kMaxDepth, '[') + std::string(JsonSchema::kMaxDepth, ']'));
  // Under any_object, the object is the first level.
  expect_rejected_at(*JsonSchema::any_object(), "{\"a\":" + deep, 5 + JsonSchema::kMaxDepth - 1);

  // A schema that nests deeper than the matcher can follow is refused.
  std::string schema = R"({"type":"integer"})";
  for (int d = 0; d < JsonSchema::kMaxDepth; ++d) schema = R"({"type":"array","items":)" + schema + "}";
  compile_ok(schema);
  std::string deeper = R"({"type":"array","items":)" + schema + "}";
  EXPECT_NE(compile_error(deeper).find("deeper"), std::string::npos);
}

TEST(JsonSchema, CompileErrorsNameTheKeyword) {
  struct Case {
    const char* schema;
    const char* needle;
  };
  const Case cases[] = {
      {R"({"allOf":[{"type":"string"}]})", "'allOf'"},
      {R"({"not":{}})", "'not'"},
      {R"({"if":{},"then":{}})", "'if'"},
      {R"({"type":"object","properties":{"name":{"type":"string","pattern":"(?=a)a"}}})",
       "'pattern' at $.properties.name: regex: lookaround is not supported"},
      {R"({"type":"string","pattern":1})", "'pattern' at $ must be a string"},
      {R"({"type":"object","patternProperties":{"^a":{}}})", "'patternProperties'"},
      {R"({"type":"array","prefixItems":[{}]})", "'prefixItems'"},
      {R"({"type":"array","items":[{}]})", "'items' at $"},
      {R"({"type":"object","dependentRequired":{}})", "'dependentRequired'"},
      {R"({"type":"object","minProperties":1})", "'minProperties'"},
      {R"({"type":"array","items":{"nullable":true}})", "'nullable' at $.items"},
      {R"({"type":"str"})", "'type' at $"},
      {R"({"type":[]})", "'type' at $ is []"},
      {R"({"type":["string",1]})", "'type' at $ is [\"string\",1]"},
      {R"({"type":["string","strin"]})", "'type' at $"},
      {R"({"allOf":[{"$ref":"#/$defs/a"}],"$defs":{"a":{}}})", "'allOf' at $ is not supported"},
      {R"({"type":"array","uniqueItems":true})", "'uniqueItems'"},
      {R"({"type":"object","properties":{"a":{}},"additionalProperties":true})", "'additionalProperties'"},
      {R"({"type":"object","properties":{"a":{}},"required":["b"]})", "'required' at $ names 'b'"},
      {R"({"type":"object","required":["b"]})", "'required'"},
      {R"({"type":"object","properties":{"a\"b":{}}})", "quote"},
      {R"({"enum":[]})", "'enum'"},
      {R"({"type":"string","enum":[1,2]})", "'enum'"},
      {R"({"enum":["a"],"const":"b"})", "'const'"},
      {R"({"type":"string","minLength":-1})", "'minLength'"},
      {R"({"type":"array","minItems":3,"maxItems":2})", "'minItems'"},
      {R"(false)", "false"},
      {R"(3)", "must be an object or a boolean"},
  };
  for (const Case& c : cases) {
    std::string msg = compile_error(c.schema);
    EXPECT_NE(msg.find(c.needle), std::string::npos) << c.schema << " -> " << msg;
    EXPECT_EQ(msg.rfind("json_schema: ", 0), 0u) << msg;
  }

  // An enum larger than the matcher's 16-bit candidate indices.
  OJson values = OJson::array();
  for (int i = 0; i < 70000; ++i) values.push_back(i);
  auto r = JsonSchema::compile(OJson{{"enum", values}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("'enum'"), std::string::npos) << r.status().message();
}

// (Formats outside json_schema_formats.h's list, such as "uri", are
// annotations; the listed ones are enforced: json_schema_formats_test.cpp.)
TEST(JsonSchema, AnnotationsAndUnenforcedKeywordsAreAccepted) {
  auto s = compile_ok(R"({
    "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "x", "title": "T", "description": "D",
    "$defs": {"unused": {"pattern": "ignored, never referenced"}},
    "type": "object",
    "properties": {
      "when": {"type": "string", "format": "uri", "examples": ["2024"], "default": "now"},
      "n": {"type": "number", "minimum": 0, "exclusiveMaximum": 5, "multipleOf": 0.5, "deprecated": true}
    },
    "required": ["when", "n"]
  })");
  expect_document(*s, R"({"when":"not a date","n":99})");
}

}  // namespace
}  // namespace sable
