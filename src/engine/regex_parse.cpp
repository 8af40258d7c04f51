// The regex parser (regex_parse.h): recursive descent over the pattern;
// character classes are sets of code point ranges turned into UTF-8
// byte-range sequences.
#include "engine/regex_parse.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>

#include "tokenizer/utf8.h"

namespace sable::regex {

namespace {

AstPtr make(Ast::Kind k) {
  auto a = std::make_unique<Ast>();
  a->kind = k;
  return a;
}
AstPtr set_of(const ByteSet& s) {
  auto a = make(Ast::kSet);
  a->set = s;
  return a;
}
AstPtr byte_range(int lo, int hi) {
  ByteSet s;
  for (int b = lo; b <= hi; ++b) s.set(size_t(b));
  return set_of(s);
}
AstPtr seq(std::vector<AstPtr> kids) {
  auto a = make(Ast::kSeq);
  a->kids = std::move(kids);
  return a;
}
AstPtr literal_bytes(std::string_view bytes) {
  std::vector<AstPtr> kids;
  for (char c : bytes) kids.push_back(byte_range(uint8_t(c), uint8_t(c)));
  return seq(std::move(kids));
}

// A set of characters: sorted, disjoint code point ranges, no surrogates.
using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;
constexpr uint32_t kMaxCodePoint = 0x10FFFF;

Ranges normalize(Ranges r) {
  Ranges cut;  // surrogates are not characters
  for (auto [lo, hi] : r) {
    if (lo < 0xD800 && hi >= 0xD800) cut.push_back({lo, 0xD7FF});
    if (hi > 0xDFFF && lo <= 0xDFFF) cut.push_back({0xE000, hi});
    if (hi < 0xD800 || lo > 0xDFFF) cut.push_back({lo, hi});
  }
  std::sort(cut.begin(), cut.end());
  Ranges out;
  for (auto [lo, hi] : cut) {
    if (!out.empty() && lo <= out.back().second + 1)
      out.back().second = std::max(out.back().second, hi);
    else
      out.push_back({lo, hi});
  }
  return out;
}

Ranges complement(const Ranges& r) {
  Ranges out;
  uint32_t next = 0;
  for (auto [lo, hi] : normalize(r)) {
    if (lo > next) out.push_back({next, lo - 1});
    next = hi + 1;
  }
  if (next <= kMaxCodePoint) out.push_back({next, kMaxCodePoint});
  return normalize(out);
}

Ranges from_bytes(const ByteSet& ascii) {
  Ranges out;
  for (uint32_t b = 0; b < 128; ++b)
    if (ascii.test(b)) out.push_back({b, b});
  return normalize(out);
}

// One character of the set, as whole UTF-8 sequences.
AstPtr class_ast(const Ranges& set) {
  auto alt = make(Ast::kAlt);
  ByteSet ascii;
  std::vector<std::vector<std::pair<uint8_t, uint8_t>>> seqs;
  for (auto [lo, hi] : normalize(set)) {
    for (uint32_t c = lo; c <= std::min(hi, 0x7Fu); ++c) ascii.set(c);
    if (hi >= 0x80) utf8_sequences(std::max(lo, 0x80u), hi, seqs);
  }
  if (ascii.any()) alt->kids.push_back(set_of(ascii));
  for (const auto& sq : seqs) {
    std::vector<AstPtr> kids;
    for (auto [a, b] : sq) kids.push_back(byte_range(a, b));
    alt->kids.push_back(seq(std::move(kids)));
  }
  return alt;
}

ByteSet ascii_class(char c) {  // \d \w \s
  ByteSet s;
  for (int b = 0; b < 128; ++b) {
    const bool in = c == 'd' ? (b >= '0' && b <= '9')
                    : c == 'w'
                        ? ((b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '_')
                        : (b == ' ' || (b >= '\t' && b <= '\r'));
    if (in) s.set(size_t(b));
  }
  return s;
}

// The set with each ASCII letter's other case added (the (?i) flag).
ByteSet fold_case(ByteSet s) {
  for (int b = 'a'; b <= 'z'; ++b)
    if (s.test(size_t(b)) || s.test(size_t(b - 32))) s.set(size_t(b)), s.set(size_t(b - 32));
  return s;
}

class Parser {
 public:
  explicit Parser(std::string_view p) : p_(p) {}

  Result<AstPtr> parse() {
    // Global flags at the very start: (?i) ASCII case-insensitive, (?s) '.'
    // takes newlines too, (?m) nothing here (^ and $ only stand at the ends).
    if (p_.substr(0, 2) == "(?") {
      size_t j = 2;
      while (j < p_.size() && (p_[j] == 'i' || p_[j] == 's' || p_[j] == 'm')) {
        icase_ = icase_ || p_[j] == 'i';
        dotall_ = dotall_ || p_[j] == 's';
        ++j;
      }
      if (j > 2 && j < p_.size() && p_[j] == ')') p_.remove_prefix(j + 1);
    }
    // The match is of the whole text: a leading ^ / \A and a trailing $ / \Z / \z add nothing.
    if (p_.substr(0, 1) == "^")
      p_.remove_prefix(1);
    else if (p_.substr(0, 2) == "\\A")
      p_.remove_prefix(2);
    if (p_.size() >= 2 && (p_.substr(p_.size() - 2) == "\\Z" || p_.substr(p_.size() - 2) == "\\z") &&
        !escaped_at(p_.size() - 2))
      p_.remove_suffix(2);
    else if (!p_.empty() && p_.back() == '$' && !escaped_at(p_.size() - 1))
      p_.remove_suffix(1);
    AstPtr a = alternation();
    if (!error_.empty()) return invalid_argument(error_);
    if (i_ < p_.size()) return invalid_argument(at("unbalanced ')'"));
    return a;
  }

 private:
  bool escaped_at(size_t pos) const {  // an odd run of backslashes before pos
    size_t n = 0;
    while (pos > n && p_[pos - n - 1] == '\\') ++n;
    return n % 2 == 1;
  }
  std::string at(const std::string& what) const { return what + " at offset " + std::to_string(i_); }
  void fail(const std::string& what) {
    if (error_.empty()) error_ = at(what);
  }
  bool done() const { return i_ >= p_.size() || !error_.empty(); }

  AstPtr alternation() {
    auto alt = make(Ast::kAlt);
    alt->kids.push_back(sequence());
    while (!done() && p_[i_] == '|') {
      ++i_;
      alt->kids.push_back(sequence());
    }
    return alt->kids.size() == 1 ? std::move(alt->kids[0]) : std::move(alt);
  }

  AstPtr sequence() {
    std::vector<AstPtr> kids;
    while (!done() && p_[i_] != '|' && p_[i_] != ')') {
      AstPtr atom_ast = atom();
      if (!error_.empty()) break;
      kids.push_back(quantified(std::move(atom_ast)));
    }
    return seq(std::move(kids));
  }

  AstPtr quantified(AstPtr a) {
    while (!done()) {
      int lo = -1, hi = -1;
      const char c = p_[i_];
      if (c == '*')
        lo = 0, hi = -1, ++i_;
      else if (c == '+')
        lo = 1, hi = -1, ++i_;
      else if (c == '?')
        lo = 0, hi = 1, ++i_;
      else if (c == '{' && counted(lo, hi)) {
      } else {
        break;
      }
      if (!error_.empty()) break;
      if (!done() && p_[i_] == '?')
        ++i_;  // lazy: the same language
      else if (!done() && p_[i_] == '+')
        fail("a possessive quantifier is not supported");
      auto r = make(Ast::kRepeat);
      r->min = lo;
      r->max = hi;
      r->kids.push_back(std::move(a));
      a = std::move(r);
    }
    return a;
  }

  // {n}, {n,}, {n,m}; anything else after '{' is a literal '{' (as Python).
  bool counted(int& lo, int& hi) {
    size_t j = i_ + 1;
    auto number = [&](int& v) {
      const size_t s = j;
      long n = 0;
      while (j < p_.size() && p_[j] >= '0' && p_[j] <= '9' && n <= 100000) n = n * 10 + (p_[j++] - '0');
      v = int(n);
      return j > s;
    };
    int a = 0, b = -1;
    if (j < p_.size() && p_[j] == ',') {  // {,n}: Python's {0,n}
      ++j;
      if (!number(b)) return false;
    } else if (!number(a)) {
      return false;
    } else if (j < p_.size() && p_[j] == '}') {
      b = a;
    } else if (j < p_.size() && p_[j] == ',') {
      ++j;
      if (j < p_.size() && p_[j] != '}' && !number(b)) return false;
    } else {
      return false;
    }
    if (j >= p_.size() || p_[j] != '}') return false;
    i_ = j + 1;
    if (b >= 0 && b < a) fail("a repetition {n,m} with m < n");
    if (a > 1000 || b > 1000) fail("a repetition count above 1000");
    lo = a;
    hi = b;
    return true;
  }

  AstPtr atom() {
    const char c = p_[i_];
    if (c == '(') return group();
    if (c == '[') return char_class();
    if (c == '.') {
      ++i_;
      return class_ast(complement(dotall_ ? Ranges{} : Ranges{{'\n', '\n'}}));
    }
    if (c == '\\') return escape();
    if (c == '*' || c == '+' || c == '?') {
      fail("nothing to repeat");
      return nullptr;
    }
    if (c == '^' || c == '$') {
      fail(std::string("'") + c + "' is only supported at the start / end of the pattern");
      return nullptr;
    }
    return literal_char();
  }

  // One character of the pattern as its UTF-8 bytes.
  AstPtr literal_char() {
    std::string c;
    if (!take_char(c)) return nullptr;
    return c.size() == 1 && icase_ ? set_of(fold_case(ByteSet().set(uint8_t(c[0])))) : literal_bytes(c);
  }
  // Appends the pattern's UTF-8 character at i_ to out and steps past it.
  bool take_char(std::string& out) {
    uint32_t cp;
    const size_t n = utf8_decode(p_, i_, &cp);
    if (n == 0) {
      fail("invalid UTF-8 in the pattern");
      return false;
    }
    out.append(p_.substr(i_, n));
    i_ += n;
    return true;
  }

  AstPtr group() {
    ++i_;  // '('
    if (p_.substr(i_, 2) == "?:") {
      i_ += 2;
    } else if (p_.substr(i_, 3) == "?P<") {
      const size_t end = p_.find('>', i_);
      if (end == std::string_view::npos) {
        fail("an unterminated group name");
        return nullptr;
      }
      i_ = end + 1;
    } else if (!done() && p_[i_] == '?') {
      const std::string_view what = p_.substr(i_, 3);
      fail(what.substr(0, 2) == "?=" || what.substr(0, 2) == "?!" || what.substr(0, 3) == "?<=" ||
                   what.substr(0, 3) == "?<!"
               ? "lookaround is not supported"
               : "this group kind (inline flags, (?P=name), comments) is not supported");
      return nullptr;
    }
    AstPtr a = alternation();
    if (!error_.empty()) return nullptr;
    if (i_ >= p_.size() || p_[i_] != ')') {
      fail("a '(' without its ')'");
      return nullptr;
    }
    ++i_;
    return a;
  }

  // An escape outside a class: a class shorthand or one literal character.
  AstPtr escape() {
    if (i_ + 1 >= p_.size()) {
      fail("a trailing backslash");
      return nullptr;
    }
    const char e = p_[i_ + 1];
    if (e == 'd' || e == 'w' || e == 's') {
      i_ += 2;
      return set_of(ascii_class(e));
    }
    if (e == 'D' || e == 'W' || e == 'S') {
      i_ += 2;
      return class_ast(complement(from_bytes(ascii_class(char(e - 'A' + 'a')))));
    }
    if (e == 'b' || e == 'B') {
      fail("word boundaries (\\b, \\B) are not supported");
      return nullptr;
    }
    if (e >= '1' && e <= '9') {
      fail("backreferences are not supported");
      return nullptr;
    }
    std::string bytes;
    if (!escaped_char(bytes)) return nullptr;
    if (bytes.size() == 1 && icase_) return set_of(fold_case(ByteSet().set(uint8_t(bytes[0]))));
    return literal_bytes(bytes);
  }

  // The character an escape stands for (i_ at the backslash), as UTF-8.
  bool escaped_char(std::string& out) {
    const char e = p_[i_ + 1];
    i_ += 2;
    auto hex = [&](int digits) -> bool {
      uint32_t v = 0;
      for (int k = 0; k < digits; ++k) {
        if (i_ >= p_.size() || !std::isxdigit(uint8_t(p_[i_]))) {
          fail("a bad \\x / \\u escape");
          return false;
        }
        const char h = p_[i_++];
        v = v * 16 + uint32_t(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
      }
      if ((v >= 0xD800 && v <= 0xDFFF) || v > kMaxCodePoint) {
        fail("a surrogate or out-of-range code point in an escape");
        return false;
      }
      utf8_append(out, v);
      return true;
    };
    switch (e) {
      case 'n':
        out += '\n';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'v':
        out += '\v';
        return true;
      case '0':
        out += '\0';
        return true;
      case 'x':
        return hex(2);
      case 'u':
        return hex(4);
      case 'U':
        return hex(8);
      default:
        if (std::isalnum(uint8_t(e))) {
          fail(std::string("the escape \\") + e + " is not supported");
          return false;
        }
        if (uint8_t(e) >= 0x80) {  // an escaped non-ASCII character: itself
          --i_;
          return take_char(out);
        }
        out += e;  // \. \\ \[ \( ...
        return true;
    }
  }

  AstPtr char_class() {
    ++i_;  // '['
    bool negated = false;
    if (!done() && p_[i_] == '^') negated = true, ++i_;
    Ranges set;
    bool first = true;
    while (true) {
      if (i_ >= p_.size()) {
        fail("a '[' without its ']'");
        return nullptr;
      }
      if (p_[i_] == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      // One member: a shorthand, or a character that may start a range.
      if (p_[i_] == '\\' && i_ + 1 < p_.size() && p_[i_ + 1] != '\0' && std::strchr("dwsDWS", p_[i_ + 1])) {
        const char e = p_[i_ + 1];
        const Ranges r = from_bytes(ascii_class(char(e | 0x20)));
        const Ranges add = (e & 0x20) ? r : complement(r);
        set.insert(set.end(), add.begin(), add.end());
        i_ += 2;
        continue;
      }
      std::string lo;
      if (!class_char(lo)) return nullptr;
      uint32_t a = 0;
      utf8_decode(lo, 0, &a);
      uint32_t b = a;
      if (i_ + 1 < p_.size() && p_[i_] == '-' && p_[i_ + 1] != ']') {
        ++i_;
        std::string hi;
        if (!class_char(hi)) return nullptr;
        utf8_decode(hi, 0, &b);
        if (b < a) {
          fail("a class range out of order");
          return nullptr;
        }
      }
      set.push_back({a, b});
    }
    if (icase_) {  // ASCII letters in either case
      ByteSet ascii;
      for (auto [lo, hi] : normalize(set))
        for (uint32_t c = lo; c <= std::min(hi, 0x7Fu); ++c) ascii.set(c);
      const Ranges folded = from_bytes(fold_case(ascii));
      set.insert(set.end(), folded.begin(), folded.end());
    }
    if (negated) set = complement(set);
    if (normalize(set).empty()) {
      fail("a class that matches no character");
      return nullptr;
    }
    return class_ast(set);
  }

  // One character inside a class, as UTF-8.
  bool class_char(std::string& out) {
    if (p_[i_] == '\\') {
      if (i_ + 1 >= p_.size()) {
        fail("a trailing backslash");
        return false;
      }
      if (p_[i_ + 1] == 'b') {  // \b in a class is a backspace
        i_ += 2;
        out += '\b';
        return true;
      }
      return escaped_char(out);
    }
    return take_char(out);
  }

  std::string_view p_;
  size_t i_ = 0;
  std::string error_;
  bool icase_ = false, dotall_ = false;
};

}  // namespace

// The usual way: split at encoded-length boundaries, then until each
// sequence's byte ranges are independent of one another.
void utf8_sequences(uint32_t lo, uint32_t hi, std::vector<std::vector<std::pair<uint8_t, uint8_t>>>& out) {
  if (lo > hi) return;
  for (uint32_t m : {0x7Fu, 0x7FFu, 0xFFFFu}) {
    if (lo <= m && m < hi) {
      utf8_sequences(lo, m, out);
      utf8_sequences(m + 1, hi, out);
      return;
    }
  }
  const int n = hi <= 0x7F ? 1 : hi <= 0x7FF ? 2 : hi <= 0xFFFF ? 3 : 4;
  for (int i = 1; i < n; ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        utf8_sequences(lo, lo | m, out);
        utf8_sequences((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        utf8_sequences(lo, (hi & ~m) - 1, out);
        utf8_sequences(hi & ~m, hi, out);
        return;
      }
    }
  }
  std::string a, b;  // n bytes each: lo and hi have the same encoded length
  utf8_append(a, lo);
  utf8_append(b, hi);
  std::vector<std::pair<uint8_t, uint8_t>> s;
  for (int k = 0; k < n; ++k) s.push_back({uint8_t(a[size_t(k)]), uint8_t(b[size_t(k)])});
  out.push_back(std::move(s));
}

Result<AstPtr> parse(std::string_view pattern) { return Parser(pattern).parse(); }

}  // namespace sable::regex
