#include "engine/json_schema_util.h"

#include <gtest/gtest.h>

namespace sable::testing {

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

void expect_document(const JsonSchema& schema, std::string_view text) {
  JsonMatcher m(schema);
  for (size_t i = 0; i < text.size(); ++i) {
    EXPECT_FALSE(m.complete()) << text << " complete after " << i << " bytes";
    ASSERT_TRUE(m.accept(uint8_t(text[i]))) << text << " rejected at byte " << i;
  }
  EXPECT_TRUE(m.complete()) << text;
}

void expect_matches(const JsonSchema& schema, std::string_view text) {
  EXPECT_TRUE(matches(schema, text)) << text;
}

void expect_rejected_at(const JsonSchema& schema, std::string_view text, size_t at) {
  EXPECT_EQ(accepted_prefix(schema, text), at) << text;
}

void expect_incomplete(const JsonSchema& schema, std::string_view text) {
  JsonMatcher m(schema);
  EXPECT_TRUE(m.accept(text)) << text;
  EXPECT_FALSE(m.complete()) << text;
}

size_t at(std::string_view text, std::string_view needle, size_t plus) {
  const size_t i = text.find(needle);
  EXPECT_NE(i, std::string_view::npos) << needle << " not in " << text;
  return i + plus;
}

void expect_compile_error(std::string_view schema, std::string_view needle) {
  const std::string msg = compile_error(schema);
  EXPECT_NE(msg.find(needle), std::string::npos) << schema << "\n -> " << msg << "\n expected: " << needle;
  EXPECT_EQ(msg.rfind("json_schema: ", 0), 0u) << msg;
}

void expect_bytewise_equals_whole(const JsonSchema& schema, std::string_view text) {
  JsonMatcher whole(schema);
  const bool whole_ok = whole.accept(text);
  EXPECT_EQ(whole_ok, accepted_prefix(schema, text) == text.size()) << text;
  if (!whole_ok) return;
  JsonMatcher bytes(schema);
  for (char c : text) ASSERT_TRUE(bytes.accept(uint8_t(c)));
  EXPECT_EQ(whole.complete(), bytes.complete()) << text;
}

void expect_rejections_keep_state(const JsonSchema& schema, std::string_view doc) {
  JsonMatcher m(schema);
  std::string before, after;
  for (size_t i = 0; i <= doc.size(); ++i) {
    int rejected = 0;
    m.state_key(before);
    for (int b = 0; b < 256; ++b) {
      JsonMatcher probe = m;
      if (probe.accept(uint8_t(b))) continue;
      ++rejected;
      EXPECT_EQ(probe.complete(), m.complete());
      probe.state_key(after);
      EXPECT_EQ(before, after) << doc << " at " << i << " after byte " << b;
      EXPECT_TRUE(probe.accept(doc.substr(i))) << doc << " at " << i << " after byte " << b;
      EXPECT_TRUE(probe.complete()) << doc << " at " << i << " after byte " << b;
    }
    EXPECT_GT(rejected, 0);
    if (i < doc.size()) ASSERT_TRUE(m.accept(uint8_t(doc[i]))) << doc << " at " << i;
  }
  EXPECT_TRUE(m.complete()) << doc;
}

}  // namespace sable::testing
