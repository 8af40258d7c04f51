#include "engine/block_manager.h"

#include <cassert>
#include <string>

#include "core/rng.h"

namespace sable {

BlockManager::BlockManager(int num_blocks, int block_size, bool enable_prefix_caching)
    : num_blocks_(num_blocks), block_size_(block_size), prefix_caching_(enable_prefix_caching),
      blocks_(size_t(num_blocks)) {
  free_uncached_.reserve(size_t(num_blocks));
  // Hand out low block ids first (a stack: push in reverse).
  for (int b = num_blocks - 1; b >= 0; --b) free_uncached_.push_back(b);
}

int BlockManager::allocate() {
  int b;
  if (!free_uncached_.empty()) {
    b = free_uncached_.back();
    free_uncached_.pop_back();
  } else if (!free_cached_.empty()) {
    b = free_cached_.front();  // evict the least recently used cached block
    free_cached_.pop_front();
    unregister(b);
  } else {
    return -1;
  }
  assert(blocks_[size_t(b)].ref == 0);
  blocks_[size_t(b)].ref = 1;
  return b;
}

void BlockManager::retain(int block) {
  Block& bl = blocks_[size_t(block)];
  if (bl.ref == 0) {
    // A prefix-cache hit on a free cached block takes it off the free list.
    assert(bl.registered);
    free_cached_.erase(bl.lru_pos);
  }
  ++bl.ref;
}

void BlockManager::release(int block) {
  Block& bl = blocks_[size_t(block)];
  assert(bl.ref > 0);
  if (--bl.ref > 0) return;
  if (bl.registered) {
    free_cached_.push_back(block);
    bl.lru_pos = std::prev(free_cached_.end());
  } else {
    free_uncached_.push_back(block);
  }
}

uint64_t BlockManager::chain_hash(uint64_t parent, const int32_t* tokens, int n) {
  uint64_t h = mix64(parent ^ 0x5ab1e5ab1e5ab1eull);
  for (int i = 0; i < n; ++i) h = mix64(h ^ uint64_t(uint32_t(tokens[i])) ^ (uint64_t(i) << 32));
  return h == 0 ? 1 : h;  // 0 means "no hash"
}

void BlockManager::register_block(int block, uint64_t hash) {
  if (!prefix_caching_) return;
  Block& bl = blocks_[size_t(block)];
  if (bl.registered || cache_.count(hash)) return;
  bl.registered = true;
  bl.hash = hash;
  cache_[hash] = block;
}

int BlockManager::lookup(uint64_t hash) const {
  auto it = cache_.find(hash);
  return it == cache_.end() ? -1 : it->second;
}

void BlockManager::unregister(int block) {
  Block& bl = blocks_[size_t(block)];
  if (!bl.registered) return;
  cache_.erase(bl.hash);
  bl.registered = false;
  bl.hash = 0;
}

bool BlockManager::check_invariants(std::string* why) const {
  auto fail = [&](const std::string& s) { if (why) *why = s; return false; };
  std::vector<int> seen(size_t(num_blocks_), 0);
  for (int b : free_uncached_) {
    if (blocks_[size_t(b)].ref != 0) return fail("free block " + std::to_string(b) + " has references");
    if (blocks_[size_t(b)].registered) return fail("uncached free block " + std::to_string(b) + " is registered");
    if (seen[size_t(b)]++) return fail("block " + std::to_string(b) + " is free twice");
  }
  for (int b : free_cached_) {
    if (blocks_[size_t(b)].ref != 0) return fail("free cached block " + std::to_string(b) + " has references");
    if (!blocks_[size_t(b)].registered) return fail("cached free block " + std::to_string(b) + " is not registered");
    if (seen[size_t(b)]++) return fail("block " + std::to_string(b) + " is free twice");
  }
  for (int b = 0; b < num_blocks_; ++b) {
    const Block& bl = blocks_[size_t(b)];
    if (bl.ref < 0) return fail("negative reference count");
    if (bl.ref == 0 && !seen[size_t(b)]) return fail("block " + std::to_string(b) + " is lost (no refs, not free)");
    if (bl.ref > 0 && seen[size_t(b)]) return fail("block " + std::to_string(b) + " is used and free");
    if (bl.registered) {
      auto it = cache_.find(bl.hash);
      if (it == cache_.end() || it->second != b) return fail("registered block missing from the cache map");
    }
  }
  if (cache_.size() > size_t(num_blocks_)) return fail("cache map larger than the pool");
  for (const auto& [h, b] : cache_)
    if (!blocks_[size_t(b)].registered || blocks_[size_t(b)].hash != h) return fail("stale cache map entry");
  return true;
}

}  // namespace sable
