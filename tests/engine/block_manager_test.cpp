// Block manager: allocation, sharing, prefix caching and LRU eviction, and a
// randomized property test that every invariant holds over many operations.
#include <gtest/gtest.h>

#include <random>

#include "engine/block_manager.h"

namespace sable {
namespace {

TEST(BlockManager, AllocateAndReleaseAll) {
  BlockManager bm(8, 4, true);
  std::vector<int> got;
  for (int i = 0; i < 8; ++i) got.push_back(bm.allocate());
  EXPECT_EQ(bm.allocate(), -1);
  EXPECT_EQ(bm.num_free_blocks(), 0);
  for (int b : got) bm.release(b);
  EXPECT_EQ(bm.num_free_blocks(), 8);
  std::string why;
  EXPECT_TRUE(bm.check_invariants(&why)) << why;
}

TEST(BlockManager, CachedBlockIsReusedAndEvictedLast) {
  BlockManager bm(2, 4, true);
  int a = bm.allocate();
  const int32_t toks[4] = {1, 2, 3, 4};
  uint64_t h = BlockManager::chain_hash(0, toks, 4);
  bm.register_block(a, h);
  bm.release(a);
  EXPECT_EQ(bm.lookup(h), a);  // still cached while free
  int b = bm.allocate();       // prefers the uncached free block
  EXPECT_NE(b, a);
  EXPECT_EQ(bm.lookup(h), a);
  bm.retain(a);                // a prefix hit takes it back
  EXPECT_EQ(bm.ref_count(a), 1);
  bm.release(a);
  bm.release(b);
  int c = bm.allocate(), d = bm.allocate();  // now the cached one must be evicted
  EXPECT_TRUE((c == a) != (d == a));
  EXPECT_EQ(bm.lookup(h), -1);
  std::string why;
  EXPECT_TRUE(bm.check_invariants(&why)) << why;
}

TEST(BlockManager, ChainHashDependsOnPrefix) {
  const int32_t x[2] = {7, 8};
  EXPECT_NE(BlockManager::chain_hash(0, x, 2), BlockManager::chain_hash(1234, x, 2));
  const int32_t y[2] = {8, 7};
  EXPECT_NE(BlockManager::chain_hash(0, x, 2), BlockManager::chain_hash(0, y, 2));
}

TEST(BlockManager, RandomizedOperationsKeepInvariants) {
  std::mt19937 rng(42);
  for (bool caching : {true, false}) {
    BlockManager bm(64, 4, caching);
    std::vector<int> held;  // one entry per reference we hold
    for (int step = 0; step < 20000; ++step) {
      int op = int(rng() % 5);
      if (op <= 1) {
        int b = bm.allocate();
        if (b >= 0) held.push_back(b);
        else EXPECT_EQ(bm.num_free_blocks(), 0);
      } else if (op == 2 && !held.empty()) {
        size_t i = rng() % held.size();
        bm.release(held[i]);
        held.erase(held.begin() + long(i));
      } else if (op == 3 && !held.empty()) {
        int b = held[rng() % held.size()];
        bm.retain(b);  // share
        held.push_back(b);
      } else if (op == 4) {
        if (!held.empty()) {
          int32_t toks[4] = {int32_t(rng() % 8), 1, 2, 3};
          bm.register_block(held[rng() % held.size()], BlockManager::chain_hash(0, toks, 4));
        }
        int32_t toks[4] = {int32_t(rng() % 8), 1, 2, 3};
        int b = bm.lookup(BlockManager::chain_hash(0, toks, 4));
        if (b >= 0) { bm.retain(b); held.push_back(b); }
      }
      if (step % 97 == 0) {
        std::string why;
        ASSERT_TRUE(bm.check_invariants(&why)) << "step " << step << ": " << why;
        ASSERT_EQ(bm.num_used_blocks(), [&] {
          std::vector<int> u(held);
          std::sort(u.begin(), u.end());
          return int(std::unique(u.begin(), u.end()) - u.begin());
        }());
      }
    }
    for (int b : held) bm.release(b);
    EXPECT_EQ(bm.num_free_blocks(), 64);
    std::string why;
    EXPECT_TRUE(bm.check_invariants(&why)) << why;
  }
}

}  // namespace
}  // namespace sable
