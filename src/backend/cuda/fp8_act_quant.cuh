// The warp-level step of DeepSeek-V3's activation quantization, shared by the
// standalone kernel (fp8_quant.cu) and the streaming GEMM's prologue
// (gemm_stream.cu), so that both produce the same bytes and scales: one warp
// per (token, 128-channel group), lane l holding channels 4l..4l+3.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <cstdint>

namespace sable::cuda {

constexpr float kFp8E4m3Max = 448.f;

__device__ __forceinline__ uint32_t pack4_fp8(float a, float b, float c, float d) {
  const uint32_t lo = __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3);
  const uint32_t hi = __nv_cvt_float2_to_fp8x2(make_float2(c, d), __NV_SATFINITE, __NV_E4M3);
  return lo | (hi << 16);
}

// The four BF16 values at p (8-byte aligned) as floats.
__device__ __forceinline__ void load4_bf16(const __nv_bfloat16* p, float (&v)[4]) {
  const uint2 raw = *reinterpret_cast<const uint2*>(p);
  const __nv_bfloat162 p0 = *reinterpret_cast<const __nv_bfloat162*>(&raw.x);
  const __nv_bfloat162 p1 = *reinterpret_cast<const __nv_bfloat162*>(&raw.y);
  v[0] = __low2float(p0);
  v[1] = __high2float(p0);
  v[2] = __low2float(p1);
  v[3] = __high2float(p1);
}

// The group's amax over the whole warp (every lane gets it).
__device__ __forceinline__ float warp_group_amax(const float (&v)[4]) {
  float amax = fmaxf(fmaxf(fabsf(v[0]), fabsf(v[1])), fmaxf(fabsf(v[2]), fabsf(v[3])));
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  return amax;
}

// scale = amax / 448, with a floor that keeps an all-zero group finite.
__device__ __forceinline__ float act_scale_of(float amax) { return fmaxf(amax, 1e-10f) / kFp8E4m3Max; }

__device__ __forceinline__ uint32_t quantize4(const float (&v)[4], float scale) {
  return pack4_fp8(v[0] / scale, v[1] / scale, v[2] / scale, v[3] / scale);
}

}  // namespace sable::cuda
