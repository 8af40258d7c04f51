// Added tokens (special and not) are found in the text before the normalizer
// and the pre-tokenizer run, as Hugging Face tokenizers does: the leftmost
// match wins, and of the matches starting there the longest (Aho-Corasick's
// leftmost-longest). A byte trie with a first-byte filter gives the same
// answer and is fast on text that holds no token at all.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sable {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false;  // match only where not inside a word
  bool lstrip = false;       // swallow whitespace to the left
  bool rstrip = false;       // swallow whitespace to the right
  bool normalized = true;    // matched in normalized text (else in the raw input)
  bool special = false;      // dropped by skip_special_tokens
};

// A piece of input: either an added token (id >= 0) or plain text (id < 0).
struct TextSegment {
  size_t begin = 0, end = 0;
  int32_t id = -1;
};

class AddedTokenMatcher {
 public:
  // tokens must outlive the matcher.
  void build(const std::vector<const AddedToken*>& tokens);
  bool empty() const { return tokens_.empty(); }
  // Appends the segments of text[begin, end) to out, in order, covering it.
  void split(std::string_view text, std::vector<TextSegment>& out) const;

 private:
  struct Match {
    size_t begin, end;
    const AddedToken* token;
  };
  // Longest token starting at text[i], or nullptr.
  const AddedToken* longest_at(std::string_view text, size_t i, size_t* len) const;

  std::vector<const AddedToken*> tokens_;
  // Trie: edge (node << 8 | byte) -> child; terminal[node] = token or null.
  std::unordered_map<uint64_t, uint32_t> edges_;
  std::vector<const AddedToken*> terminal_;
  bool first_byte_[256] = {};
};

}  // namespace sable
