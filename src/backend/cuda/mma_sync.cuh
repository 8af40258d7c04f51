// The Ampere-style tensor-core primitives shared by the attention kernels
// (mla_attention_mma.cu, mla_expanded.cu): ldmatrix (plain and transposed)
// and mma.sync m16n8k16 bf16 with fp32 accumulation.
#pragma once

#include <cmath>
#include <cstdint>

namespace sable::cuda {

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
// D (16 x 8, fp32) += A (16 x 16, bf16 row) B (16 x 8, bf16 col).
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// The same with f16 operands.
__device__ __forceinline__ void mma_f16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Flash-attention helpers in the m16n8 accumulator layout: a row's values
// live in one quad of lanes (row g = lane / 4 holds elements 0, 1 of each
// n-tile; row g + 8 elements 2, 3; columns 8 nt + 2 (lane % 4) + (e & 1)).
// Reductions over the quad (every lane of the warp calls them):
__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}
// Rows g scaled by a0, rows g + 8 by a1 (the online softmax's rescale of O).
template <int NT>
__device__ __forceinline__ void scale_rows(float (&o)[NT][4], float a0, float a1) {
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    o[nt][0] *= a0;
    o[nt][1] *= a0;
    o[nt][2] *= a1;
    o[nt][3] *= a1;
  }
}
// Scores times `scale`, keys at or past n set to -inf (element e of n-tile nt
// is key kbase + 8 nt + (e & 1), kbase = the tile's first key + 2 (lane % 4)),
// and this thread's maxima of rows g (mx0) and g + 8 (mx1).
template <int NT>
__device__ __forceinline__ void mask_scale_max(float (&s)[NT][4], int kbase, int n, float scale, float& mx0,
                                               float& mx1) {
  mx0 = mx1 = -INFINITY;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const bool ok = kbase + nt * 8 + e < n;
      s[nt][e] = ok ? s[nt][e] * scale : -INFINITY;
      s[nt][2 + e] = ok ? s[nt][2 + e] * scale : -INFINITY;
      mx0 = fmaxf(mx0, s[nt][e]);
      mx1 = fmaxf(mx1, s[nt][2 + e]);
    }
}

}  // namespace sable::cuda
