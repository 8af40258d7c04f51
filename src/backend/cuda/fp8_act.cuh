// Device side of fp8_act.h: the quantization epilogue of a producer kernel.
#pragma once

#include <cuda_fp8.h>

#include "backend/cuda/fp8_act.h"

namespace sable::cuda {

constexpr float kFp8ActMax = 448.f;

__device__ __forceinline__ uint32_t pack4_fp8(float a, float b, float c, float d) {
  const uint32_t lo = __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3);
  const uint32_t hi = __nv_cvt_float2_to_fp8x2(make_float2(c, d), __NV_SATFINITE, __NV_E4M3);
  return lo | (hi << 16);
}

// One 128-channel group held by a half warp, 8 consecutive values per lane
// (v: the values as stored in BF16, widened). All 16 lanes of the half must
// call it together. Writes the 8 FP8 bytes at q and, from the group's first
// lane, the scale. Same arithmetic as fp8_quant.cu's quantize_act_kernel
// (max is exact in any order; scale = max(amax, 1e-10) / 448; q = e4m3(v / s)),
// so the bytes and scales are bitwise its.
__device__ __forceinline__ void quantize_group8(const float (&v)[8], uint8_t* q, float* scale) {
  const unsigned half = 0xffffu << (threadIdx.x & 16);
  float amax = 0.f;
#pragma unroll
  for (int j = 0; j < 8; ++j) amax = fmaxf(amax, fabsf(v[j]));
#pragma unroll
  for (int o = 8; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(half, amax, o));
  const float s = fmaxf(amax, 1e-10f) / kFp8ActMax;
  if ((threadIdx.x & 15) == 0) *scale = s;
  uint2 packed;
  packed.x = pack4_fp8(v[0] / s, v[1] / s, v[2] / s, v[3] / s);
  packed.y = pack4_fp8(v[4] / s, v[5] / s, v[6] / s, v[7] / s);
  *reinterpret_cast<uint2*>(q) = packed;
}

}  // namespace sable::cuda
