// Unicode NFC normalization (the Qwen3 tokenizer's normalizer) and the
// White_Space property, from tables generated out of Python's unicodedata
// (gen_unicode_tables.py), so Sable needs no ICU.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sable {

// True when NFC could change s; false means s is already NFC (the quick check
// finds no code point that decomposes, composes with its predecessor or
// reorders). ASCII-only text is answered in one pass without table lookups.
bool nfc_may_change(std::string_view utf8);

// NFC of well-formed UTF-8 text.
std::string nfc_normalize(std::string_view utf8);

// Unicode White_Space (what Rust's char::is_whitespace tests).
bool is_unicode_whitespace(uint32_t cp);

}  // namespace sable
