// The regex DFA of guided_regex: whole-text matching against std::regex
// (ECMAScript, whose syntax agrees with Python's on these patterns) over
// every string of a small alphabet up to a length, UTF-8 handling, and the
// errors that name what is not supported.
#include "engine/regex_dfa.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <string>
#include <vector>

namespace sable {
namespace {

RegexDfa compiled(const std::string& pattern) {
  auto d = RegexDfa::compile(pattern);
  EXPECT_TRUE(d.is_ok()) << pattern << ": " << d.status().message();
  return d.is_ok() ? std::move(*d) : *RegexDfa::compile("x");
}

// Every string over `alphabet` up to `max_len` characters.
std::vector<std::string> all_strings(const std::string& alphabet, int max_len) {
  std::vector<std::string> out = {""}, layer = {""};
  for (int n = 1; n <= max_len; ++n) {
    std::vector<std::string> next;
    for (const std::string& s : layer)
      for (char c : alphabet) next.push_back(s + c);
    out.insert(out.end(), next.begin(), next.end());
    layer = std::move(next);
  }
  return out;
}

TEST(RegexDfa, AgreesWithStdRegexOnWholeMatches) {
  const char* patterns[] = {
      "a",      "ab|c",      "a*",           "a+b?",          "(ab)*",        "(a|b)*c",        "a{2}",
      "a{1,3}", "a{2,}",     "(?:ab){1,2}c", "[abc]+",        "[^a]*",        "[a-c]{2}",       "\\d+",
      "\\w*",   "\\s?a",     "a.c",          "(a|ab)(c|bcd)", "((a|b)c)*",    "x?y?z?",         "[.]b",
      "a\\.b",  "1\\d{0,2}", "(a*)*",        "(a|)+b",        "c{0,2}a{0,2}", "[0-9a-c_]{1,4}", "(?:a|b)+",
      "^ab$",   "a*?b",      "[-a]c",        "[a-]+",         "\\x61b",
  };
  const auto strings = all_strings("abc1 .-_]", 4);
  for (const char* p : patterns) {
    const RegexDfa d = compiled(p);
    const std::regex re(p, std::regex::ECMAScript);
    for (const std::string& s : strings)
      ASSERT_EQ(d.matches(s), std::regex_match(s, re)) << "pattern " << p << " text [" << s << "]";
  }
}

TEST(RegexDfa, AcceptingAndHasNextTellWhetherTheTextMayEnd) {
  const RegexDfa d = compiled("[0-9]{3}(-[a-z]+)?");
  uint32_t s = d.start();
  for (char c : std::string("123")) s = d.next(s, uint8_t(c));
  ASSERT_NE(s, RegexDfa::kDead);
  EXPECT_TRUE(d.accepting(s));
  EXPECT_TRUE(d.has_next(s));  // "-abc" may follow
  EXPECT_EQ(d.next(s, '4'), RegexDfa::kDead);
  const RegexDfa fixed = compiled("yes|no");
  s = fixed.start();
  for (char c : std::string("no")) s = fixed.next(s, uint8_t(c));
  EXPECT_TRUE(fixed.accepting(s));
  EXPECT_FALSE(fixed.has_next(s));
}

TEST(RegexDfa, CharactersAreUtf8) {
  const RegexDfa dot = compiled("a.c");
  EXPECT_TRUE(dot.matches("abc"));
  EXPECT_TRUE(
      dot.matches("a\xC3\xA9"
                  "c"));  // é: one character
  EXPECT_TRUE(
      dot.matches("a\xF0\x9F\x98\x80"
                  "c"));  // an emoji
  EXPECT_FALSE(dot.matches("a\nc"));
  EXPECT_FALSE(
      dot.matches("a\xC3"
                  "c"));  // a lone lead byte is not a character
  EXPECT_FALSE(
      dot.matches("a\xED\xA0\x80"
                  "c"));  // a UTF-16 surrogate is not one either
  const RegexDfa neg = compiled("[^a]");
  EXPECT_TRUE(neg.matches("\xC3\xA9"));
  EXPECT_TRUE(neg.matches("\n"));
  EXPECT_FALSE(neg.matches("a"));
  const RegexDfa lit = compiled("caf\xC3\xA9|\\u00e9t\\u00e9|[\xC3\xA0\xC3\xA8]x");
  EXPECT_TRUE(lit.matches("caf\xC3\xA9"));
  EXPECT_TRUE(lit.matches("\xC3\xA9t\xC3\xA9"));
  EXPECT_TRUE(lit.matches("\xC3\xA8x"));
  EXPECT_FALSE(lit.matches("\xC3\xA9x"));
  const RegexDfa not_digit = compiled("\\D");
  EXPECT_TRUE(not_digit.matches("\xC3\xA9"));
  EXPECT_FALSE(not_digit.matches("7"));
}

// Where Python's re and ECMAScript differ, Python's reading (vLLM's backends take Python patterns).
TEST(RegexDfa, PythonReadings) {
  const RegexDfa upto = compiled("a{,2}");  // {,n} is {0,n}
  EXPECT_TRUE(upto.matches(""));
  EXPECT_TRUE(upto.matches("aa"));
  EXPECT_FALSE(upto.matches("aaa"));
  const RegexDfa bracket = compiled("[]a]+");  // a ']' first in a class is a member
  EXPECT_TRUE(bracket.matches("]a]"));
  const RegexDfa brace = compiled("a{x}");  // not a count: literal braces
  EXPECT_TRUE(brace.matches("a{x}"));
  const RegexDfa named = compiled("(?P<word>ab)+");  // a named group is a group
  EXPECT_TRUE(named.matches("abab"));
  const RegexDfa icase = compiled("(?i)yes|n[o]+\\.");  // flags at the start: the whole pattern
  EXPECT_TRUE(icase.matches("YeS"));
  EXPECT_TRUE(icase.matches("NoO."));
  EXPECT_FALSE(icase.matches("nO,"));
  const RegexDfa dotall = compiled("(?s)a.b");
  EXPECT_TRUE(dotall.matches("a\nb"));
  EXPECT_FALSE(compiled("a.b").matches("a\nb"));
}

// Classes of any characters: ranges and negations over code points, each
// member one whole UTF-8 sequence. Brute force over code points of every
// encoded length: the DFA takes a character's UTF-8 bytes iff it is in the set.
TEST(RegexDfa, ClassesOverCodePoints) {
  auto utf8 = [](uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
      s += char(cp);
    } else if (cp < 0x800) {
      s += char(0xC0 | (cp >> 6)), s += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += char(0xE0 | (cp >> 12)), s += char(0x80 | ((cp >> 6) & 0x3F)), s += char(0x80 | (cp & 0x3F));
    } else {
      s += char(0xF0 | (cp >> 18)), s += char(0x80 | ((cp >> 12) & 0x3F)), s += char(0x80 | ((cp >> 6) & 0x3F));
      s += char(0x80 | (cp & 0x3F));
    }
    return s;
  };
  struct Case {
    const char* pattern;
    std::vector<std::pair<uint32_t, uint32_t>> in;  // the set, as ranges
    bool negated;
  };
  const Case cases[] = {
      {"[\\u0430-\\u044f]", {{0x430, 0x44F}}, false},  // Cyrillic a..ya
      {"[\\u4e00-\\u9fff]", {{0x4E00, 0x9FFF}}, false},  // CJK
      {"[a-z\\u00e0-\\u00ff\\U0001F600-\\U0001F64F]", {{'a', 'z'}, {0xE0, 0xFF}, {0x1F600, 0x1F64F}}, false},
      {"[\\u07f0-\\u0801]", {{0x7F0, 0x801}}, false},  // across the 2/3-byte boundary
      {"[\\uffe0-\\U00010010]", {{0xFFE0, 0xFFFF}, {0x10000, 0x10010}}, false},
      {"[^\\u00e9x]", {{0xE9, 0xE9}, {'x', 'x'}}, true},
      {"[^\\u0100-\\U0010fffe]", {{0x100, 0x10FFFE}}, true},
  };
  std::vector<uint32_t> probes;
  for (uint32_t cp = 0; cp < 0x1100; ++cp) probes.push_back(cp);
  for (uint32_t lo : {0x4DF0u, 0x9FF0u, 0xFFD0u, 0x1F5F0u, 0x10FFD0u})
    for (uint32_t cp = lo; cp < lo + 0x60 && cp <= 0x10FFFF; ++cp) probes.push_back(cp);
  for (const Case& c : cases) {
    const RegexDfa d = compiled(c.pattern);
    for (uint32_t cp : probes) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      bool in = false;
      for (auto [lo, hi] : c.in) in = in || (cp >= lo && cp <= hi);
      ASSERT_EQ(d.matches(utf8(cp)), in != c.negated) << c.pattern << " U+" << std::hex << cp;
    }
    EXPECT_FALSE(d.matches("\xED\xA0\x80")) << c.pattern;  // a surrogate is never a character
  }
  EXPECT_TRUE(compiled("[\\D]+").matches("\xC3\xA9" "a"));  // \D inside a class: any non-digit
  EXPECT_FALSE(compiled("[\\D]").matches("5"));
  EXPECT_TRUE(compiled("(?i)[\\u00e9a]").matches("A"));
}

TEST(RegexDfa, TypicalGuidedRegexPatterns) {
  const RegexDfa email = compiled("[a-z0-9._%+-]+@[a-z0-9.-]+\\.[a-z]{2,4}");
  EXPECT_TRUE(email.matches("jane.doe@example.com"));
  EXPECT_FALSE(email.matches("jane@example"));
  const RegexDfa phone = compiled("\\(\\d{3}\\) \\d{3}-\\d{4}");
  EXPECT_TRUE(phone.matches("(555) 123-4567"));
  EXPECT_FALSE(phone.matches("555-123-4567"));
  const RegexDfa ip = compiled("((25[0-5]|2[0-4]\\d|1?\\d?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1?\\d?\\d)");
  EXPECT_TRUE(ip.matches("192.168.0.255"));
  EXPECT_FALSE(ip.matches("192.168.0.256"));
  const RegexDfa date = compiled("\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])");
  EXPECT_TRUE(date.matches("2026-12-01"));
  EXPECT_FALSE(date.matches("2026-13-01"));
  std::printf("DFA states: email %zu, phone %zu, ip %zu, date %zu\n", email.num_states(), phone.num_states(),
              ip.num_states(), date.num_states());
}

TEST(RegexDfa, UnsupportedSyntaxIsNamed) {
  const std::pair<const char*, const char*> cases[] = {
      {"(?=a)b", "lookaround"},
      {"(a)\\1", "backreference"},
      {"a(?i)b", "group kind"},
      {"a\\b", "word boundaries"},
      {"a++", "possessive"},
      {"(ab", "without its ')'"},
      {"ab)", "unbalanced"},
      {"[ab", "without its ']'"},
      {"*a", "nothing to repeat"},
      {"a{3,2}", "m < n"},
      {"[b-a]", "out of order"},
      {"a^b", "only supported at"},
      {"\\q", "escape \\q"},
      {"a{5000}", "above 1000"},
      {"[^\\s\\S]", "matches no character"},
      {"(a{1000}){1000}", "NFA states"},
      {"\\ud800", "surrogate"},
      {"\\U00110000", "out-of-range"},
  };
  for (auto [p, what] : cases) {
    auto d = RegexDfa::compile(p);
    ASSERT_FALSE(d.is_ok()) << p;
    EXPECT_NE(d.status().message().find(what), std::string::npos) << p << ": " << d.status().message();
  }
  // A DFA blow-up: (a|b)*a(a|b){n} needs 2^n states.
  auto big = RegexDfa::compile("(a|b)*a(a|b){14}");
  ASSERT_FALSE(big.is_ok());
  EXPECT_NE(big.status().message().find("DFA states"), std::string::npos) << big.status().message();
}

}  // namespace
}  // namespace sable
