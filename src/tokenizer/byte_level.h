// The ByteLevel mapping of GPT-2 style tokenizers: every byte has a printable
// stand-in character, so a vocabulary of strings can cover all byte sequences.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sable {

// The stand-in code point of byte b.
uint32_t byte_to_char(uint8_t b);

// Maps a vocabulary string back to bytes. Returns false (and leaves out
// unspecified) when some character has no byte, as for added tokens such as
// "<｜User｜>", which the ByteLevel decoder then keeps as their own UTF-8.
bool byte_level_to_bytes(std::string_view token, std::string* out);

}  // namespace sable
