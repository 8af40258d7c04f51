#include "engine/token_trie.h"

#include <algorithm>

#include "tokenizer/tokenizer.h"

namespace sable {

TokenTrie::TokenTrie(const Tokenizer& tok, int64_t vocab_size) : vocab_size_(vocab_size) {
  std::vector<std::pair<std::string, int32_t>> words, not_plain;
  // Plain: no quote (which would end the string, and what follows depends on
  // where the string is), and taken whole by a free string ending in one
  // (whole UTF-8 characters and escapes, no control bytes): the matcher
  // decides, from inside a free key of any_object.
  JsonMatcher in_string(*JsonSchema::any_object());
  in_string.accept(std::string_view("{\""));
  for (int32_t id = 0; id < int32_t(vocab_size); ++id) {
    if (tok.is_special(id)) continue;
    std::string b;
    tok.append_bytes(id, /*skip_special_tokens=*/false, b);
    if (b.empty()) continue;
    JsonMatcher probe = in_string;
    const bool plain = b.find('"') == std::string::npos && probe.accept(std::string_view(b)) && probe.in_free_string();
    if (plain) plain_.push_back(id);
    else not_plain.emplace_back(b, id);
    words.emplace_back(std::move(b), id);
  }
  all_.build(std::move(words));
  not_plain_.build(std::move(not_plain));
}

void TokenTrie::Trie::build(std::vector<std::pair<std::string, int32_t>> words) {
  // Sorted byte strings make the trie in one pass: each string shares its
  // prefix with the previous one, so only the path below the common prefix
  // is new, and siblings arrive in byte order.
  std::sort(words.begin(), words.end());
  nodes.assign(1, Node{});                 // root
  std::vector<uint32_t> path{0};           // path[d]: node at depth d of the previous word
  std::vector<uint32_t> last_child{0};     // last child of path[d], for sibling links
  std::string prev;
  std::vector<std::pair<uint32_t, int32_t>> ends;  // (node, token)
  for (const auto& [w, id] : words) {
    size_t common = 0;
    while (common < w.size() && common < prev.size() && w[common] == prev[common]) ++common;
    path.resize(common + 1);
    last_child.resize(common + 1);
    for (size_t d = common; d < w.size(); ++d) {
      const uint32_t n = uint32_t(nodes.size());
      Node nd;
      nd.byte = uint8_t(w[d]);
      nodes.push_back(nd);
      if (last_child[d] == 0) nodes[path[d]].first_child = n;
      else nodes[last_child[d]].next_sibling = n;
      last_child[d] = n;
      path.push_back(n);
      last_child.push_back(0);
    }
    ends.emplace_back(path[w.size()], id);
    prev = w;
  }
  std::sort(ends.begin(), ends.end());
  token_ids.clear();
  token_ids.reserve(ends.size());
  for (size_t i = 0; i < ends.size();) {
    const uint32_t n = ends[i].first;
    nodes[n].tokens_begin = uint32_t(token_ids.size());
    for (; i < ends.size() && ends[i].first == n; ++i) token_ids.push_back(ends[i].second);
    nodes[n].tokens_end = uint32_t(token_ids.size());
  }
}

int64_t TokenTrie::Trie::walk(uint32_t node, const JsonMatcher& m, std::vector<uint8_t>& allowed) const {
  int64_t count = 0;
  for (uint32_t c = nodes[node].first_child; c != 0; c = nodes[c].next_sibling) {
    JsonMatcher next = m;
    if (!next.accept(nodes[c].byte)) continue;
    const Node& n = nodes[c];
    for (uint32_t i = n.tokens_begin; i < n.tokens_end; ++i) allowed[size_t(token_ids[i])] = 1;
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
  int64_t count = 0;
  if (m.in_free_string()) {
    for (int32_t id : plain_) allowed[size_t(id)] = 1;
    count = int64_t(plain_.size()) + not_plain_.walk(0, m, allowed);
  } else {
    count = all_.walk(0, m, allowed);
  }
  if (cache_.size() >= kCacheEntries) cache_.clear();  // a simple bound; the hot states come back at once
  cache_.emplace(key_, CachedMask{allowed, count});
  return count;
}

}  // namespace sable
