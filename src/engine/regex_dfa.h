// A regular expression compiled to a byte-level DFA, for vLLM's guided_regex
// (structured_outputs.regex): the generated text must match the pattern as a
// whole. The token mask walks the vocabulary's byte trie one byte at a time
// (token_trie.h), so what it needs is a transition per byte from a small
// copyable state, which a DFA is; a backtracking engine (PCRE2, std::regex)
// has no such state to copy, and RE2 keeps its DFA private. So this is our
// own, for the syntax guided_regex patterns use (Python's re, as vLLM's
// backends take it):
//   literals and escapes (\. \\ \n \t \r \f \v \0 \xHH \uHHHH \UHHHHHHHH),
//   '.' (any character but a newline), classes of any characters ([a-z],
//   [\u0430-\u044f], [^...], with \d \w \s \D \W \S inside), the same
//   shorthands outside (ASCII: \w is [A-Za-z0-9_], \D any non-digit),
//   groups (...), (?:...), (?P<name>...), alternation |, quantifiers * + ?
//   {n} {n,} {,m} {n,m} (lazy forms too: the language is the same), ^ at
//   the start / $ at the end (the match is always of the whole text), and
//   the flags (?i) (ASCII letters in either case) and (?s) ('.' takes a
//   newline) at the start of the pattern.
// Characters are UTF-8: a class or '.' matches one whole character (any
// well-formed sequence, never a surrogate), so the text stays valid UTF-8;
// a class is a set of code point ranges, compiled to UTF-8 byte-range
// sequences. Lookaround, backreferences, \b, flags elsewhere and possessive
// quantifiers are refused with an error that names them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sable {

class RegexDfa {
 public:
  static constexpr uint32_t kDead = UINT32_MAX;  // no text from here matches
  static constexpr size_t kMaxStates = 4096;     // DFA states (the error says to simplify the pattern)
  static constexpr size_t kMaxNfaStates = 200000;

  static Result<RegexDfa> compile(std::string_view pattern);

  uint32_t start() const { return 0; }
  // The state after `byte`, or kDead.
  uint32_t next(uint32_t state, uint8_t byte) const { return next_[size_t(state) * num_classes_ + class_of_[byte]]; }
  // The text so far matches the whole pattern.
  bool accepting(uint32_t state) const { return accepting_[state] != 0; }
  // Some byte leads to a live state (the text may go on).
  bool has_next(uint32_t state) const { return has_next_[state] != 0; }
  size_t num_states() const { return accepting_.size(); }
  // Some code point in [lo, hi], UTF-8 encoded, leads from `state` to a live
  // state (surrogates excluded): whether a JSON \u escape being typed can
  // still stand for a character the pattern takes here.
  bool any_code_point(uint32_t state, uint32_t lo, uint32_t hi) const;

  // Convenience: the whole of `text` matches.
  bool matches(std::string_view text) const;

 private:
  std::vector<uint8_t> class_of_ = std::vector<uint8_t>(256, 0);  // byte -> equivalence class
  uint32_t num_classes_ = 1;
  std::vector<uint32_t> next_;  // [state][class]
  std::vector<uint8_t> accepting_, has_next_;
};

}  // namespace sable
