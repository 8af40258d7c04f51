// FP8 (e4m3) quantization in the DeepSeek-V3 scheme: activations per token
// per 128 channels, weights per 128x128 block; scale = amax / 448 and
// dequantized value = fp8 * scale. Conversions round to nearest even and
// saturate (as torch's float8_e4m3fn cast does for the in-range values these
// produce).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "backend/cuda/gemm_common.cuh"
#include "backend/cuda/knobs.h"
#include "backend/cuda/pdl.cuh"
#include "core/dtype.h"

namespace sable::cuda {
namespace {

constexpr float kFp8Max = 448.f;

__device__ __forceinline__ uint32_t pack4_fp8(float a, float b, float c, float d) {
  const uint32_t lo = __nv_cvt_float2_to_fp8x2(make_float2(a, b), __NV_SATFINITE, __NV_E4M3);
  const uint32_t hi = __nv_cvt_float2_to_fp8x2(make_float2(c, d), __NV_SATFINITE, __NV_E4M3);
  return lo | (hi << 16);
}

// One warp per (token, 128-channel group); lane l handles channels 4l..4l+3.
// Rows t in [T, T_pad) are written as zeros with scale 1 (padding for cuBLASLt).
// Row t reads x row rows[t] when rows is given (a gather: the MoE's tokens in
// expert order), else row t.
__global__ void quantize_act_kernel(const __nv_bfloat16* __restrict__ x, const int* __restrict__ rows, int64_t T,
                                    int64_t T_pad, int64_t K, int64_t ldx, uint8_t* __restrict__ q,
                                    float* __restrict__ scales, int64_t s_sk, int64_t s_st) {
  pdl_begin();
  const int64_t G = (K + 127) / 128;
  const int64_t item = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (item >= T_pad * G) return;
  const int64_t t = item / G, grp = item % G;
  const int64_t k = grp * 128 + lane * 4;
  const bool in = t < T && k < K;
  float v[4] = {0.f, 0.f, 0.f, 0.f};
  if (in) {
    const int64_t src = rows ? rows[t] : t;
    const uint2 raw = *reinterpret_cast<const uint2*>(x + src * ldx + k);
    const __nv_bfloat162 p0 = *reinterpret_cast<const __nv_bfloat162*>(&raw.x);
    const __nv_bfloat162 p1 = *reinterpret_cast<const __nv_bfloat162*>(&raw.y);
    v[0] = __low2float(p0); v[1] = __high2float(p0);
    v[2] = __low2float(p1); v[3] = __high2float(p1);
  }
  float amax = fmaxf(fmaxf(fabsf(v[0]), fabsf(v[1])), fmaxf(fabsf(v[2]), fabsf(v[3])));
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  const float scale = t < T ? fmaxf(amax, 1e-10f) / kFp8Max : 1.f;
  if (lane == 0) scales[grp * s_sk + t * s_st] = scale;
  if (k < K)
    *reinterpret_cast<uint32_t*>(q + t * K + k) =
        pack4_fp8(v[0] / scale, v[1] / scale, v[2] / scale, v[3] / scale);
}

// One CTA per 128x128 block.
__global__ void quantize_weight_kernel(const __nv_bfloat16* __restrict__ w, int64_t R, int64_t C,
                                       uint8_t* __restrict__ q, float* __restrict__ scales,
                                       int64_t sld) {
  const int64_t rb = blockIdx.y, cb = blockIdx.x;
  const int64_t r0 = rb * 128, c0 = cb * 128;
  const int64_t nr = R - r0 < 128 ? R - r0 : 128, nc = C - c0 < 128 ? C - c0 : 128;
  float amax = 0.f;
  for (int64_t i = threadIdx.x; i < nr * nc; i += blockDim.x) {
    const int64_t r = r0 + i / nc, c = c0 + i % nc;
    amax = fmaxf(amax, fabsf(__bfloat162float(w[r * C + c])));
  }
  __shared__ float red[32];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = amax;
  __syncthreads();
  if (threadIdx.x < 32) {
    float m = threadIdx.x < blockDim.x / 32 ? red[threadIdx.x] : 0.f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (threadIdx.x == 0) red[0] = m;
  }
  __syncthreads();
  const float scale = fmaxf(red[0], 1e-12f) / kFp8Max;
  if (threadIdx.x == 0) scales[rb * sld + cb] = scale;
  for (int64_t i = threadIdx.x; i < nr * nc; i += blockDim.x) {
    const int64_t r = r0 + i / nc, c = c0 + i % nc;
    const float v = __bfloat162float(w[r * C + c]) / scale;
    q[r * C + c] = uint8_t(__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3));
  }
}

__global__ void to_bf16_kernel(const void* __restrict__ src, int dtype, int64_t n,
                               __nv_bfloat16* __restrict__ dst) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    float v;
    if (dtype == int(DType::F32))
      v = static_cast<const float*>(src)[i];
    else if (dtype == int(DType::F16))
      v = __half2float(static_cast<const __half*>(src)[i]);
    else
      v = __bfloat162float(static_cast<const __nv_bfloat16*>(src)[i]);
    dst[i] = __float2bfloat16(v);
  }
}

}  // namespace

namespace {
// The activation quantization launch; rows: the gather of
// launch_quantize_act_fp8_rows, else nullptr.
void launch_quantize_act(const __nv_bfloat16* x, const int* rows, int64_t T, int64_t T_pad, int64_t K, int64_t ldx,
                         uint8_t* q, float* scales, int64_t s_sk, int64_t s_st, cudaStream_t stream) {
  if (T_pad <= 0 || K <= 0) return;
  SABLE_GEMM_REQUIRE(K % 4 == 0 && ldx % 4 == 0, "activation quantization needs K % 4 == 0");
  if (skipped(kSkipActQuant)) return;
  const int64_t warps = T_pad * ceil_div(K, 128);
  launch_pdl(quantize_act_kernel, unsigned(ceil_div(warps * 32, 256)), 256, 0, stream, x, rows, T, T_pad, K, ldx, q,
             scales, s_sk, s_st);
  SABLE_LAUNCH_OK();
}
}  // namespace

void launch_quantize_act_fp8_padded(const __nv_bfloat16* x, int64_t T, int64_t T_pad, int64_t K,
                                    int64_t ldx, uint8_t* q, float* scales, int64_t s_sk,
                                    int64_t s_st, cudaStream_t stream) {
  launch_quantize_act(x, nullptr, T, T_pad, K, ldx, q, scales, s_sk, s_st, stream);
}

void launch_quantize_act_fp8(const __nv_bfloat16* x, int64_t T, int64_t K, int64_t ldx,
                             uint8_t* q, float* scales, int64_t sld, cudaStream_t stream) {
  launch_quantize_act(x, nullptr, T, T, K, ldx, q, scales, sld, 1, stream);
}

void launch_quantize_act_fp8_rows(const __nv_bfloat16* x, const int* rows, int64_t T, int64_t K, int64_t ldx,
                                  uint8_t* q, float* scales, int64_t sld, cudaStream_t stream) {
  launch_quantize_act(x, rows, T, T, K, ldx, q, scales, sld, 1, stream);
}

void launch_quantize_weight_fp8(const __nv_bfloat16* w, int64_t R, int64_t C, uint8_t* q,
                                float* scales, int64_t sld, cudaStream_t stream) {
  if (R <= 0 || C <= 0) return;
  const dim3 grid(unsigned(ceil_div(C, 128)), unsigned(ceil_div(R, 128)));
  quantize_weight_kernel<<<grid, 256, 0, stream>>>(w, R, C, q, scales, sld);
  SABLE_LAUNCH_OK();
}

void launch_to_bf16(const void* src, int src_dtype, int64_t n, __nv_bfloat16* dst,
                    cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t blocks = ceil_div(n, 256) < 8192 ? ceil_div(n, 256) : 8192;
  to_bf16_kernel<<<unsigned(blocks), 256, 0, stream>>>(src, src_dtype, n, dst);
  SABLE_LAUNCH_OK();
}

}  // namespace sable::cuda
