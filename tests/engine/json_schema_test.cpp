// Structured output: the schema compiler's subset and errors, and the byte
// matcher's acceptance of compact JSON documents against schemas. Most
// checks name the exact byte where a document must be rejected, so a matcher
// that rejects late (or early) fails.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "engine/json_schema.h"

namespace sable {
namespace {

using OJson = nlohmann::ordered_json;

std::shared_ptr<const JsonSchema> compile_ok(std::string_view schema) {
  auto r = JsonSchema::compile(OJson::parse(schema));
  EXPECT_TRUE(r.is_ok()) << schema << ": " << r.status().to_string();
  return r.is_ok() ? *r : JsonSchema::any_object();
}

std::string compile_error(std::string_view schema) {
  auto r = JsonSchema::compile(OJson::parse(schema));
  EXPECT_FALSE(r.is_ok()) << schema << " compiled";
  return r.is_ok() ? "" : r.status().message();
}

// Bytes accepted one at a time before the first rejection (the whole size if none).
size_t accepted_prefix(const JsonSchema& schema, std::string_view text) {
  JsonMatcher m(schema);
  for (size_t i = 0; i < text.size(); ++i) {
    if (!m.accept(uint8_t(text[i]))) return i;
  }
  return text.size();
}

bool matches(const JsonSchema& schema, std::string_view text) {
  JsonMatcher m(schema);
  return m.accept(text) && m.complete();
}

// The text is accepted byte by byte, and complete only at its end.
void expect_document(const JsonSchema& schema, std::string_view text) {
  JsonMatcher m(schema);
  for (size_t i = 0; i < text.size(); ++i) {
    EXPECT_FALSE(m.complete()) << text << " complete after " << i << " bytes";
    ASSERT_TRUE(m.accept(uint8_t(text[i]))) << text << " rejected at byte " << i;
  }
  EXPECT_TRUE(m.complete()) << text;
}

// For top-level numbers, which are complete at their prefixes too.
void expect_matches(const JsonSchema& schema, std::string_view text) {
  EXPECT_TRUE(matches(schema, text)) << text;
}

// Rejected exactly at byte `at` (everything before it accepted).
void expect_rejected_at(const JsonSchema& schema, std::string_view text, size_t at) {
  EXPECT_EQ(accepted_prefix(schema, text), at) << text;
}

// All bytes accepted, but the document is not finished.
void expect_incomplete(const JsonSchema& schema, std::string_view text) {
  JsonMatcher m(schema);
  EXPECT_TRUE(m.accept(text)) << text;
  EXPECT_FALSE(m.complete()) << text;
}

constexpr std::string_view kPersonSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string"},
    "age": {"type": "integer"},
    "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "bb"]}, "maxItems": 2}
  },
  "required": ["name"]
})";

TEST(JsonMatcher, StateIsSmallAndTriviallyCopyable) {
  static_assert(std::is_trivially_copyable_v<JsonMatcher>);
  std::printf("sizeof(JsonMatcher) = %zu\n", sizeof(JsonMatcher));
  EXPECT_LE(sizeof(JsonMatcher), 300u);
}

TEST(JsonMatcher, AnyObjectAcceptsCompactDocument) {
  auto s = JsonSchema::any_object();
  expect_document(*s, R"({"a":1,"b":[true,null,{"c":"x\n\u00e9"}],"d":-0.5e+3})");
  expect_document(*s, "{\"\xc3\xa9\":\"\xe2\x82\xac\xf0\x9f\x98\x80\"}");  // raw UTF-8 in keys and values
  expect_document(*s, R"({})");
  expect_document(*s, R"({"a":[]})");
  expect_document(*s, R"({"a":{},"a":"dup keys are not tracked"})");
  expect_document(*s, R"({"e":"\"\\\/\b\f\n\r\t\ud83d\ude00"})");
  expect_document(*s, R"({"n":[0,-0,10,1.25,1E5,2e-3,3E+04,false]})");
}

TEST(JsonMatcher, AnyObjectRejectsMalformedText) {
  auto s = JsonSchema::any_object();
  expect_rejected_at(*s, "[1]", 0);
  expect_rejected_at(*s, R"({"a" :1})", 4);
  expect_rejected_at(*s, R"({"a":01})", 6);
  expect_rejected_at(*s, R"({"a":1}x)", 7);
  expect_rejected_at(*s, R"({"a":1} )", 7);
  expect_rejected_at(*s, R"( {"a":1})", 0);
  expect_rejected_at(*s, R"({ "a":1})", 1);
  expect_rejected_at(*s, R"({"a":  1})", 6);  // one space after ':' at most
  expect_rejected_at(*s, R"({"a":1 ,"b":2})", 6);
  expect_rejected_at(*s, R"({"a":1,})", 7);
  expect_rejected_at(*s, R"({"a":tru})", 8);
  expect_rejected_at(*s, R"({"a":nul,)", 8);
  expect_rejected_at(*s, R"({"a":True})", 5);
  expect_rejected_at(*s, R"({"a":[1,]})", 8);
  expect_rejected_at(*s, R"({"a":1.})", 7);
  expect_rejected_at(*s, R"({"a":1e})", 7);
  expect_rejected_at(*s, R"({"a":-})", 6);
  expect_rejected_at(*s, R"({"a":+1})", 5);
  expect_rejected_at(*s, R"({"a":.5})", 5);
  expect_rejected_at(*s, R"({1:2})", 1);
  expect_rejected_at(*s, "{\"a\":\"x\ty\"}", 7);  // raw control character
  expect_rejected_at(*s, "{\"a\":\"x\ny\"}", 7);
  expect_rejected_at(*s, R"({"a":"\x"})", 7);
  expect_rejected_at(*s, R"({"a":"\u12G4"})", 10);
  expect_rejected_at(*s, R"({"a":"\udc00"})", 9);        // lone low surrogate
  expect_rejected_at(*s, R"({"a":"\ud800x"})", 12);      // high surrogate without its pair
  expect_rejected_at(*s, R"({"a":"\ud800\u0041"})", 15);  // high surrogate, then not a low one
  expect_rejected_at(*s, "{\"a\":\"\xc0\x80\"}", 6);      // overlong
  expect_rejected_at(*s, "{\"a\":\"\xc1\"}", 6);
  expect_rejected_at(*s, "{\"a\":\"\xf5\"}", 6);
  expect_rejected_at(*s, "{\"a\":\"\xff\"}", 6);
  expect_rejected_at(*s, "{\"a\":\"\x80\"}", 6);          // stray continuation byte
  expect_rejected_at(*s, "{\"a\":\"\xc3\"}", 7);          // missing continuation byte
  expect_rejected_at(*s, "{\"a\":\"\xed\xa0\x80\"}", 7);  // UTF-8-encoded surrogate
}

TEST(JsonMatcher, CompleteOnlyAtTheEnd) {
  auto s = JsonSchema::any_object();
  expect_incomplete(*s, "");
  expect_incomplete(*s, R"({"a":1)");
  JsonMatcher m(*s);
  ASSERT_TRUE(m.accept(R"({"a":[1])"));
  EXPECT_FALSE(m.complete());
  ASSERT_TRUE(m.accept(uint8_t('}')));
  EXPECT_TRUE(m.complete());
  EXPECT_FALSE(m.accept(uint8_t('}')));
  EXPECT_FALSE(m.accept(uint8_t(' ')));
  EXPECT_TRUE(m.complete());
}

TEST(JsonMatcher, ByteByByteEqualsWholeString) {
  auto person = compile_ok(kPersonSchema);
  const std::vector<std::string> docs = {
      R"({"a":1,"b":[true,null,{"c":"x\n\u00e9"}],"d":-0.5e+3})",
      R"({"a":01})",
      R"({"name":"x","age":3,"tags":["bb"]})",
      R"({"name":"x","age":3.5})",
      R"({"name":"x", "tags":["a", "c"]})",
  };
  for (const auto* s : {JsonSchema::any_object().get(), person.get()}) {
    for (const std::string& d : docs) {
      JsonMatcher whole(*s);
      const bool whole_ok = whole.accept(d);
      const size_t prefix = accepted_prefix(*s, d);
      EXPECT_EQ(whole_ok, prefix == d.size()) << d;
      if (whole_ok) {
        JsonMatcher bytes(*s);
        for (char c : d) ASSERT_TRUE(bytes.accept(uint8_t(c)));
        EXPECT_EQ(whole.complete(), bytes.complete()) << d;
      }
    }
  }
}

// At every prefix of a valid document, trying every byte the matcher rejects
// must leave it able to finish the document exactly as an untouched copy.
TEST(JsonMatcher, RejectedByteLeavesStateUnchanged) {
  auto any = JsonSchema::any_object();
  auto person = compile_ok(kPersonSchema);
  auto numbers = compile_ok(R"({"type":"array","items":{"enum":[1,12,"x"]}})");
  const std::vector<std::pair<const JsonSchema*, std::string>> cases = {
      {any.get(), R"({"a":1,"b":[true,null,{"c":"x\n\ud83d\ude00"}],"d":-0.5e+3, "e":")" "\xc3\xa9\"}"},
      {person.get(), R"({"name":"x", "age":30,"tags":["a","bb"]})"},
      {numbers.get(), R"([1,12, "x",1])"},
  };
  for (const auto& [schema, doc] : cases) {
    JsonMatcher m(*schema);
    for (size_t i = 0; i <= doc.size(); ++i) {
      int rejected = 0;
      for (int b = 0; b < 256; ++b) {
        JsonMatcher probe = m;
        if (probe.accept(uint8_t(b))) continue;
        ++rejected;
        EXPECT_EQ(probe.complete(), m.complete());
        EXPECT_TRUE(probe.accept(std::string_view(doc).substr(i))) << doc << " at " << i << " after byte " << b;
        EXPECT_TRUE(probe.complete()) << doc << " at " << i << " after byte " << b;
      }
      EXPECT_GT(rejected, 0);
      if (i < doc.size()) ASSERT_TRUE(m.accept(uint8_t(doc[i])));
    }
    EXPECT_TRUE(m.complete());
  }
}

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
      {R"({"type":"object","properties":{"name":{"type":"string","pattern":"^a"}}})",
       "'pattern' at $.properties.name is not supported"},
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

TEST(JsonSchema, AnnotationsAndUnenforcedKeywordsAreAccepted) {
  auto s = compile_ok(R"({
    "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "x", "title": "T", "description": "D",
    "$defs": {"unused": {"pattern": "ignored, never referenced"}},
    "type": "object",
    "properties": {
      "when": {"type": "string", "format": "date-time", "examples": ["2024"], "default": "now"},
      "n": {"type": "number", "minimum": 0, "exclusiveMaximum": 5, "multipleOf": 0.5, "deprecated": true}
    },
    "required": ["when", "n"]
  })");
  expect_document(*s, R"({"when":"not a date","n":99})");
}

// ---------------------------------------------------------------------------
// $ref, anyOf / oneOf and lists of types

// What the OpenAI Python SDK sends for client.beta.chat.completions.parse(
// response_format=Person) with Pydantic models (Optional[int], a nested model).
constexpr std::string_view kPydanticSchema = R"({
  "$defs": {"Address": {"properties": {"city": {"title": "City", "type": "string"}}, "required": ["city"],
                        "title": "Address", "type": "object", "additionalProperties": false}},
  "properties": {"name": {"title": "Name", "type": "string"},
                 "age": {"anyOf": [{"type": "integer"}, {"type": "null"}], "title": "Age"},
                 "home": {"$ref": "#/$defs/Address"},
                 "tags": {"items": {"type": "string"}, "title": "Tags", "type": "array"}},
  "required": ["name", "age", "home", "tags"], "title": "Person", "type": "object", "additionalProperties": false
})";

// Where `text` first has `needle`, plus `plus`: the byte a rejection names.
size_t at(std::string_view text, std::string_view needle, size_t plus = 0) {
  const size_t i = text.find(needle);
  EXPECT_NE(i, std::string_view::npos) << needle << " not in " << text;
  return i + plus;
}

// The message of a schema's compile error must contain `needle` (and have the prefix).
void expect_compile_error(std::string_view schema, std::string_view needle) {
  const std::string msg = compile_error(schema);
  EXPECT_NE(msg.find(needle), std::string::npos) << schema << "\n -> " << msg << "\n expected: " << needle;
  EXPECT_EQ(msg.rfind("json_schema: ", 0), 0u) << msg;
}

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
  expect_compile_error(R"({"$ref": "#/$defs/A", "$defs": {"A": {"type": "string", "pattern": "^a"}}})",
                       "'pattern' at $ is not supported");
  // Keywords beside $ref / anyOf other than annotations.
  expect_compile_error(R"({"$ref": "#/$defs/A", "type": "object", "$defs": {"A": {}}})",
                       "json_schema: 'type' next to '$ref' at $ is not supported");
  expect_compile_error(R"({"type": "object", "anyOf": [{"required": ["a"]}, {"type": "null"}]})",
                       "json_schema: 'type' next to 'anyOf' at $ is not supported");
  expect_compile_error(R"({"anyOf": [{"type": "string"}], "oneOf": [{"type": "string"}]})",
                       "'oneOf' next to 'anyOf' at $");
  // Alternatives that can start with the same byte.
  expect_compile_error(R"({"type": "object", "properties": {"x": {"anyOf": [
                           {"type": "object", "properties": {"a": {}}}, {"type": "object", "properties": {"b": {}}}]}}})",
                       "json_schema: 'anyOf' at $.properties.x: alternatives 0 and 1 can both start with '{'; only "
                       "alternatives of different JSON types are supported");
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
  expect_compile_error(R"({"anyOf": [{"type": "null"}, {"type": "string", "pattern": "a"}]})",
                       "'pattern' at $.anyOf[1] is not supported");
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

constexpr std::string_view kUnionItemsSchema = R"({"type": "array", "items": {"anyOf": [
  {"type": "integer"}, {"type": "string", "maxLength": 2}, {"type": "null"}, {"type": "boolean"},
  {"type": "object", "properties": {"k": {"type": ["number", "string"]}}}, {"type": "array", "items": {"type": "integer"}}]}})";

TEST(JsonSchemaUnion, ByteByByteEqualsWholeString) {
  auto pydantic = compile_ok(kPydanticSchema);
  auto items = compile_ok(kUnionItemsSchema);
  const std::vector<std::string> docs = {
      R"({"name":"Ada","age":null,"home":{"city":"X"},"tags":[]})",
      R"({"name":"Ada","age":36,"home":{"city":"X"},"tags":["t"]})",
      R"({"name":"Ada","age":"36","home":{"city":"X"},"tags":[]})",
      R"({"name":"Ada","age":36,"tags":[]})",
      R"([1,"ab",null,true,{"k":-2.5},{"k":"v"},[3, 4],false])",
      R"([1,"abc"])",
      R"([{"k":null}])",
      R"([[1,"x"]])",
  };
  for (const auto* s : {pydantic.get(), items.get()}) {
    for (const std::string& d : docs) {
      JsonMatcher whole(*s);
      const bool whole_ok = whole.accept(d);
      const size_t prefix = accepted_prefix(*s, d);
      EXPECT_EQ(whole_ok, prefix == d.size()) << d;
      if (whole_ok) {
        JsonMatcher bytes(*s);
        for (char c : d) ASSERT_TRUE(bytes.accept(uint8_t(c)));
        EXPECT_EQ(whole.complete(), bytes.complete()) << d;
      }
    }
  }
  EXPECT_TRUE(matches(*pydantic, docs[0]));
  EXPECT_TRUE(matches(*pydantic, docs[1]));
  EXPECT_FALSE(matches(*pydantic, docs[2]));
  EXPECT_FALSE(matches(*pydantic, docs[3]));
  EXPECT_TRUE(matches(*items, docs[4]));
  for (size_t i = 5; i < docs.size(); ++i) EXPECT_FALSE(matches(*items, docs[i])) << docs[i];
}

// As RejectedByteLeavesStateUnchanged, for unions: at every prefix, every
// rejected byte leaves a state that finishes the document as before.
TEST(JsonSchemaUnion, RejectedByteLeavesStateUnchanged) {
  auto pydantic = compile_ok(kPydanticSchema);
  auto items = compile_ok(kUnionItemsSchema);
  auto top = compile_ok(R"({"anyOf": [{"type": "number"}, {"type": "null"}, {"enum": ["a", true]}]})");
  const std::vector<std::pair<const JsonSchema*, std::string>> cases = {
      {pydantic.get(), R"({"name":"Ada", "age":null,"home":{"city":"X"},"tags":["a", "b"]})"},
      {pydantic.get(), R"({"name":"Ada","age":-36,"home": {"city":"X"},"tags":[]})"},
      {items.get(), R"([1,"ab",null,true,{"k":-2.5},{"k":"v"},[3, 4],false, {}])"},
      {top.get(), "-1.5e3"},
      {top.get(), "null"},
      {top.get(), R"("a")"},
  };
  for (const auto& [schema, doc] : cases) {
    JsonMatcher m(*schema);
    for (size_t i = 0; i <= doc.size(); ++i) {
      int rejected = 0;
      for (int b = 0; b < 256; ++b) {
        JsonMatcher probe = m;
        if (probe.accept(uint8_t(b))) continue;
        ++rejected;
        EXPECT_EQ(probe.complete(), m.complete());
        std::string before, after;
        m.state_key(before);
        probe.state_key(after);
        EXPECT_EQ(before, after) << doc << " at " << i << " after byte " << b;
        EXPECT_TRUE(probe.accept(std::string_view(doc).substr(i))) << doc << " at " << i << " after byte " << b;
        EXPECT_TRUE(probe.complete()) << doc << " at " << i << " after byte " << b;
      }
      EXPECT_GT(rejected, 0);
      if (i < doc.size()) ASSERT_TRUE(m.accept(uint8_t(doc[i]))) << doc << " at " << i;
    }
    EXPECT_TRUE(m.complete()) << doc;
  }
}

TEST(JsonSchemaUnion, FreeStringsAndStateKeys) {
  // A union's string alternative is matched as that string: the plain-byte
  // fast path applies inside an unbounded one, and its state repeats.
  auto s = compile_ok(R"({"type": "object", "properties": {
    "free": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    "bounded": {"type": ["string", "null"], "maxLength": 9}}})");
  struct Case {
    const char* a;
    const char* b;
    bool free;
  };
  for (const Case& c : {Case{R"({"free":"ab)", R"({"free":"abcd)", true},
                        Case{R"({"bounded":"ab)", R"({"bounded":"abcd)", false}}) {
    JsonMatcher a(*s), b(*s);
    ASSERT_TRUE(a.accept(std::string_view(c.a)));
    ASSERT_TRUE(b.accept(std::string_view(c.b)));
    EXPECT_EQ(a.in_free_string(), c.free) << c.a;
    EXPECT_EQ(b.in_free_string(), c.free) << c.b;
    std::string ka, kb;
    a.state_key(ka);
    b.state_key(kb);
    EXPECT_EQ(ka == kb, c.free) << c.a;
    // Plain bytes keep the state of a free string.
    JsonMatcher next = a;
    ASSERT_TRUE(next.accept(std::string_view("xyz 1")));
    std::string kn;
    next.state_key(kn);
    EXPECT_EQ(kn == ka, c.free) << c.a;
  }
  JsonMatcher n(*s);
  ASSERT_TRUE(n.accept(std::string_view(R"({"free":nu)")));
  EXPECT_FALSE(n.in_free_string());
}

}  // namespace
}  // namespace sable
