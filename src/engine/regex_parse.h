// The syntax of guided_regex patterns (regex_dfa.h lists what is taken):
// a pattern parsed into a tree over bytes, where every character (a class,
// '.', a literal) is already its UTF-8 byte sequences, so that regex_dfa.cpp
// compiles bytes only.
#pragma once

#include <bitset>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sable::regex {

using ByteSet = std::bitset<256>;

// The syntax tree: a byte set, a sequence, an alternation or a repetition.
struct Ast {
  enum Kind { kSet, kSeq, kAlt, kRepeat } kind = kSeq;
  ByteSet set;
  std::vector<std::unique_ptr<Ast>> kids;
  int min = 0, max = -1;  // repeat: max -1 is unbounded
};
using AstPtr = std::unique_ptr<Ast>;

// The tree of `pattern`, or an error naming the problem and its offset.
Result<AstPtr> parse(std::string_view pattern);

// The UTF-8 byte-range sequences of the code points [lo, hi] (no
// surrogates in the range), appended to out.
void utf8_sequences(uint32_t lo, uint32_t hi, std::vector<std::vector<std::pair<uint8_t, uint8_t>>>& out);

}  // namespace sable::regex
