// Internal to the MoE grouped wgmma kernels (moe_grouped_wgmma.cu, the
// warp-specialized default; moe_grouped_wgmma_ref.cu, the first kernel and the
// tests' bitwise reference for it): the tile shape, where the first kernel's
// weight chunks come from, and the epilogue through shared memory.
#pragma once

#include <cuda_bf16.h>

#include "backend/cuda/expert_tiles.cuh"
#include "backend/cuda/gemm_stream.cuh"
#include "backend/cuda/glu.cuh"
#include "backend/cuda/wgmma_ops.cuh"

namespace sable::cuda::moe_wgmma {

constexpr int kBM = 128;        // weight rows per CTA (2 warpgroups x 64)
constexpr int kBN = 128;        // tokens per CTA: one tile of the sorted list
constexpr int kRowBytes = 128;  // K per stage: one 128-byte swizzled row (64 bf16, 128 fp8)
constexpr int kStages = 4;
constexpr int kThreads = 256;
constexpr int kTileBytes = kBM * kRowBytes;  // 16 KB, A and B alike (kBM == kBN)
constexpr int kStageBytes = 2 * kTileBytes;
constexpr int kEpiLd = kBM + 4;       // floats per token in the epilogue tile (bank spread)
constexpr int kScaleBytes = kBN * 4;  // FP8: the tile's token scales of one stage
constexpr int kSmemBytes = 1024 /* alignment slack */ + kStages * (kStageBytes + kScaleBytes);
static_assert(kBM == kBN, "one chunk map serves both tiles");
static_assert(kBN * kEpiLd * 4 <= kStages * kStageBytes, "epilogue tile reuses the stages");

// Global source of the weights' 16-byte chunk ch (0..7) of row n (of the
// expert's N) in K stage 0; stage kb is kb * weight_stage_bytes(a) further.
// Natural rows (w_kt == 0) or the tiled layout of expert_tiles.cuh (4 KB
// tiles of 32 rows x 128 bytes of K, row tile major): only the global
// addresses differ, the shared-memory layout does not.
__device__ __forceinline__ const uint8_t* weight_chunk(const StreamGemmArgs& a, const uint8_t* wg, int64_t n, int ch,
                                                       int elem) {
  if (a.w_kt > 0)
    return wg + (n / kExpertTileRows) * a.w_kt * kExpertTileBytes + expert_tile_offset(int(n % kExpertTileRows), ch);
  return wg + n * a.K * elem + ch * 16;
}
__device__ __forceinline__ uint32_t weight_stage_bytes(const StreamGemmArgs& a) {
  return a.w_kt > 0 ? kExpertTileBytes : kRowBytes;
}

// Accumulator of an m64nN wgmma (kR = N / 2 per thread) -> shared
// sE[token][weight row] (kLd floats per token). acc[4 j + e] is row mrow +
// 8 (e / 2) with mrow = (warp % 4) * 16 + lane / 4 within the accumulator's
// 64, token 8 j + 2 (lane % 4) + e % 2.
template <int kLd, int kR>
__device__ __forceinline__ void acc_to_smem(float* sE, const float (&acc)[kR], int mrow, int lane) {
#pragma unroll
  for (int j = 0; j < kR / 4; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int tok = j * 8 + (lane & 3) * 2 + (e & 1);
      sE[tok * kLd + mrow + (e >> 1) * 8] = acc[j * 4 + e];
    }
}

// sE [kTok tokens][kBMt weight rows, kBMt + 4 floats apart] -> out (bf16,
// 16-byte stores along n), times row_scale; thread t of kN; rb is the
// kBMt-row block.
template <int kN, int kBMt = kBM, int kTok = kBN>
__device__ __forceinline__ void store_tile(const StreamGemmArgs& a, const float* sE, int t, int p0, int cnt, int rb) {
  constexpr int kLd = kBMt + 4;
  auto* out = static_cast<__nv_bfloat16*>(a.out);
  if (a.glu) {
    // kBMt / 2 output columns: column c is silu(row 32 (c/16) + c%16) * row (+16).
    constexpr int kCh = kBMt / 16;  // 8-column chunks per token
    for (int it = t; it < kTok * kCh; it += kN) {
      const int tok = it / kCh, c0 = (it % kCh) * 8;
      if (tok >= cnt) continue;
      const float* e = sE + tok * kLd;
      const float rs = a.row_scale ? a.row_scale[p0 + tok] : 1.f;
      uint4 v;
      __nv_bfloat162* h2 = reinterpret_cast<__nv_bfloat162*>(&v);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        float r2[2];
#pragma unroll
        for (int k = 0; k < 2; ++k) {
          const int c = c0 + 2 * i + k, gr = 32 * (c >> 4) + (c & 15);
          const float gv = e[gr], uv = e[gr + 16];
          r2[k] = silu_mul_fast(gv, uv) * rs;
        }
        h2[i] = __floats2bfloat162_rn(r2[0], r2[1]);
      }
      *reinterpret_cast<uint4*>(out + int64_t(p0 + tok) * a.ldo + int64_t(rb) * (kBMt / 2) + c0) = v;
    }
  } else {
    constexpr int kCh = kBMt / 8;
    for (int it = t; it < kTok * kCh; it += kN) {
      const int tok = it / kCh, c0 = (it % kCh) * 8;
      if (tok >= cnt) continue;
      const float* e = sE + tok * kLd + c0;
      const float rs = a.row_scale ? a.row_scale[p0 + tok] : 1.f;
      uint4 v;
      __nv_bfloat162* h2 = reinterpret_cast<__nv_bfloat162*>(&v);
#pragma unroll
      for (int i = 0; i < 4; ++i) h2[i] = __floats2bfloat162_rn(e[2 * i] * rs, e[2 * i + 1] * rs);
      *reinterpret_cast<uint4*>(out + int64_t(p0 + tok) * a.ldo + int64_t(rb) * kBMt + c0) = v;
    }
  }
}

// The first kernel (moe_grouped_wgmma_ref.cu), for set_grouped_wgmma_variant(0).
void launch_ref(const StreamGemmArgs& a, cudaStream_t stream);

}  // namespace sable::cuda::moe_wgmma
