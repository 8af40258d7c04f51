// L2 prefetches carried by a kernel already in the stream.
//
// Why: at decode sizes a step alternates kernels that stream weights from
// DRAM (the GEMMs) with latency-bound ones that leave it nearly idle (MLA
// decode attention reads ~0.6 MB a layer at batch 1 in ~10 us). The weights
// read right after attention (W_UV, then o_proj) can start into the L2
// meanwhile, so that those kernels begin on L2 hits. A prefetch kernel of
// its own lost (record bench/results/2026-12-04-c2506a3-l2-prefetch-ab.md):
// the GEMMs did read less from DRAM and ran 2-3 us faster, but a kernel
// retires only once its bulk prefetches have landed, ~5.6 us for 16 MB, and
// the chain waited for it. Here the prefetches ride on the attention kernel
// itself (its producer threads issue them once their own loads are out), so
// they land inside its ~10 us rather than in a node of their own.
//
// What is prefetched is a list of sets, each the heads of a weight's CTA
// ranges in 4 KB tiles: range (rt, z) of a set is row tile rt's K tiles
// [k_tiles z / splits, k_tiles (z + 1) / splits) at base + (rt k_tiles + ..)
// 4 KB, of which the first `head` tiles are prefetched. The streaming GEMM's
// tiled FP8 copy (expert_tiles.cuh) is read exactly so, each CTA from its
// range's start (gemm.h: linear_l2_prefetch_set); a plain buffer read whole is
// one range of all its tiles. A hint: no result depends on it.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SABLE_L2_HD __host__ __device__ __forceinline__
#else
#define SABLE_L2_HD inline
#endif

namespace sable::cuda {

struct L2PrefetchSet {
  const char* base = nullptr;
  int64_t row_tiles = 0, k_tiles = 0, head = 0;  // head: tiles prefetched per range
  int splits = 1;
};

struct L2Prefetch {
  static constexpr int kMaxSets = 2;
  static constexpr int64_t kTileBytes = 4096;
  static constexpr int64_t kPieceTiles = 4;  // 16 KB per prefetch instruction: spread over many threads
  L2PrefetchSet set[kMaxSets];
  int sets = 0;
};

// Pieces of all sets, numbered set by set, range by range; visit(address,
// bytes) for each piece p = g, g + G, g + 2 G, ... (thread g of G carrier
// threads). Pieces past a shorter range's end are skipped.
template <typename F>
SABLE_L2_HD void l2_prefetch_pieces(const L2Prefetch& pf, int64_t g, int64_t G, F&& visit) {
  int64_t p = g;
  for (int s = 0; s < pf.sets; ++s) {
    const L2PrefetchSet& e = pf.set[s];
    const int64_t per_range = (e.head + L2Prefetch::kPieceTiles - 1) / L2Prefetch::kPieceTiles;
    const int64_t n = e.row_tiles * e.splits * per_range;
    for (; p < n; p += G) {
      const int64_t r = p / per_range, t0 = (p % per_range) * L2Prefetch::kPieceTiles;
      const int64_t rt = r / e.splits, z = r % e.splits;
      const int64_t lo = e.k_tiles * z / e.splits, hi = e.k_tiles * (z + 1) / e.splits;
      const int64_t len = e.head < hi - lo ? e.head : hi - lo;
      if (t0 >= len) continue;
      const int64_t tiles = len - t0 < L2Prefetch::kPieceTiles ? len - t0 : L2Prefetch::kPieceTiles;
      visit(e.base + (rt * e.k_tiles + lo + t0) * L2Prefetch::kTileBytes, uint32_t(tiles * L2Prefetch::kTileBytes));
    }
    p -= n;
  }
}

#if defined(__CUDACC__)
// Issues this thread's pieces (fire and forget: nothing waits on them, but
// the CTA retires only once they have landed).
__device__ __forceinline__ void l2_prefetch_issue(const L2Prefetch& pf, int64_t g, int64_t G) {
  l2_prefetch_pieces(pf, g, G, [](const char* addr, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(addr), "r"(bytes) : "memory");
#endif
  });
}
#endif

// A buffer of `bytes` read whole, as one set (its whole 4 KB tiles; a tail
// under 4 KB is left out: a prefetch must not run past the allocation).
inline L2PrefetchSet l2_prefetch_buffer(const void* p, int64_t bytes) {
  L2PrefetchSet s;
  s.base = static_cast<const char*>(p);
  s.row_tiles = 1;
  s.k_tiles = bytes / L2Prefetch::kTileBytes;
  s.head = s.k_tiles;
  return s;
}

// Which hints CudaBackend passes to the next MLA decode attention, knob
// "mla-prefetch" / SABLE_MLA_PREFETCH: a mask, 1 the heads of o_proj's CTA
// ranges (FP8 streaming GEMM at one token), 2 W_UV whole; 0 none. And the
// bytes of o_proj's range heads, knob "mla-prefetch-mb" /
// SABLE_MLA_PREFETCH_MB (MB, spread evenly over its ranges). Not thread-safe.
int l2_carry_mask();
bool set_l2_carry_mask(int mask);
int l2_carry_mb();
bool set_l2_carry_mb(int mb);
// Largest token count a hint is taken for (above it the kernels after
// attention are not bound by their weight stream's start).
constexpr int64_t kL2CarryMaxTokens = 32;

}  // namespace sable::cuda
