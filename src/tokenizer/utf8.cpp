#include "tokenizer/utf8.h"

namespace sable {

size_t utf8_decode(std::string_view s, size_t i, uint32_t* cp, size_t* bad_len, bool* incomplete) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  const uint8_t b0 = p[i];
  if (incomplete) *incomplete = false;
  auto fail = [&](size_t len, bool at_end) -> size_t {
    if (bad_len) *bad_len = len;
    if (incomplete) *incomplete = at_end;
    return 0;
  };
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t width;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    width = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    width = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    width = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return fail(1, false);
  }
  uint32_t v = b0 & (width == 2 ? 0x1F : width == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < width; ++k) {
    if (i + k >= n) return fail(k, true);
    const uint8_t b = p[i + k];
    const uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) return fail(k, false);
    v = (v << 6) | (b & 0x3F);
  }
  *cp = v;
  return width;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool utf8_valid(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    // Eight ASCII bytes at a time: the common case for code and English.
    while (i + 8 <= n) {
      uint64_t w;
      __builtin_memcpy(&w, s.data() + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    uint32_t cp;
    const size_t len = utf8_decode(s, i, &cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string utf8_lossy(std::string_view s) {
  if (utf8_valid(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp;
    size_t bad = 0;
    const size_t len = utf8_decode(s, i, &cp, &bad);
    if (len) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      utf8_append(out, kReplacementChar);
      i += bad;
    }
  }
  return out;
}

size_t utf8_stable_prefix_len(std::string_view s) {
  // Only the last three bytes can belong to an unfinished sequence.
  const size_t start = s.size() > 3 ? s.size() - 3 : 0;
  for (size_t i = start; i < s.size(); ++i) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x80 || b >= 0xC0) {  // a lead byte (or ASCII) in the tail
      uint32_t cp;
      bool incomplete = false;
      if (utf8_decode(s, i, &cp, nullptr, &incomplete) == 0 && incomplete) return i;
    }
  }
  return s.size();
}

size_t utf8_length(std::string_view s) {
  size_t count = 0;
  for (unsigned char c : s) count += (c & 0xC0) != 0x80;
  return count;
}

}  // namespace sable
