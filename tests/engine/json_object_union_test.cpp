// Object unions in structured output (engine/json_object_union.h): anyOf /
// oneOf among closed objects, checked against the alternatives' own matchers
// (a document is accepted exactly when one of them accepts it), for dead
// ends (every reachable state can still finish), and for the limits' errors.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/json_schema_util.h"

namespace sable {
namespace {

using testing::compile_ok;
using testing::expect_bytewise_equals_whole;
using testing::expect_compile_error;
using testing::expect_document;
using testing::expect_rejected_at;
using testing::expect_rejections_keep_state;
using testing::matches;

// What the OpenAI SDK sends for a Pydantic field `pet: Union[Cat, Dog]`
// discriminated by a Literal pet_type.
constexpr std::string_view kPets = R"({
  "$defs": {
    "Cat": {"properties": {"pet_type": {"const": "cat", "title": "Pet Type", "type": "string"},
                           "meows": {"title": "Meows", "type": "integer"}},
            "required": ["pet_type", "meows"], "title": "Cat", "type": "object", "additionalProperties": false},
    "Dog": {"properties": {"pet_type": {"const": "dog", "title": "Pet Type", "type": "string"},
                           "barks": {"title": "Barks", "type": "number"}},
            "required": ["pet_type", "barks"], "title": "Dog", "type": "object", "additionalProperties": false}},
  "properties": {"pet": {"anyOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}], "title": "Pet"}},
  "required": ["pet"], "title": "Owner", "type": "object", "additionalProperties": false})";

TEST(JsonObjectUnion, DiscriminatedPydanticUnion) {
  auto s = compile_ok(kPets);
  const std::string cat = R"({"pet": {"pet_type": "cat", "meows": 3}})";
  const std::string dog = R"({"pet": {"pet_type": "dog", "barks": 1.5}})";
  expect_document(*s, cat);
  expect_document(*s, dog);
  expect_rejections_keep_state(*s, cat);
  expect_rejections_keep_state(*s, dog);
  expect_bytewise_equals_whole(*s, dog);
  // A cat's fields after the dog's discriminator, an unknown pet, a missing field.
  expect_rejected_at(*s, R"({"pet": {"pet_type": "dog", "meows": 3}})", 29);
  expect_rejected_at(*s, R"({"pet": {"pet_type": "cow", "barks": 1}})", 23);
  expect_rejected_at(*s, R"({"pet": {"pet_type": "cat"}})", 26);
  EXPECT_FALSE(matches(*s, R"({"pet": {"meows": 3}})"));
}

// Pydantic's Field(discriminator=...): oneOf and OpenAPI's discriminator
// (a hint: which alternative applies is what oneOf already says).
TEST(JsonObjectUnion, OneOfWithADiscriminator) {
  auto s = compile_ok(R"({"$defs": {
      "Cat": {"properties": {"kind": {"const": "cat", "type": "string"}, "lives": {"type": "integer"}},
              "required": ["kind", "lives"], "type": "object"},
      "Dog": {"properties": {"kind": {"const": "dog", "type": "string"}, "good": {"type": "boolean"}},
              "required": ["kind", "good"], "type": "object"}},
    "properties": {"pet": {"discriminator": {"mapping": {"cat": "#/$defs/Cat", "dog": "#/$defs/Dog"},
                                             "propertyName": "kind"},
                           "oneOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}]}},
    "required": ["pet"], "type": "object"})");
  expect_document(*s, R"({"pet": {"kind": "dog", "good": true}})");
  expect_document(*s, R"({"pet": {"kind": "cat", "lives": 9}})");
  expect_rejected_at(*s, R"({"pet": {"kind": "cat", "good": true}})", 25);
}

TEST(JsonObjectUnion, AlternativesFollowTheirOwnPropertyOrder) {
  auto s = compile_ok(R"({"anyOf": [
      {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}, "required": ["a"]},
      {"type": "object", "properties": {"a": {"type": "integer"}, "c": {"type": "boolean"}}, "required": ["a"]},
      {"type": "object", "properties": {"c": {"type": "boolean"}, "d": {"type": "null"}}, "required": ["d"]}]})");
  expect_document(*s, R"({"a": 1})");
  expect_document(*s, R"({"a": 1, "b": "x"})");
  expect_document(*s, R"({"a": 1, "c": true})");
  expect_document(*s, R"({"c": false, "d": null})");
  expect_document(*s, R"({"d": null})");
  // b then c: no alternative has both; b before a: a is required first.
  expect_rejected_at(*s, R"({"a": 1, "b": "x", "c": true})", 17);
  expect_rejected_at(*s, R"({"b": "x"})", 2);
  // {} needs a (first two) or d (third).
  expect_rejected_at(*s, "{}", 1);
  EXPECT_FALSE(matches(*s, R"({"c": true})"));
}

// The alternatives as their own schemas, and their union.
struct Union {
  std::vector<std::string> alts;
  std::string schema() const {
    std::string u = R"({"anyOf": [)";
    for (size_t i = 0; i < alts.size(); ++i) u += (i ? ", " : "") + alts[i];
    return u + "]}";
  }
};

// Documents from the keys and values the alternatives use: objects of 0-3
// entries in any order, the values valid for some alternatives and not others.
std::vector<std::string> candidate_documents(const std::vector<std::string>& keys,
                                             const std::vector<std::string>& values, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> docs = {"{}"};
  for (int i = 0; i < n; ++i) {
    const int entries = int(rng() % 4);
    std::string d = "{";
    for (int e = 0; e < entries; ++e) {
      d += (e ? ", \"" : "\"") + keys[rng() % keys.size()] + "\": " + values[rng() % values.size()];
    }
    docs.push_back(d + "}");
  }
  return docs;
}

TEST(JsonObjectUnion, AcceptsExactlyWhatOneAlternativeAccepts) {
  const std::vector<Union> unions = {
      {{R"({"type": "object", "properties": {"kind": {"enum": ["x", "y"]}, "p": {"type": "integer"}},
            "required": ["kind"]})",
        R"({"type": "object", "properties": {"kind": {"const": "y"}, "q": {"type": "string"}},
            "required": ["kind", "q"]})",
        R"({"type": "object", "properties": {"r": {"type": "boolean"}, "kind": {"enum": ["z", 1]}}})"}},
      {{R"({"type": "object", "properties": {"p": {"type": "integer"}, "q": {"type": "string"}}, "required": ["q"]})",
        R"({"type": "object", "properties": {"q": {"type": "string"}, "p": {"type": "integer"}}})",
        R"({"type": "object", "properties": {"r": {"type": "boolean"}}, "additionalProperties": false})",
        R"({"type": "object", "properties": {}, "additionalProperties": false})"}},
      // Tagged: p's schema differs, told apart by the required kind before it.
      {{R"({"type": "object", "properties": {"kind": {"const": "x"}, "p": {"type": "integer"}}, "required": ["kind"]})",
        R"({"type": "object", "properties": {"kind": {"enum": ["y", "z"]}, "p": {"type": "string"}, "q": {}},
            "required": ["kind", "p"]})",
        R"({"type": "object", "properties": {"r": {"type": "boolean"}, "kind": {"const": "w"},
            "p": {"type": "object", "properties": {}}}, "required": ["kind"]})"}},
  };
  const std::vector<std::string> keys = {"kind", "p", "q", "r", "s"};
  const std::vector<std::string> values = {R"("x")", R"("y")", R"("z")", "1", "2.5", "true", "null", R"("yy")", "{}"};
  for (size_t u = 0; u < unions.size(); ++u) {
    auto whole = compile_ok(unions[u].schema());
    std::vector<std::shared_ptr<const JsonSchema>> alts;
    for (const std::string& a : unions[u].alts) alts.push_back(compile_ok(a));
    int accepted = 0;
    for (const std::string& d : candidate_documents(keys, values, 3000, 7 + uint32_t(u))) {
      bool any = false;
      for (const auto& a : alts) any = any || matches(*a, d);
      ASSERT_EQ(matches(*whole, d), any) << "union " << u << ": " << d;
      accepted += any;
      if (any) expect_rejections_keep_state(*whole, d);
    }
    EXPECT_GT(accepted, 20) << "union " << u << ": too few valid documents to mean much";
  }
}

// Every state reachable byte by byte can still finish a document: some byte
// is accepted, or the document is complete.
TEST(JsonObjectUnion, NoDeadEnds) {
  auto s = compile_ok(kPets);
  auto t = compile_ok(R"({"type": "array", "items": {"oneOf": [
      {"type": "object", "properties": {"k": {"enum": ["a", "b"]}, "v": {"type": "array", "items": {"enum": [1, 2]}}},
       "required": ["k"]},
      {"type": "object", "properties": {"k": {"const": "b"}, "w": {"anyOf": [
          {"type": "object", "properties": {"x": {"const": 1}}, "required": ["x"]},
          {"type": "object", "properties": {"x": {"const": 2}, "y": {"type": "null"}}, "required": ["y"]}]}},
       "required": ["w"]}]}, "maxItems": 3})");
  std::mt19937 rng(11);
  for (const JsonSchema* schema : {s.get(), t.get()}) {
    for (int walk = 0; walk < 300; ++walk) {
      JsonMatcher m(*schema);
      std::string text;
      for (int step = 0; step < 80 && !m.complete(); ++step) {
        std::vector<uint8_t> next;
        for (int b = 0; b < 256; ++b) {
          JsonMatcher c = m;
          if (c.accept(uint8_t(b))) next.push_back(uint8_t(b));
        }
        ASSERT_FALSE(next.empty()) << "dead end after " << text;
        // Mostly structure: plain string bytes would fill the walk.
        std::vector<uint8_t> structural;
        for (uint8_t b : next)
          if (!std::isalnum(b) || next.size() < 8) structural.push_back(b);
        const std::vector<uint8_t>& pick = structural.empty() || rng() % 4 == 0 ? next : structural;
        const uint8_t b = pick[rng() % pick.size()];
        ASSERT_TRUE(m.accept(b));
        text += char(b);
      }
    }
  }
}

TEST(JsonObjectUnion, NestedUnionsAndStateKeys) {
  auto s = compile_ok(R"({"anyOf": [
      {"type": "object", "properties": {"t": {"const": "a"}, "in": {"anyOf": [
          {"type": "object", "properties": {"u": {"const": 1}, "x": {"type": "integer"}}, "required": ["u", "x"]},
          {"type": "object", "properties": {"u": {"const": 2}, "y": {"type": "string"}}, "required": ["u", "y"]}]}},
       "required": ["t", "in"]},
      {"type": "object", "properties": {"t": {"const": "b"}}, "required": ["t"]}]})");
  expect_document(*s, R"({"t": "a", "in": {"u": 1, "x": 5}})");
  expect_document(*s, R"({"t": "a", "in": {"u": 2, "y": "q"}})");
  expect_document(*s, R"({"t": "b"})");
  expect_rejected_at(*s, R"({"t": "b", "in": {}})", 9);
  expect_rejected_at(*s, R"({"t": "a", "in": {"u": 1, "y": "q"}})", 27);
  // The live alternatives are part of the state: after {"t": "a" and after
  // {"t": "b" the same bytes follow, but not the same continuations.
  JsonMatcher a(*s), b(*s);
  ASSERT_TRUE(a.accept(R"({"t": "a")"));
  ASSERT_TRUE(b.accept(R"({"t": "b")"));
  std::string ka, kb;
  a.state_key(ka);
  b.state_key(kb);
  EXPECT_NE(ka, kb);
}

// What tool_choice "required" asks for (vLLM's schema): a list of calls,
// each a tool's name and that tool's own parameters.
TEST(JsonObjectUnion, TaggedUnionWithPerAlternativePayloads) {
  auto s = compile_ok(R"({"type": "array", "minItems": 1, "items": {"type": "object", "anyOf": [
      {"properties": {"name": {"type": "string", "enum": ["get_weather"]},
                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                     "required": ["city"]}},
       "required": ["name", "parameters"]},
      {"properties": {"name": {"type": "string", "enum": ["add"]},
                      "parameters": {"type": "object", "properties": {"a": {"type": "integer"},
                                     "b": {"type": "integer"}}, "required": ["a", "b"]}},
       "required": ["name", "parameters"]}]}})");
  const std::string two = R"([{"name": "add", "parameters": {"a": 1, "b": 2}}, )"
                          R"({"name": "get_weather", "parameters": {"city": "Paris"}}])";
  expect_document(*s, two);
  expect_rejections_keep_state(*s, two);
  expect_bytewise_equals_whole(*s, two);
  // add's parameters after get_weather's name, and the other way round.
  expect_rejected_at(*s, R"([{"name": "get_weather", "parameters": {"a": 1}}])", 41);
  expect_rejected_at(*s, R"([{"name": "add", "parameters": {"city": "x"}}])", 33);
  expect_rejected_at(*s, R"([{"name": "sub", "parameters": {}}])", 11);
  EXPECT_FALSE(matches(*s, "[]"));
}

// 32 tagged alternatives (a long tool list under tool_choice "required"):
// each value follows its own alternative's schema, the last one included.
TEST(JsonObjectUnion, ThirtyTwoAlternatives) {
  std::string u = R"({"anyOf": [)";
  for (int i = 0; i < 32; ++i)
    u += (i ? ", " : "") + std::string(R"({"properties": {"name": {"const": "f)") + std::to_string(i) +
         R"("}, "p": {"type": ")" + (i % 2 ? "integer" : "string") + R"("}}, "required": ["name", "p"]})";
  auto s = compile_ok(u + "]}");
  expect_document(*s, R"({"name": "f31", "p": 5})");
  expect_document(*s, R"({"name": "f30", "p": "x"})");
  expect_document(*s, R"({"name": "f0", "p": "y"})");
  expect_rejected_at(*s, R"({"name": "f31", "p": "x"})", 21);
  expect_rejected_at(*s, R"({"name": "f32", "p": 1})", 12);
}

TEST(JsonObjectUnion, CompileErrors) {
  const std::string differ =
      "different schemas; a property that objects of a union share may differ only in its const or enum values, "
      "or after a required const/enum property that tells the two apart (like a discriminator listed first)";
  expect_compile_error(R"({"anyOf": [{"type": "object", "properties": {"x": {"type": "integer"}}},
                                     {"type": "object", "properties": {"x": {"type": "string"}}}]})",
                       "json_schema: 'anyOf' at $: object alternatives 0 and 1 give property \"x\" " + differ);
  // The tag after the payload, an optional tag, tags with a value in common.
  expect_compile_error(R"({"anyOf": [
      {"type": "object", "properties": {"x": {"type": "integer"}, "t": {"const": 1}}, "required": ["x", "t"]},
      {"type": "object", "properties": {"x": {"type": "string"}, "t": {"const": 2}}, "required": ["x", "t"]}]})",
                       differ);
  expect_compile_error(R"({"anyOf": [
      {"type": "object", "properties": {"t": {"const": 1}, "x": {"type": "integer"}}, "required": ["x"]},
      {"type": "object", "properties": {"t": {"const": 2}, "x": {"type": "string"}}, "required": ["t", "x"]}]})",
                       differ);
  expect_compile_error(R"({"anyOf": [
      {"type": "object", "properties": {"t": {"enum": [1, 3]}, "x": {"type": "integer"}}, "required": ["t"]},
      {"type": "object", "properties": {"t": {"enum": [2, 3]}, "x": {"type": "string"}}, "required": ["t"]}]})",
                       differ);
  std::string many = R"({"oneOf": [)";
  for (int i = 0; i < 33; ++i)
    many += (i ? ", " : "") + std::string(R"({"type": "object", "properties": {"k": {"const": )") + std::to_string(i) +
            "}}}";
  expect_compile_error(many + "]}", "json_schema: 'oneOf' at $ has 33 object alternatives; at most 32 are supported");
  // Five object unions nested in one another's values.
  std::string deep = R"({"type": "null"})";
  for (int i = 0; i < 5; ++i)
    deep = R"({"anyOf": [{"type": "object", "properties": {"a": )" + deep +
           R"(}}, {"type": "object", "properties": {"b": {}}}]})";
  expect_compile_error(deep, "nests unions of objects more than 4 deep");
}

}  // namespace
}  // namespace sable
