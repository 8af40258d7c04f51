// The arithmetic of DeepSeek-V3's activation quantization (per token per 128
// channels: scale = amax / 448, e4m3 = round-to-nearest-even(value / scale),
// saturating; see fp8_pack4 for the division), shared by the quantization kernel (fp8_quant.cu) and the
// streaming GEMM that quantizes its BF16 input on the fly (gemm_stream.cu), so
// the two produce the same bits by construction.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <cstdint>

namespace sable::cuda {

constexpr float kFp8ActMax = 448.f;

// The scale of a group whose largest magnitude is amax (an all-zero group
// gets a tiny scale rather than a division by zero).
__device__ __forceinline__ float fp8_act_scale(float amax) { return fmaxf(amax, 1e-10f) / kFp8ActMax; }

// Four values times inv_scale (1 / scale, one division per group: a division
// per value costs the streaming GEMM, which quantizes inside its main loop, a
// third of its issue slots) as e4m3 bytes, the first in the lowest byte
// (memory order). v * (1 / s) is within one float ulp of v / s, so it can
// change the e4m3 rounding only for a value within that ulp of a rounding
// boundary.
__device__ __forceinline__ uint32_t fp8_pack4(float a, float b, float c, float d, float inv_scale) {
  const uint32_t lo =
      __nv_cvt_float2_to_fp8x2(make_float2(a * inv_scale, b * inv_scale), __NV_SATFINITE, __NV_E4M3);
  const uint32_t hi =
      __nv_cvt_float2_to_fp8x2(make_float2(c * inv_scale, d * inv_scale), __NV_SATFINITE, __NV_E4M3);
  return lo | (hi << 16);
}

// The two BF16 values of a 32-bit word as floats (exact).
__device__ __forceinline__ float bf16_lo(uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float bf16_hi(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }

}  // namespace sable::cuda
