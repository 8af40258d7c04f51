#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace sable {
namespace {

struct Tables {
  std::array<uint32_t, 256> to_char{};
  std::array<int16_t, 512> from_char{};  // stand-ins are all below U+0200
  Tables() {
    from_char.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_char[b] = printable ? b : 256 + n++;
      from_char[to_char[b]] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

uint32_t byte_to_char(uint8_t b) { return tables().to_char[b]; }

bool byte_level_to_bytes(std::string_view token, std::string* out) {
  const Tables& t = tables();
  out->clear();
  for (size_t i = 0; i < token.size();) {
    uint32_t cp;
    const size_t len = utf8_decode(token, i, &cp);
    if (len == 0 || cp >= 512 || t.from_char[cp] < 0) return false;
    out->push_back(static_cast<char>(t.from_char[cp]));
    i += len;
  }
  return true;
}

}  // namespace sable
