// Structured output through the engine with the tiny fixture model (random
// weights, so left alone it writes no JSON): the text is always a valid
// prefix of a matching document, and a finite schema always completes with
// finish "stop" and parses.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/fixtures.h"
#include "engine/engine_util.h"
#include "engine/json_matcher.h"
#include "engine/regex_dfa.h"
#include "engine/token_trie.h"

namespace sable {
namespace {

using testing::tiny_model;

class StructuredOutput : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = Engine::create(testing::small_engine_config(), *tiny_model().model, tiny_model().tokenizer);
    ASSERT_TRUE(e.is_ok());
    engine_ = std::move(*e);
    prompt_ = testing::load_fixture_prompts("tiny-dsv3")[2].ids;
  }
  GenerateRequest request(std::shared_ptr<const JsonSchema> schema, float temperature, int max_tokens) {
    GenerateRequest r = testing::greedy_request(prompt_, max_tokens);
    r.params.temperature = temperature;
    r.params.seed = 7;
    r.params.json_schema = std::move(schema);
    return r;
  }
  std::unique_ptr<Engine> engine_;
  std::vector<int32_t> prompt_;
  bool longer_ = false;
};

std::shared_ptr<const JsonSchema> schema_of(const char* text) {
  auto s = JsonSchema::compile(nlohmann::ordered_json::parse(text));
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  return s.is_ok() ? *s : nullptr;
}

TEST_F(StructuredOutput, FiniteSchemaCompletesAndParses) {
  auto schema = schema_of(R"({"type": "object", "properties": {"color": {"enum": ["red", "green"]},
                              "ok": {"type": "boolean"}}, "required": ["color", "ok"]})");
  for (float t : {0.f, 1.f}) {
    auto out = testing::run_all(*engine_, {request(schema, t, 60)})[0][0];
    EXPECT_EQ(out.finish, "stop") << out.text;
    auto j = nlohmann::json::parse(out.text, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << out.text;
    ASSERT_TRUE(j.is_object()) << out.text;
    EXPECT_TRUE(j["color"] == "red" || j["color"] == "green") << out.text;
    EXPECT_TRUE(j["ok"].is_boolean()) << out.text;
    EXPECT_EQ(j.size(), 2u) << out.text;
  }
}

// A union of objects (json_object_union.h): the document completes as one
// of them, sampled or greedy.
TEST_F(StructuredOutput, ObjectUnionCompletesAsOneAlternative) {
  auto schema = schema_of(R"({"anyOf": [
      {"type": "object", "properties": {"kind": {"const": "cat"}, "lives": {"enum": [7, 9]}},
       "required": ["kind", "lives"]},
      {"type": "object", "properties": {"kind": {"const": "dog"}, "good": {"type": "boolean"}},
       "required": ["kind", "good"]}]})");
  for (float t : {0.f, 1.f}) {
    auto out = testing::run_all(*engine_, {request(schema, t, 60)})[0][0];
    EXPECT_EQ(out.finish, "stop") << out.text;
    auto j = nlohmann::json::parse(out.text, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << out.text;
    ASSERT_TRUE(j.is_object() && j.size() == 2) << out.text;
    if (j["kind"] == "cat") {
      EXPECT_TRUE(j["lives"] == 7 || j["lives"] == 9) << out.text;
    } else {
      EXPECT_EQ(j["kind"], "dog") << out.text;
      EXPECT_TRUE(j["good"].is_boolean()) << out.text;
    }
  }
}

// guided_choice: the text is exactly one of the choices. Where one is a
// prefix of another ("A", "AB", "ABC"), the text may end at it by EOS.
TEST_F(StructuredOutput, ChoiceIsExactlyOneOfTheTexts) {
  for (const std::vector<std::string>& choices : std::vector<std::vector<std::string>>{
           {"red", "green", "blue"}, {"A", "AB", "ABC"}, {"positive", "negative", "neutral ☀"}}) {
    auto schema = JsonSchema::choice(choices);
    ASSERT_TRUE(schema.is_ok());
    for (float t : {0.f, 1.f}) {
      GenerateRequest r = request(*schema, t, 40);
      r.params.ignore_eos = false;
      auto out = testing::run_all(*engine_, {r})[0][0];
      EXPECT_EQ(out.finish, "stop") << out.text;
      EXPECT_NE(std::find(choices.begin(), choices.end(), out.text), choices.end()) << "[" << out.text << "] t " << t;
    }
  }
}

// A top-level number is not cut at its first digit: the model ends it by
// EOS (or runs to max_tokens), and what it wrote is a number of the schema.
TEST_F(StructuredOutput, TopLevelNumberEndsByEos) {
  for (const char* text : {R"({"type": "integer"})", R"({"type": "number"})"}) {
    auto schema = schema_of(text);
    for (float t : {0.f, 1.f}) {
      GenerateRequest r = request(schema, t, 12);
      r.params.ignore_eos = false;
      auto out = testing::run_all(*engine_, {r})[0][0];
      JsonMatcher m(*schema);
      EXPECT_TRUE(m.accept(out.text)) << out.text;
      if (out.finish == "stop") {
        EXPECT_TRUE(m.complete()) << out.text;
        auto j = nlohmann::json::parse(out.text, nullptr, false);
        EXPECT_TRUE(std::string(text).find("integer") != std::string::npos ? j.is_number_integer() : j.is_number())
            << out.text;
      } else {
        EXPECT_EQ(out.finish, "length") << out.text;
      }
      // Stopped at its first complete prefix, a number would end within two tokens ("-", then digits); here
      // EOS is one allowed token among the digit tokens, so some run of the four goes on.
      if (out.ids.size() > 2) longer_ = true;
    }
  }
  EXPECT_TRUE(longer_) << "every number stopped within two tokens";
}

// guided_regex: the text matches the pattern as a whole; a pattern with a
// longest match ends there by itself, and where a match may also go on
// ("-ab" after "123") the model ends it by EOS.
TEST_F(StructuredOutput, RegexTextMatchesThePattern) {
  for (const char* pattern : {"\\d{3}(-[a-z]{2,4})?", "(yes|no|maybe)!?", "caf\u00e9 [A-Z][a-z]{1,3}"}) {
    auto schema = JsonSchema::regex(pattern);
    ASSERT_TRUE(schema.is_ok()) << schema.status().message();
    auto dfa = RegexDfa::compile(pattern);
    ASSERT_TRUE(dfa.is_ok());
    for (float t : {0.f, 1.f}) {
      GenerateRequest r = request(*schema, t, 40);
      r.params.ignore_eos = false;
      auto out = testing::run_all(*engine_, {r})[0][0];
      EXPECT_EQ(out.finish, "stop") << pattern << " [" << out.text << "]";
      EXPECT_TRUE(dfa->matches(out.text)) << pattern << " [" << out.text << "] t " << t;
    }
  }
}

TEST_F(StructuredOutput, JsonObjectTextIsAlwaysAValidPrefix) {
  auto any = JsonSchema::any_object();
  for (float t : {0.f, 1.f}) {
    auto out = testing::run_all(*engine_, {request(any, t, 40)})[0][0];
    JsonMatcher m(*any);
    EXPECT_TRUE(m.accept(out.text)) << out.text;
    EXPECT_EQ(out.text[0], '{') << out.text;
    if (out.finish == "stop") {
      EXPECT_TRUE(m.complete()) << out.text;
      EXPECT_TRUE(nlohmann::json::parse(out.text, nullptr, false).is_object()) << out.text;
    } else {
      EXPECT_EQ(out.finish, "length");
    }
  }
}

// With structured_after (the reasoning's end marker, set by the server when
// a reasoning parser runs), the output is unconstrained up to and including
// the marker and a matching document after it. The tiny model never writes
// "</think>", so the marker here is the bytes of its first three greedy
// tokens: greedy decoding must reproduce them exactly (no mask yet), and the
// constraint must take over from the fourth.
TEST_F(StructuredOutput, ConstraintStartsAfterTheReasoningMarker) {
  const Tokenizer& tok = *tiny_model().tokenizer;
  auto bytes_of = [&](const std::vector<int32_t>& ids, size_t from) {
    std::string b;
    for (size_t i = from; i < ids.size(); ++i) tok.append_bytes(ids[i], /*skip_special_tokens=*/false, b);
    return b;
  };
  const std::vector<int32_t> head = testing::run_all(*engine_, {testing::greedy_request(prompt_, 3)})[0][0].ids;
  ASSERT_EQ(head.size(), 3u);
  auto schema = schema_of(R"({"type": "object", "properties": {"color": {"enum": ["red", "green"]}},
                              "required": ["color"]})");
  GenerateRequest r = request(schema, 0.f, 60);
  r.params.structured_after = bytes_of(head, 0);
  auto out = testing::run_all(*engine_, {r})[0][0];
  ASSERT_GT(out.ids.size(), 3u);
  EXPECT_EQ(std::vector<int32_t>(out.ids.begin(), out.ids.begin() + 3), head);
  const std::string doc = bytes_of(out.ids, 3);
  EXPECT_EQ(out.finish, "stop") << doc;
  auto j = nlohmann::json::parse(doc, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << doc;
  EXPECT_TRUE(j["color"] == "red" || j["color"] == "green") << doc;

  // A marker that never comes: never constrained, the plain greedy tokens.
  GenerateRequest never = request(schema, 0.f, 20);
  never.params.structured_after = "\x01never\x01";
  EXPECT_EQ(testing::run_all(*engine_, {never})[0][0].ids,
            testing::run_all(*engine_, {testing::greedy_request(prompt_, 20)})[0][0].ids);
}

TEST_F(StructuredOutput, UnconstrainedOutputIsNotJson) {
  // The constraint is what makes the JSON: the same request without it.
  auto out = testing::run_all(*engine_, {testing::greedy_request(prompt_, 20)})[0][0];
  JsonMatcher m(*JsonSchema::any_object());
  EXPECT_FALSE(m.accept(out.text)) << out.text;
}

TEST(TokenTrie, AllowedTokensAreExactlyThoseTheMatcherAccepts) {
  const auto& tok = *tiny_model().tokenizer;
  const int64_t V = tiny_model().model->config().vocab_size;
  TokenTrie trie(tok, V);
  EXPECT_GT(trie.num_plain_tokens(), 0u);
  auto schema = schema_of(R"({"type": "object", "properties": {"n": {"type": "integer"}, "s": {"type": "string"},
                              "b": {"type": "string", "maxLength": 3},
                              "p": {"type": "string", "pattern": "^[a-f]+( [0-9]+)*$"}}, "required": ["n"]})");
  auto pets = schema_of(R"({"anyOf": [
      {"type": "object", "properties": {"kind": {"const": "cat"}, "lives": {"type": "integer"}}},
      {"type": "object", "properties": {"kind": {"enum": ["dog", "cow"]}, "good": {"type": "boolean"}}}]})");
  // In a number, inside a free string (the plain-token fast path), inside a
  // bounded string, in a free key, mid-way through a UTF-8 character, in
  // an object union's key and discriminator value, and in strings with a
  // pattern (never the fast path).
  const std::pair<const JsonSchema*, const char*> states[] = {
      {schema.get(), "{\"n\":1"},          {schema.get(), "{\"n\":1,\"s\":\"ab"},
      {schema.get(), "{\"n\":1,\"b\":\"a"}, {JsonSchema::any_object().get(), "{\"k"},
      {schema.get(), "{\"n\":1,\"s\":\"\xc3"}, {pets.get(), "{\"kind\":\"dog\",\""},
      {pets.get(), "{\"kind\":\""},   {schema.get(), "{\"n\":1,\"p\":\"ab"},
      {schema.get(), "{\"n\":1,\"p\":\"ab 1"}};
  auto any = JsonSchema::any_object();  // keeps the any_object schema alive
  for (const auto& [sc, prefix] : states) {
    JsonMatcher m(*sc);
    ASSERT_TRUE(m.accept(std::string_view(prefix))) << prefix;
    std::vector<uint8_t> allowed;
    const int64_t count = trie.allowed_tokens(m, allowed);
    int64_t brute = 0;
    for (int32_t id = 0; id < int32_t(V); ++id) {
      std::string b;
      tok.append_bytes(id, false, b);
      JsonMatcher c = m;
      const bool ok = !tok.is_special(id) && !b.empty() && c.accept(std::string_view(b));
      EXPECT_EQ(bool(allowed[size_t(id)]), ok) << prefix << ": token " << id << " '" << b << "'";
      brute += ok;
    }
    EXPECT_EQ(count, brute) << prefix;
    EXPECT_GT(count, 0) << prefix;
    std::vector<uint8_t> again;
    EXPECT_EQ(trie.allowed_tokens(m, again), count);  // from the cache
    EXPECT_EQ(again, allowed);
  }
}

// The mask cache outlives requests and their schemas; a schema freed and
// another allocated at its address must not get the first one's masks.
TEST(TokenTrie, MasksOfAFreedSchemaDoNotServeTheNextOne) {
  const auto& tok = *tiny_model().tokenizer;
  const int64_t V = tiny_model().model->config().vocab_size;
  TokenTrie cached(tok, V);
  for (int i = 0; i < 20; ++i) {
    auto s = JsonSchema::choice(i % 2 ? std::vector<std::string>{"red", "green"} : std::vector<std::string>{"AB", "C"});
    ASSERT_TRUE(s.is_ok());
    JsonMatcher m(**s);
    std::vector<uint8_t> got, want;
    cached.allowed_tokens(m, got);
    TokenTrie fresh(tok, V);
    fresh.allowed_tokens(m, want);
    ASSERT_EQ(got, want) << "schema " << i;
  }
}

TEST(TokenTrie, StateKeysRepeatInsideUnboundedStringsOnly) {
  auto free = schema_of(R"({"type": "object", "properties": {"s": {"type": "string"}}})");
  auto bounded = schema_of(R"({"type": "object", "properties": {"s": {"type": "string", "maxLength": 9}}})");
  for (const auto* sc : {free.get(), bounded.get()}) {
    JsonMatcher a(*sc), b(*sc);
    ASSERT_TRUE(a.accept(std::string_view("{\"s\":\"ab")));
    ASSERT_TRUE(b.accept(std::string_view("{\"s\":\"abcd")));
    std::string ka, kb;
    a.state_key(ka);
    b.state_key(kb);
    // Same future for the free string (any content, then a quote); the
    // bounded one has 7 and 5 characters left.
    EXPECT_EQ(ka == kb, sc == free.get());
  }
}

}  // namespace
}  // namespace sable
