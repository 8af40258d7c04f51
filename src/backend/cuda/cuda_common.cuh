// Device-side helpers shared by the kernels of this folder: element
// conversions for every float dtype a tensor may hold, a host-side dtype
// dispatch, and warp/block reductions. Included by .cu files only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "core/tensor.h"

namespace sable::cuda {

using bf16 = __nv_bfloat16;
using fp8 = __nv_fp8_e4m3;

template <typename T> __device__ __forceinline__ float to_f32(T v);
template <> __device__ __forceinline__ float to_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f32<bf16>(bf16 v) { return __bfloat162float(v); }
template <> __device__ __forceinline__ float to_f32<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_f32<fp8>(fp8 v) { return float(v); }

// Round to nearest even; fp8 saturates to +-448 (as core's f32_to_fp8_e4m3).
template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ bf16 from_f32<bf16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ fp8 from_f32<fp8>(float v) { return fp8(v); }

[[noreturn]] inline void unsupported_dtype(const char* op, DType t) {
  throw std::runtime_error(std::string("CUDA ") + op + ": unsupported dtype " + dtype_name(t));
}

// Runs the body with `T` bound to the C++ type of a float dtype.
#define SABLE_DISPATCH_FLOAT(OP, DT, T, ...)                                   \
  switch (DT) {                                                                \
    case ::sable::DType::F32: { using T = float; __VA_ARGS__; } break;         \
    case ::sable::DType::BF16: { using T = ::sable::cuda::bf16; __VA_ARGS__; } break; \
    case ::sable::DType::F16: { using T = __half; __VA_ARGS__; } break;        \
    case ::sable::DType::F8_E4M3: { using T = ::sable::cuda::fp8; __VA_ARGS__; } break; \
    default: ::sable::cuda::unsupported_dtype(OP, DT);                         \
  }

// Activations: F32 or BF16 only.
#define SABLE_DISPATCH_ACT(OP, DT, T, ...)                                     \
  switch (DT) {                                                                \
    case ::sable::DType::F32: { using T = float; __VA_ARGS__; } break;         \
    case ::sable::DType::BF16: { using T = ::sable::cuda::bf16; __VA_ARGS__; } break; \
    default: ::sable::cuda::unsupported_dtype(OP, DT);                         \
  }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every
// thread gets the result. The tree is fixed, so the result is deterministic.
__device__ __forceinline__ float block_sum(float v, float* scratch /* >= 33 floats */) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < nw ? scratch[lane] : 0.f;
  t = warp_sum(t);
  return t;
}

// Maximum over the block, as block_sum.
__device__ __forceinline__ float block_max(float v, float* scratch /* >= 32 floats */) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const float t = lane < nw ? scratch[lane] : -INFINITY;
  return warp_max(t);
}

inline unsigned ceil_div(int64_t a, int64_t b) { return unsigned((a + b - 1) / b); }

}  // namespace sable::cuda

namespace sable::cuda {

// Eight consecutive elements as float: one 16-byte access for 2-byte types
// (two for float, 8 bytes for fp8). p must be aligned to 8 elements.
template <typename T> __device__ __forceinline__ void load8(const T* p, float (&v)[8]);
template <> __device__ __forceinline__ void load8<float>(const float* p, float (&v)[8]) {
  float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
  v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}
template <> __device__ __forceinline__ void load8<bf16>(const bf16* p, float (&v)[8]) {
  uint4 u = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) { float2 f = __bfloat1622float2(h[i]); v[2 * i] = f.x; v[2 * i + 1] = f.y; }
}
template <> __device__ __forceinline__ void load8<__half>(const __half* p, float (&v)[8]) {
  uint4 u = *reinterpret_cast<const uint4*>(p);
  const __half2* h = reinterpret_cast<const __half2*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) { float2 f = __half22float2(h[i]); v[2 * i] = f.x; v[2 * i + 1] = f.y; }
}
template <> __device__ __forceinline__ void load8<fp8>(const fp8* p, float (&v)[8]) {
  uint2 u = *reinterpret_cast<const uint2*>(p);
  const fp8* e = reinterpret_cast<const fp8*>(&u);
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = float(e[i]);
}

template <typename T> __device__ __forceinline__ void store8(T* p, const float (&v)[8]);
template <> __device__ __forceinline__ void store8<float>(float* p, const float (&v)[8]) {
  reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}
template <> __device__ __forceinline__ void store8<bf16>(bf16* p, const float (&v)[8]) {
  uint4 u;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(v[2 * i], v[2 * i + 1]);
  *reinterpret_cast<uint4*>(p) = u;
}
template <> __device__ __forceinline__ void store8<__half>(__half* p, const float (&v)[8]) {
  uint4 u;
  __half2* h = reinterpret_cast<__half2*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
  *reinterpret_cast<uint4*>(p) = u;
}
template <> __device__ __forceinline__ void store8<fp8>(fp8* p, const float (&v)[8]) {
  uint2 u;
  fp8* e = reinterpret_cast<fp8*>(&u);
#pragma unroll
  for (int i = 0; i < 8; ++i) e[i] = fp8(v[i]);
  *reinterpret_cast<uint2*>(p) = u;
}

// Whether every pointer is aligned for 8-element accesses of its type.
inline bool aligned8(const void* p, size_t elem_size) {
  return (reinterpret_cast<uintptr_t>(p) % (8 * elem_size)) == 0;
}

}  // namespace sable::cuda
