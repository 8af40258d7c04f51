#include "tokenizer/added_tokens.h"

#include "tokenizer/unicode_nfc.h"
#include "tokenizer/utf8.h"

namespace sable {
namespace {

bool is_word_char(uint32_t cp) {
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
  return !is_unicode_whitespace(cp);  // approximation: non-ASCII letters, digits, marks
}

// Code point that ends text[0, end).
uint32_t last_cp(std::string_view text, size_t end) {
  size_t i = end;
  while (i > 0 && (static_cast<uint8_t>(text[i - 1]) & 0xC0) == 0x80 && end - i < 3) --i;
  if (i > 0) --i;
  uint32_t cp = kReplacementChar;
  utf8_decode(text, i, &cp);
  return cp;
}

}  // namespace

void AddedTokenMatcher::build(const std::vector<const AddedToken*>& tokens) {
  tokens_ = tokens;
  edges_.clear();
  terminal_.assign(1, nullptr);
  for (const AddedToken* t : tokens) {
    if (t->content.empty()) continue;
    uint32_t node = 0;
    for (unsigned char c : t->content) {
      const uint64_t key = (static_cast<uint64_t>(node) << 8) | c;
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        it = edges_.emplace(key, static_cast<uint32_t>(terminal_.size())).first;
        terminal_.push_back(nullptr);
      }
      node = it->second;
    }
    // Two entries with one content: the later one wins, as in HF's map.
    terminal_[node] = t;
    first_byte_[static_cast<unsigned char>(t->content[0])] = true;
  }
}

const AddedToken* AddedTokenMatcher::longest_at(std::string_view text, size_t i, size_t* len) const {
  const AddedToken* best = nullptr;
  uint32_t node = 0;
  for (size_t k = i; k < text.size(); ++k) {
    const uint64_t key = (static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[k]);
    auto it = edges_.find(key);
    if (it == edges_.end()) break;
    node = it->second;
    if (terminal_[node]) {
      best = terminal_[node];
      *len = k + 1 - i;
    }
  }
  return best;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<TextSegment>& out) const {
  size_t start = 0;  // first byte not yet emitted
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    if (!first_byte_[static_cast<unsigned char>(text[i])]) {
      ++i;
      continue;
    }
    size_t len = 0;
    const AddedToken* t = longest_at(text, i, &len);
    if (!t) {
      ++i;
      continue;
    }
    size_t b = i, e = i + len;
    if (t->single_word) {
      const bool left_ok = b == 0 || !is_word_char(last_cp(text, b));
      uint32_t next = 0;
      const bool right_ok = e == n || (utf8_decode(text, e, &next) && !is_word_char(next)) ;
      if (!left_ok || !right_ok) {
        i = e;  // HF's matcher does not retry inside a rejected match
        continue;
      }
    }
    if (t->lstrip) {
      while (b > start) {
        uint32_t cp = last_cp(text, b);
        if (!is_unicode_whitespace(cp)) break;
        size_t w = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        b -= w;
      }
    }
    if (t->rstrip) {
      while (e < n) {
        uint32_t cp;
        size_t w = utf8_decode(text, e, &cp);
        if (!w || !is_unicode_whitespace(cp)) break;
        e += w;
      }
    }
    if (b > start) out.push_back({start, b, -1});
    out.push_back({b, e, t->id});
    start = i = e;
  }
  if (start < n) out.push_back({start, n, -1});
}

}  // namespace sable
