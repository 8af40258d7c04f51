// The building blocks of the warp-specialized MLA kernel
// (mla_attention_ws.cu), kept apart from its schedule: DeepSeek-V3's tile shape,
// the swizzled shared-memory layout of a Q/K tile, the two wgmma shapes
// (S = Q K^T and O += P V), the online softmax of one tile, the epilogue,
// and the producer warpgroup that streams a token's paged keys into a
// two-stage ring. (A second schedule on the same blocks, FlashMLA's
// "seesaw" with both consumer warpgroups computing scores, was measured
// slower and dropped: docs/kernels-attention.md.)
//
// Tile layout: [64 rows x 576 dims] bf16 as nine [64 x 64] column blocks of
// 8 KB, each 128-byte-swizzled K-major (row r at r * 128, 16-byte chunk c at
// (c ^ r % 8) * 16). S reads a K tile K-major; P V reads the same tile's
// first eight column blocks N-major as V.
#pragma once

#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>

#include "backend/cuda/mla_attention_kernels.cuh"
#include "backend/cuda/mma_sync.cuh"
#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/wgmma_ops.cuh"

namespace sable::cuda::mla::wg {

constexpr int kL = kMmaL, kDv = kMmaDv, kRows = kMmaHeads, kKeys = kMmaKeys;
constexpr int kTileBytes = kRows * kL * 2;   // 73728: Q tile and K tile alike
constexpr int kColBlockBytes = kRows * 128;  // 8192: one [64 x 64] column block
static_assert(kKeys == 64 && kRows == 64, "tile shape is wired into the warpgroup layout");

// Byte offset of 16-byte chunk `chunk` (0..71) of row `row` (0..63) in a Q/K tile.
__device__ __forceinline__ uint32_t swz(int row, int chunk) { return latent_swz<kRows>(row, chunk); }
// The same for a P tile [64 rows x 64 keys] (8 chunks per row, one column block).
__device__ __forceinline__ uint32_t pswz(int row, int chunk) {
  return uint32_t(row * 128 + (((chunk ^ row) & 7) << 4));
}

// Descriptor of V[16 keys x 256 dims] at `saddr`: the K tile read N-major,
// 8 KB (a column block) to the next 64 dims.
__device__ __forceinline__ uint64_t vdesc(uint32_t saddr) { return mnmajor_desc(saddr, kColBlockBytes); }

// O[64 x 256] += P[64 x 16] V[16 x 256]: P K-major, V N-major, both in smem.
__device__ __forceinline__ void wgmma_pv_ss(float (&d)[128], uint64_t da, uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {" SABLE_WGMMA_D128_REGS
      "}, %128, %129, p, 1, 1, 0, 1;\n}\n"
      : SABLE_WGMMA_D128_OUT(d)
      : "l"(da), "l"(db), "n"(1));
}

// S[64 x 64] = Q K^T over the 576 dims (36 m64n64k16), both tiles K-major
// at sq / sk; issued and committed, not waited for.
__device__ __forceinline__ void issue_s(float (&s)[32], uint32_t sq, uint32_t sk) {
  const uint64_t dq = kmajor_desc(sq), dk = kmajor_desc(sk);
  wgmma_fence();
#pragma unroll
  for (int ks = 0; ks < kL / 16; ++ks) {
    const uint32_t off = uint32_t((ks >> 2) * kColBlockBytes + (ks & 3) * 32) >> 4;
    WgmmaNt<64>::bf16(s, dq + off, dk + off, ks > 0 ? 1 : 0);
  }
  wgmma_commit();
}

// O[:, 256 half + 0..255] += P V: P [64 x 64] at sp, V the four column
// blocks of the K tile at sv starting at 256 * half dims; issued and
// committed, not waited for.
__device__ __forceinline__ void issue_pv(float (&o)[128], uint32_t sp, uint32_t sv, int half) {
  const uint64_t dp = kmajor_desc(sp);
  const uint32_t v = sv + uint32_t(half) * 4 * kColBlockBytes;
  wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) wgmma_pv_ss(o, dp + 2 * kk, vdesc(v + kk * 2048));
  wgmma_commit();
}

// Online softmax of one S tile [64 x 64] in the log2 domain, for this
// thread's rows r0 and r0 + 8 (a row's 64 scores live in one quad: lanes
// 4 r + q4, columns 8 j + 2 q4 (+1); kbase = the tile's first key + 2 q4).
// Keys at or past n are masked. m (in/out) is the rows' running max; al the
// factor that rescales the state before this tile; ps the rows' partial
// (this thread's) sums of the weights as rounded to bf16, the ones P V
// multiplies. P is packed in place: s[4 j] holds row r0's pair of bf16
// weights, s[4 j + 1] row r0 + 8's. Every tile holds at least one visible
// key, so the new max is finite.
__device__ __forceinline__ void softmax_tile(float (&s)[32], int kbase, int n, float scale_log2, float (&m)[2],
                                             float (&al)[2], float (&ps)[2]) {
  float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
  for (int j = 0; j < 8; ++j)
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const bool ok = kbase + 8 * j + e < n;
      s[4 * j + e] = ok ? s[4 * j + e] * scale_log2 : -INFINITY;
      s[4 * j + 2 + e] = ok ? s[4 * j + 2 + e] * scale_log2 : -INFINITY;
      mx0 = fmaxf(mx0, s[4 * j + e]);
      mx1 = fmaxf(mx1, s[4 * j + 2 + e]);
    }
  mx0 = quad_max(mx0);
  mx1 = quad_max(mx1);
  const float mn0 = fmaxf(m[0], mx0), mn1 = fmaxf(m[1], mx1);
  al[0] = exp2f(m[0] - mn0);
  al[1] = exp2f(m[1] - mn1);
  m[0] = mn0;
  m[1] = mn1;
  float ps0 = 0.f, ps1 = 0.f;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const __nv_bfloat162 v01 = __floats2bfloat162_rn(exp2f(s[4 * j] - mn0), exp2f(s[4 * j + 1] - mn0));
    const __nv_bfloat162 v23 = __floats2bfloat162_rn(exp2f(s[4 * j + 2] - mn1), exp2f(s[4 * j + 3] - mn1));
    ps0 += __low2float(v01) + __high2float(v01);
    ps1 += __low2float(v23) + __high2float(v23);
    s[4 * j] = __uint_as_float(*reinterpret_cast<const uint32_t*>(&v01));
    s[4 * j + 1] = __uint_as_float(*reinterpret_cast<const uint32_t*>(&v23));
  }
  ps[0] = ps0;
  ps[1] = ps1;
}

// This thread's part of the packed P (softmax_tile) into the P tile at pp
// (a generic pointer to a 1024-byte-aligned [64 x 64] bf16 block).
__device__ __forceinline__ void store_p(const float (&s)[32], uint8_t* pp, int r0, int q4) {
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    *reinterpret_cast<uint32_t*>(pp + pswz(r0, j) + q4 * 4) = __float_as_uint(s[4 * j]);
    *reinterpret_cast<uint32_t*>(pp + pswz(r0 + 8, j) + q4 * 4) = __float_as_uint(s[4 * j + 1]);
  }
}

// The epilogue of a consumer warpgroup: O[:, 256 wg + ...] times the rows'
// 1 / l (i0 for row r0, i1 for r0 + 8) to out (bf16) or, when the keys are
// split, to the split's f32 partial (the caller writes the lse).
__device__ __forceinline__ void write_out(const MlaArgs& p, const MlaBlock& blk, const float (&o)[128], int wg, int r0,
                                          int q4, float i0, float i1) {
  const int64_t row0 = int64_t(blk.t) * p.H + blk.head0 + r0, row1 = row0 + 8;
  const int cbase = wg * 256 + 2 * q4;
  if (p.num_splits > 1) {
    float* po = p.part_o + int64_t(blk.split) * p.T * p.H * kDv;
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      const int col = cbase + 8 * j;
      *reinterpret_cast<float2*>(po + row0 * kDv + col) = make_float2(o[4 * j] * i0, o[4 * j + 1] * i0);
      *reinterpret_cast<float2*>(po + row1 * kDv + col) = make_float2(o[4 * j + 2] * i1, o[4 * j + 3] * i1);
    }
  } else {
    auto* out = static_cast<__nv_bfloat16*>(p.out);
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      const int col = cbase + 8 * j;
      *reinterpret_cast<__nv_bfloat162*>(out + row0 * kDv + col) =
          __floats2bfloat162_rn(o[4 * j] * i0, o[4 * j + 1] * i0);
      *reinterpret_cast<__nv_bfloat162*>(out + row1 * kDv + col) =
          __floats2bfloat162_rn(o[4 * j + 2] * i1, o[4 * j + 3] * i1);
    }
  }
}

// The producer warpgroup (128 threads, ptid 0..127): Q once, then tiles
// [tb, te) of token t's keys into stage (i & 1) of the ring at sk, 8 threads
// per 128-byte row segment (coalesced), 16 rows per pass. full[s] (at
// full0 + 8 s, 128 arrivals) completes when every thread's copies of the
// stage's tile landed; the producer waits on empty[s] (empty0 + 8 s) before
// refilling a stage. Q travels with the first tile: full[0]'s first phase
// (and every later phase of either stage) covers it. Keys past n are
// zero-filled: p = 0 must not meet NaN garbage. The block-table entries of
// the next tile are read before the wait for its slot, so their latency
// hides behind it instead of serializing four lookups per tile.
// The CTA's Q tile (64 heads of token blk.t) by cp.async from the producer
// warpgroup's 128 threads (ptid), 8 threads per 128-byte row segment; the
// caller's next commit group carries it.
__device__ __forceinline__ void load_q_tile(const MlaArgs& p, const MlaBlock& blk, uint32_t sq, int ptid) {
  const int lrow = ptid >> 3, lch = ptid & 7;
  const auto* qs = static_cast<const __nv_bfloat16*>(p.q) + (int64_t(blk.t) * p.H + blk.head0) * kL;
#pragma unroll
  for (int pass = 0; pass < 4; ++pass) {
    const int r = lrow + 16 * pass;
#pragma unroll
    for (int j = 0; j < 9; ++j) cp_async16(sq + swz(r, lch + 8 * j), qs + int64_t(r) * kL + (lch + 8 * j) * 8, 16);
  }
}

__device__ __forceinline__ void produce_tiles(const MlaArgs& p, const MlaBlock& blk, uint32_t sq, uint32_t sk,
                                              uint32_t full0, uint32_t empty0, int ptid) {
  const int lrow = ptid >> 3, lch = ptid & 7, n = blk.n;
  const auto* cache = static_cast<const __nv_bfloat16*>(p.cache);
  const int32_t* table = p.block_tables + int64_t(p.token_seq[blk.t]) * p.max_blocks;
  load_q_tile(p, blk, sq, ptid);
  // Cache rows (block * block_size + slot) of this thread's 4 rows of `tile` (-1: past n).
  auto lookup = [&](int tile, int(&row)[4]) {
#pragma unroll
    for (int pass = 0; pass < 4; ++pass) {
      const int key = tile * kKeys + lrow + 16 * pass;
      row[pass] = key < n ? __ldg(table + key / p.block_size) * p.block_size + key % p.block_size : -1;
    }
  };
  int next[4];
  lookup(blk.tb, next);
  for (int tile = blk.tb; tile < blk.te; ++tile) {
    const int i = tile - blk.tb, st = i & 1;
    int cur[4];
#pragma unroll
    for (int pass = 0; pass < 4; ++pass) cur[pass] = next[pass];
    if (tile + 1 < blk.te) lookup(tile + 1, next);
    mbar_wait(empty0 + 8 * st, ((i >> 1) & 1) ^ 1);  // consumers are done with tile i - 2
    const uint32_t dst = sk + st * kTileBytes;
#pragma unroll
    for (int pass = 0; pass < 4; ++pass) {
      const int r = lrow + 16 * pass;
      const bool in = cur[pass] >= 0;
      const __nv_bfloat16* src = cache + (in ? int64_t(cur[pass]) * kL + (lch * 8) : 0);
#pragma unroll
      for (int j = 0; j < 9; ++j) cp_async16(dst + swz(r, lch + 8 * j), src + (in ? j * 64 : 0), in ? 16 : 0);
    }
    cp_async_mbar_arrive(full0 + 8 * st);
  }
  cp_async_wait_all();  // leave no copy in flight behind an exited thread
}

}  // namespace sable::cuda::mla::wg
