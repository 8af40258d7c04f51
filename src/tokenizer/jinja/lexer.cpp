#include "tokenizer/jinja/lexer.h"

#include <cstring>

#include "tokenizer/jinja/error.h"
#include "tokenizer/utf8.h"

namespace sable::jinja {
namespace {

// Python's str.isspace() for one code point (what jinja2's \s matches).
bool py_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// Length of the whitespace code point at s[i], or 0.
size_t space_at(const std::string& s, size_t i) {
  if (i >= s.size()) return 0;
  const auto c = static_cast<uint8_t>(s[i]);
  if (c < 0x80) return py_space(c) ? 1 : 0;
  uint32_t cp;
  const size_t len = utf8_decode(s, i, &cp);
  return (len && py_space(cp)) ? len : 0;
}

std::string rstrip_py(const std::string& s) {
  size_t end = s.size();
  while (end > 0) {
    size_t b = end - 1;
    while (b > 0 && (static_cast<uint8_t>(s[b]) & 0xC0) == 0x80) --b;
    if (space_at(s, b) != end - b) break;
    end = b;
  }
  return s.substr(0, end);
}

bool all_space(const std::string& s, size_t from) {
  if (from >= s.size()) return false;  // jinja2's \s+ needs one character
  for (size_t i = from; i < s.size();) {
    const size_t l = space_at(s, i);
    if (!l) return false;
    i += l;
  }
  return true;
}

class Lexer {
 public:
  explicit Lexer(const std::string& src) {
    // Newlines: \r\n and \r become \n; one trailing newline is dropped.
    src_.reserve(src.size());
    for (size_t i = 0; i < src.size(); ++i) {
      if (src[i] == '\r') {
        src_.push_back('\n');
        if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
      } else {
        src_.push_back(src[i]);
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;
    const size_t n = src_.size();
    while (pos < n) {
      size_t k = pos;
      while (true) {
        k = src_.find('{', k);
        if (k == std::string::npos || k + 1 >= n) {
          k = std::string::npos;
          break;
        }
        const char c = src_[k + 1];
        if (c == '{' || c == '%' || c == '#') break;
        ++k;
      }
      if (k == std::string::npos) {
        emit(Tok::kText, src_.substr(pos), pos);
        break;
      }
      std::string text = src_.substr(pos, k - pos);
      const char kind = src_[k + 1];
      const char sign = (k + 2 < n && (src_[k + 2] == '-' || src_[k + 2] == '+')) ? src_[k + 2] : 0;
      if (sign == '-') {
        text = rstrip_py(text);
      } else if (sign != '+' && kind != '{') {
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
        if ((l_pos > 0 || line_starting) && all_space(text, l_pos)) text.resize(l_pos);
      }
      if (!text.empty()) emit(Tok::kText, text, pos);
      size_t p = k + 2 + (sign ? 1 : 0);
      if (kind == '#') {
        pos = skip_comment(p, k);
      } else {
        pos = lex_tag(kind == '{', p, k);
      }
      line_starting = pos > 0 && src_[pos - 1] == '\n';
    }
    emit(Tok::kEof, "", n);
    return std::move(out_);
  }

 private:
  void position(size_t off, int* line, int* col) const {
    size_t lo = 0, hi = line_starts_.size();
    while (hi - lo > 1) {
      const size_t mid = (lo + hi) / 2;
      if (line_starts_[mid] <= off) lo = mid;
      else hi = mid;
    }
    *line = static_cast<int>(lo + 1);
    *col = static_cast<int>(utf8_length(std::string_view(src_).substr(line_starts_[lo], off - line_starts_[lo])) + 1);
  }
  [[noreturn]] void fail(const std::string& msg, size_t off) const {
    int line, col;
    position(off, &line, &col);
    throw TemplateError(msg, line, col);
  }
  void emit(Tok t, std::string text, size_t off) {
    Token tok{t, std::move(text), 1, 1};
    position(off, &tok.line, &tok.col);
    out_.push_back(std::move(tok));
  }

  size_t skip_comment(size_t p, size_t start) {
    for (size_t q = p; q + 1 < src_.size(); ++q) {
      if ((src_[q] == '+' || src_[q] == '-') && q + 2 < src_.size() && src_[q + 1] == '#' && src_[q + 2] == '}') {
        size_t e = q + 3;
        if (src_[q] == '-')
          while (size_t l = space_at(src_, e)) e += l;
        return e;
      }
      if (src_[q] == '#' && src_[q + 1] == '}') {
        size_t e = q + 2;
        if (e < src_.size() && src_[e] == '\n') ++e;  // trim_blocks
        return e;
      }
    }
    fail("Missing end of comment tag", start);
  }

  // Lexes the inside of {{ ... }} or {% ... %}; returns the offset after the end tag.
  size_t lex_tag(bool is_var, size_t p, size_t start) {
    emit(is_var ? Tok::kVarBegin : Tok::kBlockBegin, "", start);
    std::string balance;
    const size_t n = src_.size();
    while (true) {
      if (p >= n) fail(is_var ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'", start);
      if (balance.empty()) {
        if (is_var) {
          if (src_.compare(p, 3, "-}}") == 0) {
            emit(Tok::kVarEnd, "", p);
            p += 3;
            while (size_t l = space_at(src_, p)) p += l;
            return p;
          }
          if (src_.compare(p, 2, "}}") == 0) {
            emit(Tok::kVarEnd, "", p);
            return p + 2;
          }
        } else {
          if (src_.compare(p, 3, "+%}") == 0) {
            emit(Tok::kBlockEnd, "", p);
            return p + 3;
          }
          if (src_.compare(p, 3, "-%}") == 0) {
            emit(Tok::kBlockEnd, "", p);
            p += 3;
            while (size_t l = space_at(src_, p)) p += l;
            return p;
          }
          if (src_.compare(p, 2, "%}") == 0) {
            emit(Tok::kBlockEnd, "", p);
            p += 2;
            if (p < n && src_[p] == '\n') ++p;  // trim_blocks
            return p;
          }
        }
      }
      if (size_t l = space_at(src_, p)) {
        p += l;
        continue;
      }
      const char c = src_[p];
      if (c >= '0' && c <= '9') {
        p = lex_number(p);
        continue;
      }
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
        size_t e = p;
        while (e < n && ((src_[e] >= 'a' && src_[e] <= 'z') || (src_[e] >= 'A' && src_[e] <= 'Z') ||
                         (src_[e] >= '0' && src_[e] <= '9') || src_[e] == '_'))
          ++e;
        emit(Tok::kName, src_.substr(p, e - p), p);
        p = e;
        continue;
      }
      if (c == '\'' || c == '"') {
        p = lex_string(p);
        continue;
      }
      static const char* kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]",
                                   "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"};
      bool matched = false;
      for (const char* op : kOps) {
        const size_t len = std::strlen(op);
        if (src_.compare(p, len, op) == 0) {
          const char o = op[0];
          if (len == 1 && (o == '(' || o == '[' || o == '{')) {
            balance.push_back(o == '(' ? ')' : o == '[' ? ']' : '}');
          } else if (len == 1 && (o == ')' || o == ']' || o == '}')) {
            if (balance.empty()) fail(std::string("unexpected '") + o + "'", p);
            if (balance.back() != o) fail(std::string("unexpected '") + o + "', expected '" + balance.back() + "'", p);
            balance.pop_back();
          }
          emit(Tok::kOp, op, p);
          p += len;
          matched = true;
          break;
        }
      }
      if (!matched) {
        uint32_t cp = kReplacementChar;
        size_t bad = 1;
        size_t len = utf8_decode(src_, p, &cp, &bad);
        fail("unexpected char " + py_char_repr(src_.substr(p, len ? len : bad)), p);
      }
    }
  }

  static std::string py_char_repr(const std::string& ch) {
    return ch == "'" ? "\"'\"" : "'" + ch + "'";
  }

  size_t lex_number(size_t p) {
    const size_t n = src_.size();
    auto digits = [&](size_t q) {
      size_t e = q;
      while (e < n && ((src_[e] >= '0' && src_[e] <= '9') || (src_[e] == '_' && e + 1 < n && src_[e + 1] >= '0' &&
                                                                src_[e + 1] <= '9' && e > q)))
        ++e;
      return e;
    };
    size_t e = digits(p);
    bool is_float = false;
    if (e + 1 < n && src_[e] == '.' && src_[e + 1] >= '0' && src_[e + 1] <= '9') {
      e = digits(e + 1);
      is_float = true;
    }
    if (e < n && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t q = e + 1;
      if (q < n && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < n && src_[q] >= '0' && src_[q] <= '9') {
        e = digits(q);
        is_float = true;
      }
    }
    std::string text;
    for (size_t i = p; i < e; ++i)
      if (src_[i] != '_') text.push_back(src_[i]);
    emit(is_float ? Tok::kFloat : Tok::kInt, text, p);
    return e;
  }

  size_t lex_string(size_t p) {
    const char q = src_[p];
    std::string v;
    size_t i = p + 1;
    const size_t n = src_.size();
    auto hex = [&](size_t at, int count, uint32_t* cp) {
      if (at + count > n) return false;
      uint32_t x = 0;
      for (int k = 0; k < count; ++k) {
        const char c = src_[at + k];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) return false;
        x = x * 16 + d;
      }
      *cp = x;
      return true;
    };
    while (true) {
      if (i >= n) fail("unexpected end of string", p);
      const char c = src_[i];
      if (c == q) break;
      if (c != '\\') {
        v.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= n) fail("unexpected end of string", p);
      const char e = src_[i + 1];
      uint32_t cp;
      i += 2;
      switch (e) {
        case '\\': v.push_back('\\'); break;
        case '\'': v.push_back('\''); break;
        case '"': v.push_back('"'); break;
        case 'a': v.push_back('\a'); break;
        case 'b': v.push_back('\b'); break;
        case 'f': v.push_back('\f'); break;
        case 'n': v.push_back('\n'); break;
        case 'r': v.push_back('\r'); break;
        case 't': v.push_back('\t'); break;
        case 'v': v.push_back('\v'); break;
        case '\n': break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          const int count = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (!hex(i, count, &cp) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            fail("invalid \\" + std::string(1, e) + " escape in string", i - 2);
          utf8_append(v, cp);
          i += count;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            cp = e - '0';
            for (int k = 0; k < 2 && i < n && src_[i] >= '0' && src_[i] <= '7'; ++k) cp = cp * 8 + (src_[i++] - '0');
            utf8_append(v, cp);
          } else {
            v.push_back('\\');  // unknown escapes stay as written
            v.push_back(e);
          }
      }
    }
    emit(Tok::kString, v, p);
    return i + 1;
  }

  std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> lex(const std::string& source) { return Lexer(source).run(); }

}  // namespace sable::jinja
