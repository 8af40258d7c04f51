// JSON Schema string formats enforced by structured output
// (engine/json_schema_formats.h): each format's regular expression against
// valid and invalid examples, through the whole matcher (a string with the
// format, whole documents and byte by byte), and the errors.
#include "engine/json_schema_formats.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "engine/json_schema_util.h"

namespace sable {
namespace {

using testing::compile_ok;
using testing::expect_compile_error;
using testing::matches;

struct FormatCase {
  const char* format;
  std::vector<const char*> valid, invalid;
};

const std::vector<FormatCase>& cases() {
  static const std::vector<FormatCase> c = {
      {"date-time",
       {"2024-02-29T13:45:00Z", "1999-12-31T23:59:60.123+05:30", "2024-01-01T00:00:00-00:00"},
       {"2024-02-29 13:45:00Z", "2024-02-29t13:45:00Z", "2024-02-29T13:45:00z", "2024-13-01T00:00:00Z",
        "2024-01-32T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:00", "2024-01-01T00:00Z",
        "24-01-01T00:00:00Z"}},
      {"date", {"2024-02-29", "0001-01-01"}, {"2024-2-29", "2024-00-10", "2024-02-29T00:00:00Z", ""}},
      {"time",
       {"13:45:00Z", "00:00:00.5+01:00", "23:59:60Z"},
       {"13:45Z", "13:45:00z", "13:45:00", "25:00:00Z", "13:60:00Z"}},
      {"duration",
       {"P3Y6M4DT12H30M5S", "P1W", "PT0.5S", "P1D", "PT1M", "P1M", "PT36H", "-P1D"},
       {"P", "PT", "3Y", "P1W2D", "P1S", "PT1D", "P1.5D", "PT1.S", "+P1D"}},
      {"email",
       {"a@b.co", "first.last+tag@example.com", "x_y-z@sub.domain.org"},
       {"a@b", "@b.co", "a@.co", "a..b@c.de", "a@b-.co", "a b@c.de", "a@b.co."}},
      {"hostname", {"localhost", "example.com", "a-b.c-d.e", "x1"}, {"-a.com", "a-.com", "a..b", ".a", "a_b.com", ""}},
      {"ipv4",
       {"0.0.0.0", "192.168.1.255", "255.255.255.255"},
       {"256.0.0.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3."}},
      {"ipv6",
       {"::1", "::", "2001:db8::8a2e:370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "fe80::", "1:2:3:4:5:6:7::"},
       {"1::2::3", "12345::", ":1", "1:2:3:4:5:6:7:8:9", "g::1", "2001:db8:::1"}},
      {"uuid",
       {"123e4567-e89b-12d3-a456-426614174000", "00000000-0000-0000-0000-000000000000",
        "ABCDEF01-2345-6789-ABCD-EF0123456789"},
       {"123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400",
        "g23e4567-e89b-12d3-a456-426614174000"}},
  };
  return c;
}

// The regular expression alone, with std::regex (ECMAScript; the syntax used
// here means the same there) as an independent matcher.
TEST(JsonSchemaFormats, RegexesAcceptTheValidAndRejectTheInvalid) {
  for (const FormatCase& c : cases()) {
    const char* re = json_schema_format_regex(c.format);
    ASSERT_NE(re, nullptr) << c.format;
    const std::regex oracle(re);
    for (const char* v : c.valid) EXPECT_TRUE(std::regex_match(v, oracle)) << c.format << ": " << v;
    for (const char* v : c.invalid) EXPECT_FALSE(std::regex_match(v, oracle)) << c.format << ": " << v;
  }
  EXPECT_EQ(json_schema_format_regex("uri"), nullptr);  // an annotation
  EXPECT_EQ(json_schema_format_regex(""), nullptr);
}

// Through the compiled schema and the matcher, as the model's output would go.
TEST(JsonSchemaFormats, MatcherEnforcesTheFormat) {
  for (const FormatCase& c : cases()) {
    auto s = compile_ok(R"({"type": "object", "properties": {"v": {"type": "string", "format": ")" +
                        std::string(c.format) + R"("}}, "required": ["v"], "additionalProperties": false})");
    for (const char* v : c.valid) {
      const std::string doc = std::string(R"({"v":")") + v + R"("})";
      EXPECT_TRUE(matches(*s, doc)) << c.format << ": " << doc;
      testing::expect_bytewise_equals_whole(*s, doc);
    }
    for (const char* v : c.invalid)
      EXPECT_FALSE(matches(*s, std::string(R"({"v":")") + v + R"("})")) << c.format << ": " << v;
  }
}

// A \u escape in a pattern string is taken only while it can still stand for
// a character the pattern takes (found with the demo model: a UUID string
// typed "\ue89" could never be finished, and the choice ended cut short).
TEST(JsonSchemaFormats, EscapesCannotDeadEnd) {
  auto s = compile_ok(R"({"type": "object", "properties": {"v": {"type": "string", "format": "uuid"}}})");
  const std::string head = R"({"v":"A5537070-EdDB-)";
  testing::expect_rejected_at(*s, head + R"(\ue89)", head.size() + 2);        // no hex digit is U+Exxx
  EXPECT_EQ(testing::accepted_prefix(*s, head + R"(\u0)"), head.size() + 3);  // U+0xxx holds the hex digits
  testing::expect_rejected_at(*s, head + R"(\ud83d)", head.size() + 2);       // no character beyond the BMP either
  testing::expect_document(*s, R"({"v":"\u00312345678-1234-1234-1234-123456789abc"})");  // \u0031 is '1'
  testing::expect_rejected_at(*s, head + R"(\n)", head.size() + 1);                      // a newline is no hex digit
  // Where the pattern takes any character, every escape stays open.
  auto any = compile_ok(R"({"type": "string", "pattern": "^.+$"})");
  testing::expect_document(*any, R"("\ud83d\ude00\ue89a")");
  testing::expect_rejections_keep_state(*s, R"({"v":"\u00312345678-1234-1234-1234-123456789abc"})");
}

TEST(JsonSchemaFormats, UnknownFormatsStayAnnotationsAndPatternConflicts) {
  auto uri = compile_ok(R"({"type": "string", "format": "uri"})");
  EXPECT_TRUE(matches(*uri, R"("not a uri at all")"));
  auto not_string = compile_ok(R"({"type": "integer", "format": "date"})");  // formats apply to strings only
  EXPECT_TRUE(matches(*not_string, "12"));
  expect_compile_error(R"({"type": "string", "format": "date", "pattern": "^[0-9]+$"})",
                       "'pattern' next to 'format' at $ is not supported");
  // Pydantic's datetime field, as vLLM users send it.
  auto pyd = compile_ok(R"({"properties": {"when": {"format": "date-time", "title": "When", "type": "string"}},
      "required": ["when"], "title": "Event", "type": "object"})");
  EXPECT_TRUE(matches(*pyd, R"({"when":"2026-12-01T15:00:00Z"})"));
  EXPECT_FALSE(matches(*pyd, R"({"when":"tomorrow"})"));
}

}  // namespace
}  // namespace sable
