// The L2 prefetches carried by MLA decode attention (backend/cuda/l2_prefetch.h):
// the pieces a set is cut into cover exactly the head of each CTA range,
// once, inside the weight, however many carrier threads share them; the
// set of a linear weight names the streaming kernel's tiled FP8 copy and
// nothing else; and a carried prefetch changes no bit of attention.
#include "backend/cuda/l2_prefetch.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "backend/cuda/gemm.h"
#include "backend/cuda/ops.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

// Byte intervals [lo, hi) of the heads that `pf` should prefetch, from its
// definition (l2_prefetch.h), relative to each set's base plus `offset[s]`.
std::vector<std::pair<int64_t, int64_t>> expected_heads(const cuda::L2Prefetch& pf, const char* origin) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int s = 0; s < pf.sets; ++s) {
    const cuda::L2PrefetchSet& e = pf.set[s];
    for (int64_t rt = 0; rt < e.row_tiles; ++rt)
      for (int z = 0; z < e.splits; ++z) {
        const int64_t lo = e.k_tiles * z / e.splits, hi = e.k_tiles * (z + 1) / e.splits;
        const int64_t n = std::min(e.head, hi - lo);
        if (n <= 0) continue;
        const int64_t b = (e.base - origin) + (rt * e.k_tiles + lo) * cuda::L2Prefetch::kTileBytes;
        out.push_back({b, b + n * cuda::L2Prefetch::kTileBytes});
      }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The pieces merged into maximal intervals (adjacent pieces of one range
// join; separate ranges stay apart unless they touch).
std::vector<std::pair<int64_t, int64_t>> merged(std::vector<std::pair<int64_t, int64_t>> v) {
  std::sort(v.begin(), v.end());
  std::vector<std::pair<int64_t, int64_t>> out;
  for (auto [lo, hi] : v) {
    if (!out.empty() && lo < out.back().second) return {};  // an overlap: fail the comparison
    if (!out.empty() && lo == out.back().second)
      out.back().second = hi;
    else
      out.push_back({lo, hi});
  }
  return out;
}

TEST(L2Prefetch, PiecesCoverEachRangeHeadOnce) {
  std::vector<char> arena(64 << 20);
  const char* origin = arena.data();
  struct Case {
    int64_t row_tiles, k_tiles, head;
    int splits;
  };
  // o_proj at one token (224 rows x 128 K tiles, 2 splits), ranges of
  // uneven length (k_tiles % splits != 0), heads of 1 tile, of a piece and a
  // bit, of a whole range, and longer than some ranges (cut at their end).
  for (const Case& c : {Case{224, 128, 9, 2}, Case{5, 11, 2, 3}, Case{3, 29, 5, 4}, Case{7, 17, 17, 1},
                        Case{2, 10, 1, 7}, Case{2, 10, 2, 7}}) {
    cuda::L2Prefetch pf;
    pf.set[0] = {origin, c.row_tiles, c.k_tiles, c.head, c.splits};
    const int64_t set0 = c.row_tiles * c.k_tiles * cuda::L2Prefetch::kTileBytes;
    pf.set[1] = cuda::l2_prefetch_buffer(origin + set0, 1000000);  // 244 whole tiles, the tail left out
    pf.sets = 2;
    ASSERT_EQ(pf.set[1].k_tiles, 1000000 / 4096);
    // Set 1 is one range of all its tiles: expected_heads merges it with
    // nothing, so compare merged forms of both sides.
    std::vector<std::pair<int64_t, int64_t>> want = merged(expected_heads(pf, origin));
    ASSERT_FALSE(want.empty());
    for (int64_t G : {int64_t(1), int64_t(7), int64_t(128), int64_t(64 * 128), int64_t(1 << 20)}) {
      std::vector<std::pair<int64_t, int64_t>> got;
      for (int64_t g = 0; g < std::min<int64_t>(G, 1 << 16); ++g)
        cuda::l2_prefetch_pieces(pf, g, G, [&](const char* addr, uint32_t bytes) {
          EXPECT_LE(bytes, uint32_t(cuda::L2Prefetch::kPieceTiles * cuda::L2Prefetch::kTileBytes));
          EXPECT_EQ(bytes % cuda::L2Prefetch::kTileBytes, 0u);
          got.push_back({addr - origin, addr - origin + bytes});
        });
      EXPECT_EQ(merged(got), want) << "rows " << c.row_tiles << " k " << c.k_tiles << " head " << c.head << " splits "
                                   << c.splits << " threads " << G;
      for (auto [lo, hi] : got) EXPECT_LE(hi, set0 + 1000000);
    }
  }
  cuda::L2Prefetch none;
  int calls = 0;
  cuda::l2_prefetch_pieces(none, 0, 1, [&](const char*, uint32_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(CudaL2Prefetch, LinearSetIsTheTiledStreamingCopy) {
  SABLE_REQUIRE_GPU();
  LinearWeight fp8, bf16;
  cuda::make_random_linear(fp8, 7168, 16384, /*fp8=*/true, 1, gpu().stream());
  cuda::make_random_linear(bf16, 2048, 7168, /*fp8=*/false, 2, gpu().stream());
  if (cuda::stream_tiles_bytes(7168, 16384) == 0) GTEST_SKIP() << "SABLE_STREAM_TILES=0: no tiled copy";
  cuda::L2PrefetchSet s;
  ASSERT_TRUE(cuda::linear_l2_prefetch_set(fp8, 1, 16 << 20, &s));
  EXPECT_NE(s.base, nullptr);
  EXPECT_EQ(s.row_tiles, 7168 / 32);
  EXPECT_EQ(s.k_tiles, 16384 / 128);
  EXPECT_GE(s.splits, 1);
  // 16 MB over the ranges, at least a tile each, at most the shortest range.
  EXPECT_GE(s.head * s.row_tiles * s.splits * 4096, int64_t(16) << 20);
  EXPECT_LT((s.head - 1) * s.row_tiles * s.splits * 4096, int64_t(16) << 20);
  ASSERT_TRUE(cuda::linear_l2_prefetch_set(fp8, 1, int64_t(1) << 40, &s));
  EXPECT_EQ(s.head, s.k_tiles / s.splits);
  EXPECT_FALSE(cuda::linear_l2_prefetch_set(fp8, 4096, 16 << 20, &s));  // cuBLASLt's block-scaled GEMM
  EXPECT_FALSE(cuda::linear_l2_prefetch_set(bf16, 1, 16 << 20, &s));    // cuBLASLt reads the natural rows
  EXPECT_FALSE(cuda::linear_l2_prefetch_set(fp8, 1, 0, &s));
  LinearWeight unprepared;
  EXPECT_FALSE(cuda::linear_l2_prefetch_set(unprepared, 1, 16 << 20, &s));
}

}  // namespace
}  // namespace sable
