#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <queue>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace sable {

void MergeTable::reserve(size_t n) {
  size_t cap = 16;
  int bits = 4;
  while (cap < n * 2) {
    cap <<= 1;
    ++bits;
  }
  slots_.assign(cap, Entry{kEmpty, 0, 0});
  mask_ = cap - 1;
  shift_ = 64 - bits;
}

void MergeTable::insert(int32_t a, int32_t b, int32_t rank, int32_t id) {
  const uint64_t key = make_key(a, b);
  for (size_t i = hash(key);; i = (i + 1) & mask_) {
    Entry& e = slots_[i];
    if (e.key == key) return;  // a repeated merge keeps its first (best) rank
    if (e.key == kEmpty) {
      e = Entry{key, rank, id};
      return;
    }
  }
}

namespace {

std::atomic<uint64_t> g_next_uid{1};

// Per-thread cache of word -> ids, a few models at a time. Bounded: cleared
// when full, so memory stays flat on adversarial input.
struct WordCache {
  static constexpr size_t kMaxEntries = 1 << 17;
  static constexpr size_t kMaxWordLen = 128;
  uint64_t uid = 0;
  std::unordered_map<std::string, std::vector<int32_t>> map;
};

WordCache& cache_for(uint64_t uid) {
  thread_local WordCache caches[4];
  thread_local unsigned next = 0;
  for (auto& c : caches)
    if (c.uid == uid) return c;
  WordCache& c = caches[next++ % 4];
  c.uid = uid;
  c.map.clear();
  return c;
}

Result<std::pair<std::string, std::string>> split_merge(const nlohmann::json& m) {
  if (m.is_string()) {
    const std::string& s = m.get_ref<const std::string&>();
    const size_t sp = s.find(' ', 1);  // the first part is never empty
    if (sp == std::string::npos) return invalid_argument("merge without a space: '" + s + "'");
    return std::make_pair(s.substr(0, sp), s.substr(sp + 1));
  }
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
    return std::make_pair(m[0].get<std::string>(), m[1].get<std::string>());
  return invalid_argument("a merge must be \"a b\" or [\"a\", \"b\"]");
}

}  // namespace

Result<BpeModel> BpeModel::from_json(const nlohmann::json& model) {
  BpeModel m;
  m.uid_ = g_next_uid++;
  try {
    if (model.value("type", "BPE") != "BPE")
      return unimplemented("model type '" + model.value("type", "") + "' is not supported (only BPE)");
    if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() > 0)
      return unimplemented("BPE dropout is not supported");
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (model.contains(k) && model[k].is_string() && !model[k].get<std::string>().empty())
        return unimplemented(std::string("BPE ") + k + " is not supported");
    const auto& vocab = model.at("vocab");
    int32_t max_id = -1;
    m.vocab_.reserve(vocab.size());
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      const int64_t id = it.value().get<int64_t>();
      if (id < 0 || id > INT32_MAX / 2) return invalid_argument("vocab id out of range: " + std::to_string(id));
      m.vocab_[it.key()] = static_cast<int32_t>(id);
      max_id = std::max<int32_t>(max_id, static_cast<int32_t>(id));
    }
    m.id_to_token_.resize(static_cast<size_t>(max_id + 1));
    for (const auto& [tok, id] : m.vocab_) m.id_to_token_[id] = tok;
    for (int b = 0; b < 256; ++b) {
      std::string ch;
      utf8_append(ch, byte_to_char(static_cast<uint8_t>(b)));
      auto it = m.vocab_.find(ch);
      // A byte without a token is dropped, as tokenizers does without unk.
      m.byte_id_[b] = it == m.vocab_.end() ? -1 : it->second;
    }
    const auto& merges = model.at("merges");
    m.merges_.reserve(merges.size());
    int32_t rank = 0;
    for (const auto& mj : merges) {
      SABLE_ASSIGN_OR_RETURN(auto parts, split_merge(mj));
      auto a = m.vocab_.find(parts.first), b = m.vocab_.find(parts.second);
      auto c = m.vocab_.find(parts.first + parts.second);
      if (a == m.vocab_.end() || b == m.vocab_.end() || c == m.vocab_.end())
        return invalid_argument("merge '" + parts.first + " " + parts.second + "' uses a token not in the vocab");
      m.merges_.insert(a->second, b->second, rank++, c->second);
    }
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(std::string("model: ") + e.what());
  }
  return m;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string& BpeModel::id_to_token(int32_t id) const {
  static const std::string kEmpty;
  if (id < 0 || id >= static_cast<int32_t>(id_to_token_.size())) return kEmpty;
  return id_to_token_[id];
}

// Short words: repeatedly merge the lowest-ranked adjacent pair (leftmost on a
// tie), keeping each pair's rank so a merge only recomputes its neighbours.
void BpeModel::merge(std::vector<int32_t>& syms) const {
  if (syms.size() < 2) return;
  int32_t ranks[kShortWord];
  int32_t ids[kShortWord];
  size_t n = syms.size();
  for (size_t i = 0; i + 1 < n; ++i) {
    const MergeTable::Entry* e = merges_.find(syms[i], syms[i + 1]);
    ranks[i] = e ? e->rank : INT32_MAX;
    ids[i] = e ? e->id : -1;
  }
  while (n > 1) {
    size_t best = 0;
    int32_t best_rank = INT32_MAX;
    for (size_t i = 0; i + 1 < n; ++i)
      if (ranks[i] < best_rank) {
        best_rank = ranks[i];
        best = i;
      }
    if (best_rank == INT32_MAX) break;
    syms[best] = ids[best];
    for (size_t i = best + 1; i + 1 < n; ++i) {
      syms[i] = syms[i + 1];
      ranks[i] = ranks[i + 1];
      ids[i] = ids[i + 1];
    }
    --n;
    auto refresh = [&](size_t i) {
      const MergeTable::Entry* e = merges_.find(syms[i], syms[i + 1]);
      ranks[i] = e ? e->rank : INT32_MAX;
      ids[i] = e ? e->id : -1;
    };
    if (best > 0) refresh(best - 1);
    if (best + 1 < n) refresh(best);
  }
  syms.resize(n);
}

// Long words (whitespace runs, base64 blobs): a heap of candidate merges over
// a linked list, O(n log n). Same order as merge(): lowest rank, then leftmost.
void BpeModel::merge_long(std::vector<int32_t>& syms) const {
  const size_t n = syms.size();
  std::vector<int32_t> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  struct Cand {
    int32_t rank, pos, id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int32_t i) {
    if (i < 0 || next[i] < 0) return;
    if (const MergeTable::Entry* e = merges_.find(syms[i], syms[next[i]])) heap.push({e->rank, i, e->id});
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i));
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    if (!alive[c.pos] || next[c.pos] < 0) continue;
    const int32_t r = next[c.pos];
    const MergeTable::Entry* e = merges_.find(syms[c.pos], syms[r]);
    if (!e || e->id != c.id) continue;  // stale: a neighbour changed
    syms[c.pos] = c.id;
    alive[r] = false;
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  size_t k = 0;
  for (int32_t i = 0; i >= 0 && static_cast<size_t>(i) < n; i = next[i]) syms[k++] = syms[i];
  syms.resize(k);
}

void BpeModel::encode_word(std::string_view word, bool prefix_space, std::vector<int32_t>& out) const {
  const size_t len = word.size() + (prefix_space ? 1 : 0);
  const bool cacheable = len <= WordCache::kMaxWordLen && !prefix_space;
  WordCache* cache = nullptr;
  if (cacheable) {
    cache = &cache_for(uid_);
    auto it = cache->map.find(std::string(word));
    if (it != cache->map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> syms;
  syms.reserve(len);
  if (prefix_space && byte_id_[' '] >= 0) syms.push_back(byte_id_[' ']);
  for (unsigned char c : word)
    if (byte_id_[c] >= 0) syms.push_back(byte_id_[c]);
  if (syms.size() <= kShortWord) merge(syms);
  else merge_long(syms);
  out.insert(out.end(), syms.begin(), syms.end());
  if (cache) {
    if (cache->map.size() >= WordCache::kMaxEntries) cache->map.clear();
    cache->map.emplace(std::string(word), std::move(syms));
  }
}

}  // namespace sable
