// The vocabulary as a byte trie, for structured output: which tokens can
// come next is the set of trie paths a JsonMatcher accepts from its state,
// found in one walk that shares the work of common prefixes (a token is
// tried byte by byte only as far as its prefix stays valid).
//
// Inside a string without a length limit nearly every token is allowed, and
// a walk of the whole trie costs ~8 ms for DeepSeek-V3's 129K tokens. There,
// tokens of plain bytes (no quote; whole UTF-8 characters and escapes, no
// control bytes) are always accepted and end in a free string again
// (JsonMatcher::in_free_string), so only the few others are walked, in a
// trie of their own. Masks are also cached by the matcher's state: inside a
// long string or number the state repeats from step to step.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/json_matcher.h"

namespace sable {

class Tokenizer;

class TokenTrie {
 public:
  // Every token with a non-empty byte string that is not a special token
  // (special tokens never belong to the generated JSON).
  TokenTrie(const Tokenizer& tok, int64_t vocab_size);

  // allowed[id] = 1 for every token whose bytes the matcher accepts in
  // full from its current state (m is unchanged), else 0. Returns how many
  // are allowed. Not thread-safe (the cache; the engine thread owns it).
  int64_t allowed_tokens(const JsonMatcher& m, std::vector<uint8_t>& allowed);

  int64_t vocab_size() const { return vocab_size_; }
  size_t num_nodes() const { return all_.nodes.size(); }
  size_t num_plain_tokens() const { return plain_.size(); }

 private:
  struct Node {
    uint32_t first_child = 0;   // 0: none (the root is node 0 and no one's child)
    uint32_t next_sibling = 0;  // 0: none
    uint32_t tokens_begin = 0;  // tokens ending here: token_ids[begin, end)
    uint32_t tokens_end = 0;
    uint8_t byte = 0;
  };
  struct Trie {
    std::vector<Node> nodes;
    std::vector<int32_t> token_ids;
    void build(std::vector<std::pair<std::string, int32_t>> words);
    int64_t walk(uint32_t node, const JsonMatcher& m, std::vector<uint8_t>& allowed) const;
  };
  struct CachedMask {
    std::vector<uint8_t> allowed;
    int64_t count = 0;
  };
  static constexpr size_t kCacheEntries = 64;  // x vocabulary bytes (8 MB for 129K tokens)

  Trie all_;                    // every token
  Trie not_plain_;              // tokens with a quote, a control byte, a partial character or escape
  std::vector<int32_t> plain_;  // the others
  std::unordered_map<std::string, CachedMask> cache_;
  std::string key_;
  int64_t vocab_size_ = 0;
};

}  // namespace sable
