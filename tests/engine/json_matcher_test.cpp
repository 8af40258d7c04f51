// The byte matcher on compact JSON documents: acceptance, completeness, and
// its two general properties (whole text == byte by byte; a rejected byte
// changes nothing), also through unions; free strings and state keys.
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

TEST(JsonMatcher, StateIsSmallAndTriviallyCopyable) {
  static_assert(std::is_trivially_copyable_v<JsonMatcher>);
  std::printf("sizeof(JsonMatcher) = %zu\n", sizeof(JsonMatcher));
  // 376 bytes: 128 of them the object-union counts (32 alternatives x 4
  // nesting levels), which long tool lists under tool_choice "required" need.
  EXPECT_LE(sizeof(JsonMatcher), 400u);
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

// A top-level number or literal can be complete and still go on: the
// engine must let the model end it (EOS) or continue ("1" -> "12"), not
// stop the text at its first complete prefix. Inside a container it ends
// with the container's next byte, so there it never "may continue".
TEST(JsonMatcher, TopLevelScalarMayGoOn) {
  struct Case {
    const char* schema;
    const char* text;
    bool complete, may_continue;
  };
  const Case cases[] = {
      {R"({"type": "integer"})", "1", true, true},
      {R"({"type": "integer"})", "12", true, true},
      {R"({"type": "integer"})", "-", false, false},
      {R"({"type": "integer"})", "0", true, false},  // "00", "0.", "0e" are not integers
      {R"({"type": "number"})", "0", true, true},    // "0.5"
      {R"({"type": "number"})", "1.", false, false},
      {R"({"type": "number"})", "1.5", true, true},
      {R"({"type": "number"})", "1e3", true, true},
      {R"({"enum": [1, 12]})", "1", true, true},
      {R"({"enum": [1, 12]})", "12", true, false},
      {R"({"enum": ["a", "ab"]})", "\"a\"", true, false},
      {R"({"type": "boolean"})", "true", true, false},
      {R"({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})", R"({"n":1})", true,
       false},
      {R"({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})", R"({"n":1)", false,
       false},
  };
  for (const Case& c : cases) {
    auto s = compile_ok(c.schema);
    ASSERT_TRUE(s) << c.schema;
    JsonMatcher m(*s);
    ASSERT_TRUE(m.accept(std::string_view(c.text))) << c.schema << " " << c.text;
    EXPECT_EQ(m.complete(), c.complete) << c.schema << " " << c.text;
    EXPECT_EQ(m.may_continue(), c.may_continue) << c.schema << " " << c.text;
  }
}

// A string's "pattern": its decoded characters (escapes included) match the
// whole pattern; the closing quote only where the pattern accepts.
TEST(JsonMatcher, StringPattern) {
  auto s = compile_ok(R"({"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]{2}\\d{2}$"},
      "line": {"type": "string", "pattern": "a\\nb"}, "e": {"type": "string", "pattern": "^\u00e9+$"},
      "one": {"type": "string", "pattern": "^.$"}}})");
  expect_document(*s, R"({"code":"AB12"})");
  expect_rejected_at(*s, R"({"code":"ab12"})", 9);
  expect_rejected_at(*s, R"({"code":"AB1"})", 12);  // the quote before the pattern is done
  expect_rejected_at(*s, R"({"code":"AB123"})", 13);
  expect_document(*s, R"({"line":"a\nb"})");      // an escaped newline is the pattern's \n
  expect_rejected_at(*s, R"({"line":"a\tb"})", 11);
  expect_document(*s, "{\"e\":\"\xC3\xA9\xC3\xA9\"}");  // é raw
  expect_document(*s, R"({"e":"\u00e9\u00E9"})");              // and escaped
  expect_document(*s, R"({"one":"\ud83d\ude00"})");            // a surrogate pair is one character
  expect_rejected_at(*s, R"({"one":"ab"})", 9);
  expect_rejections_keep_state(*s, R"({"code":"AB12","line":"a\nb","e":"\u00e9","one":"x"})");
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
  for (const auto* s : {JsonSchema::any_object().get(), person.get()})
    for (const std::string& d : docs) expect_bytewise_equals_whole(*s, d);
}

TEST(JsonMatcher, UnionsByteByByteEqualsWholeString) {
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
  for (const auto* s : {pydantic.get(), items.get()})
    for (const std::string& d : docs) expect_bytewise_equals_whole(*s, d);
  EXPECT_TRUE(matches(*pydantic, docs[0]));
  EXPECT_TRUE(matches(*pydantic, docs[1]));
  EXPECT_FALSE(matches(*pydantic, docs[2]));
  EXPECT_FALSE(matches(*pydantic, docs[3]));
  EXPECT_TRUE(matches(*items, docs[4]));
  for (size_t i = 5; i < docs.size(); ++i) EXPECT_FALSE(matches(*items, docs[i])) << docs[i];
}

// At every prefix of a valid document, trying every byte the matcher rejects
// must leave it able to finish the document exactly as an untouched copy.
TEST(JsonMatcher, RejectedByteLeavesStateUnchanged) {
  auto any = JsonSchema::any_object();
  auto person = compile_ok(kPersonSchema);
  auto numbers = compile_ok(R"({"type":"array","items":{"enum":[1,12,"x"]}})");
  auto pydantic = compile_ok(kPydanticSchema);
  auto items = compile_ok(kUnionItemsSchema);
  auto top = compile_ok(R"({"anyOf": [{"type": "number"}, {"type": "null"}, {"enum": ["a", true]}]})");
  const std::vector<std::pair<const JsonSchema*, std::string>> cases = {
      {any.get(), R"({"a":1,"b":[true,null,{"c":"x\n\ud83d\ude00"}],"d":-0.5e+3, "e":")" "\xc3\xa9\"}"},
      {person.get(), R"({"name":"x", "age":30,"tags":["a","bb"]})"},
      {numbers.get(), R"([1,12, "x",1])"},
      {pydantic.get(), R"({"name":"Ada", "age":null,"home":{"city":"X"},"tags":["a", "b"]})"},
      {pydantic.get(), R"({"name":"Ada","age":-36,"home": {"city":"X"},"tags":[]})"},
      {items.get(), R"([1,"ab",null,true,{"k":-2.5},{"k":"v"},[3, 4],false, {}])"},
      {top.get(), "-1.5e3"},
      {top.get(), "null"},
      {top.get(), R"("a")"},
  };
  for (const auto& [schema, doc] : cases) expect_rejections_keep_state(*schema, doc);
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
