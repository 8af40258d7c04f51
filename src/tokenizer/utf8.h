// UTF-8 helpers shared by the tokenizer, the incremental decoder and the Jinja
// interpreter. Invalid input is handled the way Python's
// bytes.decode("utf-8", "replace") and Rust's String::from_utf8_lossy do: each
// maximal ill-formed subpart becomes one U+FFFD, so text that went through
// Hugging Face's Python or Rust code and text that went through Sable agree.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sable {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Decodes one well-formed UTF-8 sequence at s[i]. Returns its length (1..4), or
// 0 when s[i..] does not start with a complete well-formed sequence; in that
// case *bad_len is the length of the maximal ill-formed subpart (>= 1) and
// *incomplete says whether it is a valid prefix cut short by the end of s.
size_t utf8_decode(std::string_view s, size_t i, uint32_t* cp, size_t* bad_len = nullptr,
                   bool* incomplete = nullptr);

void utf8_append(std::string& out, uint32_t cp);

// True when s is entirely well-formed UTF-8.
bool utf8_valid(std::string_view s);

// s with every maximal ill-formed subpart replaced by U+FFFD.
std::string utf8_lossy(std::string_view s);

// Length of the longest prefix of s that does not end inside a sequence that
// more bytes could still complete (used when streaming). Ill-formed bytes
// that can never become valid count as complete: they decode to U+FFFD now.
size_t utf8_stable_prefix_len(std::string_view s);

// Number of code points in well-formed UTF-8 (ill-formed bytes count one each).
size_t utf8_length(std::string_view s);

}  // namespace sable
