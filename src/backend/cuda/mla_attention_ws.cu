// Paged MLA attention in the absorbed latent space, warp-specialized on
// wgmma (sm_90a), for DeepSeek-V3's shape: L = 576 (512 c_kv + 64 k_pe) for
// scores, the first Dv = 512 dims as values, BF16 q / cache / out.
//
// Same tiling as the mma kernel (mla_attention_mma.cu): one CTA takes 64
// heads of one token as the rows of a flash-attention tile and streams the
// token's keys through shared memory 64 at a time, split-K over the context
// as before. What changes is who does what (the FlashMLA / FlashAttention-3
// idea, warp specialization):
//
//   warpgroup 2 (producer, 40 registers): cp.async of Q once and of each
//     64-key tile into a two-stage ring; cp.async.mbarrier.arrive signals
//     full[s] when a thread's copies land, so it never blocks on a load,
//     only on empty[s] (both consumers done with the stage);
//   warpgroup 0: S = Q K^T [64 x 64] as 36 m64n64k16 wgmmas (both operands
//     from smem), the online softmax in registers (a row lives in one quad of
//     threads: no cross-warp reduction), P (bf16) and the rescale factors
//     to smem, then O[:, 0:256] += P V[:, 0:256] (4 m64n256k16 wgmmas);
//   warpgroup 1: O[:, 256:512] += P V[:, 256:512] at the same time.
// V is the same smem tile as K read N-major (dims contiguous per key): the
// 128-byte-swizzle MN-major descriptor, LBO = 8 KB between 64-dim column
// blocks, SBO = 1 KB between groups of 8 keys.
//
// Hand-offs between the consumers go through named barriers: kBarPFull
// (warpgroup 0 wrote P and the row rescale factors of tile i), kBarPFree
// (warpgroup 1 has read them: P of tile i + 1 may overwrite). Shared
// memory: Q 72 KB + 2 K stages 144 KB + P 8 KB + row statistics: 224 KB,
// one CTA per SM, 384 threads.
//
// Where the time goes (H200, decode 64 x 4096): 144.5 us, 49 % of the copy
// rate: the per-tile chain (S, softmax, P hand-off, P V, release) over two
// stages. Not the loads: a TMA producer with the token's two CTAs in a
// cluster sharing each tile (multicast) ran 4 % slower. Until e204fd1 ptxas serialized every wgmma here
// (the warpgroup branch was not provably warp-uniform: see `wg` below) and
// S cost 89 clk per m64n64k16; 201 us then. Measured no faster at that
// time, so not kept: Q from registers for S, two accumulator chains, S split
// over k between the warpgroups, an L2 prefetch of the next tile, per-8 KB
// block barriers (slower), S(i + 1) issued behind P V(i) (slower: the tile
// is released later). After the fix, FlashMLA's "seesaw" schedule (both
// warpgroups computing S) ran 175 us against this kernel's 145. See
// docs/kernels-attention.md.
//
// Numerics equal the mma kernel's up to summation order: scores in f32,
// softmax in the log2 domain, P rounded to bf16 and the normalizer summing
// the rounded weights.
//
// FP8 cache (--kv-cache-dtype fp8, kFp8): the same consumers over one BF16
// key stage. The producer streams the e4m3 tiles (36 KB) by cp.async into a
// two-slot ring of its own in the second stage's space, two tiles ahead;
// once the consumers are done with tile i - 1, all 384 threads widen tile i
// (exactly: e4m3 sits inside bf16) into the BF16 stage. The widening is the
// price of one stage instead of two; the bytes from memory halve. Same bits
// as on a BF16 cache of the same values. H100, decode 64 x 4096: 201 us
// (BF16 cache 148; the producer alone widening, 265: most of a tile's wait
// was its widening; the same with integer moves instead of the conversion
// unit, 318).
#include <cuda_bf16.h>

#include <cmath>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/mla_attention_kernels.cuh"
#include "backend/cuda/mla_wgmma.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/smem_optin.h"

namespace sable::cuda::mla {
namespace {

using namespace wg;  // NOLINT: the shared tile shape and wgmma helpers (mla_wgmma.cuh)

constexpr int kThreads = 384;
constexpr int kPBytes = kRows * kKeys * 2;   // 8192
constexpr int kStatBytes = 3 * 64 * 4;       // alpha, l, m per row
constexpr int kBarBytes = 4 * 8;             // full[2], empty[2]
constexpr int kSmemBytes = 1024 /* alignment slack */ + 3 * kTileBytes + kPBytes + kStatBytes + kBarBytes;
constexpr int kBarPFull = 1, kBarPFree = 2, kBarEpilogue = 3, kBarPLocal = 4;  // named barriers (0 is __syncthreads)
constexpr int kF8TileBytes = kKeys * kL;                                       // 36864: an e4m3 key tile
constexpr int kProducerThreads = 128;
constexpr int kBarFree = 5, kBarFull = 6;  // FP8 cache: all 384 threads, the BF16 stage free / widened
static_assert(2 * kF8TileBytes <= kTileBytes, "the FP8 ring takes the second BF16 stage's space");

// FP8 cache: every thread of the CTA widens a third of tile i (widen_all),
// between two CTA-wide named barriers: kBarFree (the consumers are done with
// tile i - 1, the producer's copies of tile i landed) and kBarFull. The
// producer loads only: Q with the first tile, then tile i + 2 into the slot
// tile i was widened from.
__device__ __forceinline__ void widen_all(const uint8_t* f8, uint8_t* kst, int i, int tid) {
  named_barrier_sync(kBarFree, kThreads);
  widen_key_tile<kKeys, kThreads>(f8 + (i & 1) * kF8TileBytes, kst, tid);
  fence_proxy_async();  // the widened tile's generic stores, then the wgmma reads
  named_barrier_sync(kBarFull, kThreads);
}
__device__ __forceinline__ void produce_tiles_fp8(const MlaArgs& p, const MlaBlock& blk, uint32_t sq, uint8_t* kst,
                                                  uint32_t sf, const uint8_t* f8, int ptid) {
  const auto* cache8 = static_cast<const uint8_t*>(p.cache);
  const int32_t* table = p.block_tables + int64_t(p.token_seq[blk.t]) * p.max_blocks;
  load_q_tile(p, blk, sq, ptid);
  auto load = [&](int tile, int slot) {
    if (tile < blk.te)
#pragma unroll
      for (int h = 0; h < kKeys / (kProducerThreads / 4); ++h)
        load_key_tile_fp8<kProducerThreads>(cache8, table, p.block_size, tile * kKeys + h * (kProducerThreads / 4),
                                            blk.n, sf + slot * kF8TileBytes + h * (kProducerThreads / 4) * kL, ptid);
    cp_async_commit();
  };
  load(blk.tb, 0);
  load(blk.tb + 1, 1);
  for (int tile = blk.tb; tile < blk.te; ++tile) {
    const int i = tile - blk.tb;
    cp_async_wait<1>();  // this thread's copies of tile i (and Q) landed; kBarFree makes them everyone's
    widen_all(f8, kst, i, 256 + ptid);
    load(tile + 2, i & 1);
  }
  cp_async_wait_all();
}

// O (a warpgroup's 256 columns) = O * alpha + P V, alpha per row (this
// thread's rows r0 and r0 + 8), P from smem at sp, V the column blocks of
// the tile at sv from 256 * half dims; returns once the wgmmas are done
// (the tile may be released).
__device__ __forceinline__ void rescale_and_pv(float (&o)[128], float al0, float al1, uint32_t sp, uint32_t sv,
                                               int half) {
  scale_rows(o, al0, al1);
  issue_pv(o, sp, sv, half);
  wgmma_wait0();
  wgmma_fence_operands(o);
}

template <bool kFp8>  // an FP8 cache
__global__ void __launch_bounds__(kThreads, 1) mla_ws_kernel(const MlaArgs p) {
  pdl_begin();
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  // Swizzle atoms sit on 1024-byte boundaries of the shared window.
  uint8_t* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023)) & 1023);
  const uint32_t sQ = smem_u32(smem), sK = sQ + kTileBytes, sP = sQ + 3 * kTileBytes;
  uint8_t* pP = smem + 3 * kTileBytes;
  float* s_alpha = reinterpret_cast<float*>(smem + 3 * kTileBytes + kPBytes);  // [64]
  float* s_l = s_alpha + 64;                                                   // [64]
  float* s_m = s_l + 64;                                                       // [64]
  const uint32_t full0 = sP + kPBytes + kStatBytes, empty0 = full0 + 16;       // [2] each, 8 bytes apart

  const MlaBlock blk = mla_block(p, int(blockIdx.x));
  const int split = blk.split, t = blk.t, head0 = blk.head0, n = blk.n, tb = blk.tb, te = blk.te;
  const int tid = threadIdx.x;

  if (tb >= te) {  // empty split (the whole CTA, before any barrier): the combine skips it by its lse
    if (tid < kRows) p.part_lse[(int64_t(split) * p.T + t) * p.H + head0 + tid] = -INFINITY;
    return;
  }
  if (tid == 0) {
    for (int s = 0; s < 2; ++s) {
      mbar_init(full0 + 8 * s, 128);   // the producer's threads, once their copies landed
      mbar_init(empty0 + 8 * s, 256);  // every consumer thread, once its wgmma reads are done
    }
    mbar_fence_init();
  }
  __syncthreads();  // the only CTA-wide barrier: the producer leaves early

  // The warpgroup index, provably warp-uniform (a shuffle from lane 0):
  // branching on tid >> 7 directly makes ptxas treat the consumer paths as
  // divergent and serialize every wgmma (C7520 "wgmma.mma_async
  // instructions are serialized"), a wait after each one.
  const int wg = __shfl_sync(0xffffffffu, tid >> 7, 0);
  if (wg == 2) {
    // ---- producer ----
    setmaxnreg_dec<40>();
    if constexpr (kFp8)
      produce_tiles_fp8(p, blk, sQ, smem + kTileBytes, sK + kTileBytes, smem + 2 * kTileBytes, tid - 256);
    else
      produce_tiles(p, blk, sQ, sK, full0, empty0, tid - 256);
    return;  // no barrier counts the producer from here on
  }
  // Tile i's key stage: two stages (BF16), or one (FP8: the producer's ring
  // is behind it). BF16: the parity of its full / empty phase (an FP8 tile
  // goes through widen_all's barriers instead).
  auto stage_of = [](int i) { return kFp8 ? 0 : i & 1; };
  auto parity_of = [](int i) { return uint32_t((i >> 1) & 1); };

  setmaxnreg_inc<232>();
  const int warp = (tid >> 5) & 3, lane = tid & 31;
  const int r0 = warp * 16 + (lane >> 2), q4 = lane & 3;  // this thread's rows r0, r0 + 8 and column pairs 2 q4
  float o[128];  // O[:, 256 wg + ...]: column 8 j + 2 q4 (+1) of rows r0 (o[4j], o[4j+1]) and r0 + 8 (o[4j+2..3])
#pragma unroll
  for (int i = 0; i < 128; ++i) o[i] = 0.f;
  float m_r[2] = {-INFINITY, -INFINITY}, l_r[2] = {0.f, 0.f};

  if (wg == 0) {
    // Per tile: S(i), softmax, P to smem, P V(i), release tile i. With two
    // stages K(i + 2) can only start streaming once tile i is released, so
    // the release comes as early as possible. (Measured: issuing S(i + 1)
    // right behind P V(i) under one wait, which delays the release by S,
    // took decode 64 x 4096 from 201 to 300 us.)
    const int nt = te - tb;
    auto step = [&](float(&s)[32], int i) {
      const int tile = tb + i, st = stage_of(i);
      if constexpr (kFp8)
        widen_all(smem + 2 * kTileBytes, smem + kTileBytes, i, tid);
      else
        mbar_wait(full0 + 8 * st, parity_of(i));
      fence_proxy_async();  // the tile's cp.async writes, then wgmma's reads
      issue_s(s, sQ, sK + st * kTileBytes);
      wgmma_wait0();  // S(i)
      wgmma_fence_operands(s);
      wgmma_fence_operands(o);

      float al[2], ps[2];
      softmax_tile(s, tile * kKeys + 2 * q4, n, p.scale_log2, m_r, al, ps);
      const float al0 = al[0], al1 = al[1];
      l_r[0] = l_r[0] * al0 + ps[0];
      l_r[1] = l_r[1] * al1 + ps[1];

      // ---- P and the rescale factors to smem, for both warpgroups ----
      if (i > 0) named_barrier_sync(kBarPFree, 256);  // warpgroup 1 has read tile i - 1's
      store_p(s, pP, r0, q4);
      if (q4 == 0) {
        s_alpha[r0] = al0;
        s_alpha[r0 + 8] = al1;
      }
      fence_proxy_async();  // P's generic-proxy stores, then the wgmma reads of both warpgroups
      named_barrier_arrive(kBarPFull, 256);
      named_barrier_sync(kBarPLocal, 128);  // all of this warpgroup's rows are in

      rescale_and_pv(o, al0, al1, sP, sK + st * kTileBytes, 0);  // O[:, 0:256]
      if constexpr (!kFp8) mbar_arrive(empty0 + 8 * st);         // done reading tile i
    };
    float s[32];
    for (int i = 0; i < nt; ++i) step(s, i);
    wgmma_wait0();
    wgmma_fence_operands(o);
    // Row normalizers: the quad's partial sums.
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      l_r[h] += __shfl_xor_sync(0xffffffffu, l_r[h], 1);
      l_r[h] += __shfl_xor_sync(0xffffffffu, l_r[h], 2);
    }
    if (q4 == 0) {
      s_l[r0] = l_r[0];
      s_l[r0 + 8] = l_r[1];
      s_m[r0] = m_r[0];
      s_m[r0 + 8] = m_r[1];
    }
  } else {
    for (int tile = tb; tile < te; ++tile) {
      const int i = tile - tb, st = stage_of(i);
      const uint32_t cur = sK + st * kTileBytes;
      if constexpr (kFp8) widen_all(smem + 2 * kTileBytes, smem + kTileBytes, i, tid);
      named_barrier_sync(kBarPFull, 256);
      // Tile i landed before warpgroup 0 computed S from it; the wait (already
      // complete, so immediate) gives this warpgroup its own acquire.
      if constexpr (!kFp8) mbar_wait(full0 + 8 * st, parity_of(i));
      fence_proxy_async();
      rescale_and_pv(o, s_alpha[r0], s_alpha[r0 + 8], sP, cur, 1);  // O[:, 256:512]
      if (tile + 1 < te) named_barrier_arrive(kBarPFree, 256);
      if constexpr (!kFp8) mbar_arrive(empty0 + 8 * st);
    }
  }

  // ---- epilogue: O / l (or the normalized partial and its lse) ----
  named_barrier_sync(kBarEpilogue, 256);
  write_out(p, blk, o, wg, r0, q4, 1.f / s_l[r0], 1.f / s_l[r0 + 8]);
  if (p.num_splits > 1 && tid < kRows)
    p.part_lse[(int64_t(split) * p.T + t) * p.H + head0 + tid] = s_m[tid] + log2f(s_l[tid]);
}

}  // namespace

void launch_ws(const MlaArgs& a, bool fp8_cache, cudaStream_t stream) {
  const int64_t blocks = int64_t(a.T) * (a.H / kRows) * a.num_splits;
  if (blocks == 0) return;
  auto* kernel = fp8_cache ? mla_ws_kernel<true> : mla_ws_kernel<false>;
  allow_dynamic_smem(kernel, kSmemBytes);
  launch_pdl(kernel, unsigned(blocks), kThreads, kSmemBytes, stream, a);
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace sable::cuda::mla
