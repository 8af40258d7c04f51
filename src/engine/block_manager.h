// KV block accounting (pure CPU; never touches device memory): a pool of
// fixed-size blocks with reference counts, and automatic prefix caching.
//
// Invariants:
//  - a block is either in use (ref > 0) or free (ref == 0);
//  - only full blocks are shared (ref > 1) or cached: a partial block always
//    belongs to one sequence, which keeps writing into it;
//  - a cached block is registered under the hash of its tokens chained with
//    its predecessors' (so equal hashes mean equal prefixes); a free cached
//    block keeps its contents until it is reused, in LRU order, so a later
//    request with the same prefix can pick it up again.
#pragma once

#include <cstdint>
#include <cstddef>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

namespace sable {

class BlockManager {
 public:
  BlockManager(int num_blocks, int block_size, bool enable_prefix_caching);

  int num_blocks() const { return num_blocks_; }
  int block_size() const { return block_size_; }
  bool prefix_caching() const { return prefix_caching_; }
  // Blocks that allocate() can hand out now (uncached free + evictable cached).
  int num_free_blocks() const { return int(free_uncached_.size() + free_cached_.size()); }
  int num_used_blocks() const { return num_blocks_ - num_free_blocks(); }
  double usage() const { return num_blocks_ ? double(num_used_blocks()) / num_blocks_ : 0.0; }

  // Takes a free block (ref 1), preferring blocks that hold no cached
  // prefix; evicts the least recently used cached block otherwise. -1 if none.
  int allocate();
  // Another user of a block (sharing a full block: fork, prefix hit).
  void retain(int block);
  // Drops one reference; at zero the block is free (and stays cached if it
  // was registered).
  void release(int block);

  // Hash of a full block given the hash of the block before it (0 for the
  // first block).
  static uint64_t chain_hash(uint64_t parent, const int32_t* tokens, int n);
  // Registers a full, computed block under its chained hash, so that later
  // sequences can reuse it. No-op when prefix caching is off or the hash is
  // already registered (by another block with the same contents).
  void register_block(int block, uint64_t hash);
  // The cached block for a hash, or -1. Does not take a reference.
  int lookup(uint64_t hash) const;

  int ref_count(int block) const { return blocks_[size_t(block)].ref; }
  // Checks every invariant (for tests); returns false and sets *why on the
  // first violation.
  bool check_invariants(std::string* why) const;

 private:
  struct Block {
    int ref = 0;
    uint64_t hash = 0;       // registered hash, 0 if none
    bool registered = false;
    std::list<int>::iterator lru_pos;  // position in free_cached_ when free and cached
  };
  void unregister(int block);

  int num_blocks_, block_size_;
  bool prefix_caching_;
  std::vector<Block> blocks_;
  std::vector<int> free_uncached_;           // stack
  std::list<int> free_cached_;               // LRU: front = least recently freed
  std::unordered_map<uint64_t, int> cache_;  // hash -> block
};

}  // namespace sable
