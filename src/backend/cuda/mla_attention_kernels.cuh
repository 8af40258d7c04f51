// Internal interface between the attention dispatcher (mla_attention.cu) and
// its kernels: the tensor-core kernel for DeepSeek-V3's latent shape
// (mla_attention_mma.cu, mla_attention_ws.cu), the generic CUDA-core kernel and the split-K
// combine (mla_attention.cu).
#pragma once

#include <cuda_runtime.h>
#ifdef __CUDACC__
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "backend/cuda/sm90_async.cuh"
#endif

#include <cstdint>

namespace sable::cuda::mla {

// Everything a kernel needs about the batch, all device pointers.
struct MlaArgs {
  const void* q;            // [T, H, L]
  const void* cache;        // [num_blocks, block_size, L]
  void* out;                // [T, H, Dv] (written when num_splits == 1)
  float* part_o;            // [S, T, H, Dv] normalized partial outputs (num_splits > 1)
  float* part_lse;          // [S, T, H] log2-sum-exp of each partial (-inf: empty split)
  const int32_t* positions; // [T]
  const int32_t* token_seq; // [T]
  const int32_t* block_tables;  // [S_seqs, max_blocks]
  int T, H, L, Dv;
  int max_blocks, block_size, num_splits;
  int min_split_tiles;      // tensor-core kernels: a split takes at least this many kMmaKeys tiles
  float scale_log2;         // softmax_scale * log2(e): scores live in the log2 domain
};

// DeepSeek-V3 latent shape handled by the tensor-core kernel.
constexpr int kMmaL = 576, kMmaDv = 512, kMmaHeads = 64, kMmaKeys = 64;
// The few-rows kernel (mla_attention_small.cu): 16 heads, 32-key tiles.
constexpr int kSmallHeads = 16, kSmallKeys = 32;

#ifdef __CUDACC__
// Eight e4m3 values (memory order) as eight bf16 (exact: e4m3 has 3 mantissa
// bits and a range inside bf16's): how the FP8-cache kernels widen a staged
// key tile. By the conversion unit: e4m3x2 -> f16x2 -> 2 f32 -> bf16x2, four
// instructions a pair. (Integer moves and a bf16x2 multiply by 2^120 are
// slower: 6,459 against 9,187 Gvalues/s on an H100, and the FP8-cache
// kernels 30 % slower; record 2026-12-06-e4521bc-fp8-widen-route.md.)
__device__ __forceinline__ uint4 e4m3x8_to_bf16x8(uint2 v) {
  uint32_t o[4];
  const uint32_t w[2] = {v.x, v.y};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const __half2_raw h =
        __nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t((w[i >> 1] >> (16 * (i & 1))) & 0xffffu), __NV_E4M3);
    const __nv_bfloat162 b = __float22bfloat162_rn(__half22float2(__half2(h)));
    o[i] = *reinterpret_cast<const uint32_t*>(&b);
  }
  return make_uint4(o[0], o[1], o[2], o[3]);
}

// Byte offset of 16-byte chunk `chunk` (0..71) of row `row` in a Q or key
// tile of kRows rows: 9 column blocks of [kRows x 64 dims], each 16-byte
// chunk XOR-swizzled by row % 8 (the 128-byte-swizzle K-major layout wgmma
// reads through a descriptor, conflict-free for ldmatrix).
template <int kRows>
__device__ __forceinline__ uint32_t latent_swz(int row, int chunk) {
  return uint32_t((chunk >> 3) * (kRows * 128) + row * 128 + (((chunk ^ row) & 7) << 4));
}

// FP8 cache (--kv-cache-dtype fp8) in the tensor-core kernels: a key tile of
// kThreads / 4 keys from key0 lands as e4m3 rows of kMmaL bytes at shared
// address dst by cp.async, 4 threads per row, 16-byte chunks j * 4 + (tid %
// 4); keys at or past n are zero-filled (p = 0 must not meet NaN garbage).
// The caller commits and waits.
template <int kThreads>  // kThreads / 4 keys a tile
__device__ __forceinline__ void load_key_tile_fp8(const uint8_t* cache8, const int32_t* table, int block_size, int key0,
                                                  int n, uint32_t dst, int tid) {
  const int r = tid >> 2, key = key0 + r;
  const uint8_t* src = cache8;
  int bytes = 0;
  if (key < n) {
    src = cache8 + (int64_t(table[key / block_size]) * block_size + key % block_size) * kMmaL;
    bytes = 16;
  }
#pragma unroll
  for (int j = 0; j < kMmaL / 64; ++j) {
    const int c = j * 4 + (tid & 3);
    cp_async16(dst + r * kMmaL + c * 16, src + (bytes ? c * 16 : 0), bytes);
  }
}
// ... and widened (exactly) from the staged e4m3 rows at src into the BF16
// key stage at dst in latent_swz<kRows> layout, 8 values (16 bytes) a step.
template <int kRows, int kThreads>
__device__ __forceinline__ void widen_key_tile(const uint8_t* src, uint8_t* dst, int tid) {
  constexpr int kIters = kRows * kMmaL / 8 / kThreads;
#pragma unroll 2
  for (int i = 0; i < kIters; ++i) {
    const int idx = i * kThreads + tid, r = idx / (kMmaL / 8), c = idx % (kMmaL / 8);
    const uint2 v = *reinterpret_cast<const uint2*>(src + r * kMmaL + c * 8);
    *reinterpret_cast<uint4*>(dst + latent_swz<kRows>(r, c)) = e4m3x8_to_bf16x8(v);
  }
}

// The work of one CTA of the tensor-core kernels' grid (T * (H / kHeads) *
// num_splits; kHeads, kKeys: 64, 64 for mma / wgmma / ws, 16, 32 for the
// 16-head kernel): its split, its token t (later tokens first: the longer
// causal spans start first), its first head, the keys t sees, and its tiles
// [tb, te) of kKeys keys (tb >= te: an empty split).
struct MlaBlock {
  int split, t, head0, n, tb, te;
};
template <int kHeads = kMmaHeads, int kKeys = kMmaKeys>
__device__ __forceinline__ MlaBlock mla_block(const MlaArgs& p, int block) {
  MlaBlock b;
  b.split = block % p.num_splits;
  block /= p.num_splits;
  const int HB = p.H / kHeads;
  b.head0 = (block % HB) * kHeads;
  b.t = p.T - 1 - block / HB;
  b.n = p.positions[b.t] + 1;
  const int tiles = (b.n + kKeys - 1) / kKeys;
  // A token's tiles spread over the splits, but at least min_split_tiles
  // per split: the splits past its keys are empty (their CTAs exit at once).
  // A decode graph is captured with the split count of the longest context,
  // so at short contexts this, not num_splits, sets how many partials the
  // combine reads.
  const int per = max((tiles + p.num_splits - 1) / p.num_splits, p.min_split_tiles);
  b.tb = b.split * per;
  b.te = min(tiles, b.tb + per);
  return b;
}
#endif

// Tensor-core kernel: q/out BF16, cache BF16 or (fp8_cache) F8_E4M3, L = 576,
// Dv = 512, H % 64 == 0. Grid: T * (H / 64) * num_splits blocks. wgmma:
// S = Q K^T through wgmma (sm_90a) instead of mma.sync.
void launch_mma(const MlaArgs& a, bool wgmma, bool fp8_cache, cudaStream_t stream);

// Warp-specialized kernel (mla_attention_ws.cu): the same shape and grid, a
// BF16 or (fp8_cache) FP8 e4m3 cache; a producer warpgroup and two wgmma
// consumer warpgroups.
void launch_ws(const MlaArgs& a, bool fp8_cache, cudaStream_t stream);

// Few-rows kernel (mla_attention_small.cu): L = 576, Dv = 512, H % 16 == 0,
// BF16 q/out, a BF16 or (fp8_cache) FP8 e4m3 cache. Grid: T * (H / 16) *
// num_splits blocks of 32-key tiles (min_split_tiles counts 32-key tiles here).
void launch_small(const MlaArgs& a, bool fp8_cache, cudaStream_t stream);
// The same on an FP8 cache (mla_attention_small_regs.cu; launch_small takes
// it): no BF16 stage, operands widened in registers, in f16.
void launch_small_regs(const MlaArgs& a, cudaStream_t stream);
// CTAs an SM of the kernel launch_small runs (the occupancy API on the
// current device; the split rule's slots): 2 on a BF16 cache, 3 on an FP8
// one on an H100 / H200.
int small_ctas_per_sm(bool fp8_cache);
int small_regs_ctas_per_sm();

}  // namespace sable::cuda::mla
