#include "engine/token_trie.h"

#include <algorithm>
#include <string>
#include <utility>

#include "tokenizer/tokenizer.h"

namespace sable {

TokenTrie::TokenTrie(const Tokenizer& tok, int64_t vocab_size) : vocab_size_(vocab_size) {
  // Sorted byte strings make the trie in one pass: each string shares its
  // prefix with the previous one, so only the path below the common prefix
  // is new, and siblings arrive in byte order.
  std::vector<std::pair<std::string, int32_t>> words;
  for (int32_t id = 0; id < int32_t(vocab_size); ++id) {
    if (tok.is_special(id)) continue;
    std::string b;
    tok.append_bytes(id, /*skip_special_tokens=*/false, b);
    if (!b.empty()) words.emplace_back(std::move(b), id);
  }
  std::sort(words.begin(), words.end());
  nodes_.push_back(Node{});  // root
  std::vector<uint32_t> path{0};     // path[d] = node at depth d of the previous word
  std::vector<uint32_t> last_child;  // last child of path[d], for sibling links
  last_child.push_back(0);
  std::string prev;
  std::vector<std::pair<uint32_t, int32_t>> ends;  // (node, token)
  for (const auto& [w, id] : words) {
    size_t common = 0;
    while (common < w.size() && common < prev.size() && w[common] == prev[common]) ++common;
    path.resize(common + 1);
    last_child.resize(common + 1);
    for (size_t d = common; d < w.size(); ++d) {
      const uint32_t n = uint32_t(nodes_.size());
      Node nd;
      nd.byte = uint8_t(w[d]);
      nodes_.push_back(nd);
      const uint32_t parent = path[d];
      if (last_child[d] == 0) nodes_[parent].first_child = n;
      else nodes_[last_child[d]].next_sibling = n;
      last_child[d] = n;
      path.push_back(n);
      last_child.push_back(0);
    }
    ends.emplace_back(path[w.size()], id);
    prev = w;
  }
  // Token lists per node, in node order.
  std::sort(ends.begin(), ends.end());
  token_ids_.reserve(ends.size());
  for (size_t i = 0; i < ends.size();) {
    const uint32_t n = ends[i].first;
    nodes_[n].tokens_begin = uint32_t(token_ids_.size());
    for (; i < ends.size() && ends[i].first == n; ++i) token_ids_.push_back(ends[i].second);
    nodes_[n].tokens_end = uint32_t(token_ids_.size());
  }
}

int64_t TokenTrie::walk(uint32_t node, const JsonMatcher& m, std::vector<uint8_t>& allowed) const {
  int64_t count = 0;
  for (uint32_t c = nodes_[node].first_child; c != 0; c = nodes_[c].next_sibling) {
    JsonMatcher next = m;
    if (!next.accept(nodes_[c].byte)) continue;
    const Node& n = nodes_[c];
    for (uint32_t i = n.tokens_begin; i < n.tokens_end; ++i) allowed[size_t(token_ids_[i])] = 1;
    count += n.tokens_end - n.tokens_begin;
    count += walk(c, next, allowed);
  }
  return count;
}

int64_t TokenTrie::allowed_tokens(const JsonMatcher& m, std::vector<uint8_t>& allowed) {
  m.state_key(key_);
  if (auto it = cache_.find(key_); it != cache_.end()) {
    allowed = it->second.allowed;
    return it->second.count;
  }
  allowed.assign(size_t(vocab_size_), 0);
  const int64_t count = walk(0, m, allowed);
  if (cache_.size() >= kCacheEntries) cache_.clear();  // simple bound; the hot states come back at once
  cache_.emplace(key_, CachedMask{allowed, count});
  return count;
}

}  // namespace sable
