// FP8 (e4m3) quantization in the DeepSeek-V3 scheme: activations per token
// per 128 channels, weights per 128x128 block; scale = amax / 448 and
// dequantized value = fp8 * scale. Conversions round to nearest even and
// saturate (as torch's float8_e4m3fn cast does for the in-range values these
// produce).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <cstdlib>

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

// The quantization of one 128-channel block, shared by both kernels below so
// that they give the same bits: scale = max(amax, 1e-10) / 448 (1 for
// padding rows), q = e4m3(v / scale).
__device__ __forceinline__ float act_block_scale(float amax, bool real_row) {
  return real_row ? fmaxf(amax, 1e-10f) / kFp8Max : 1.f;
}

// One warp per (token, 128-channel group); lane l handles channels 4l..4l+3.
// Rows t in [T, T_pad) are written as zeros with scale 1 (padding for cuBLASLt).
// The general form (K % 4 == 0); quantize_act_vec_kernel serves K % 128 == 0.
__global__ void quantize_act_kernel(const __nv_bfloat16* __restrict__ x, int64_t T, int64_t T_pad, int64_t K,
                                    int64_t ldx, uint8_t* __restrict__ q, float* __restrict__ scales, int64_t s_sk,
                                    int64_t s_st) {
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
    const uint2 raw = *reinterpret_cast<const uint2*>(x + t * ldx + k);
    const __nv_bfloat162 p0 = *reinterpret_cast<const __nv_bfloat162*>(&raw.x);
    const __nv_bfloat162 p1 = *reinterpret_cast<const __nv_bfloat162*>(&raw.y);
    v[0] = __low2float(p0); v[1] = __high2float(p0);
    v[2] = __low2float(p1); v[3] = __high2float(p1);
  }
  float amax = fmaxf(fmaxf(fabsf(v[0]), fabsf(v[1])), fmaxf(fabsf(v[2]), fabsf(v[3])));
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  const float scale = act_block_scale(amax, t < T);
  if (lane == 0) scales[grp * s_sk + t * s_st] = scale;
  if (k < K)
    *reinterpret_cast<uint32_t*>(q + t * K + k) =
        pack4_fp8(v[0] / scale, v[1] / scale, v[2] / scale, v[3] / scale);
}

// K % 128 == 0, x rows 16-byte aligned: a half-warp per (token, 128-channel
// group), 8 channels per lane in one 16-byte load, and kItems such items per
// half-warp with all their loads issued before the first reduction. The
// warp-per-block kernel above keeps one 256-byte load in flight per warp and
// read at ~1.1 TB/s (H200, the MoE's h, 32,768 x 2,048: 120 us); this one
// keeps 2 KB. Same bits as the kernel above (act_block_scale, the same
// division, max is exact in any order).
constexpr int kQuantVecItems = 4;
// Item i of the vec kernel: group i / T_pad, token i % T_pad (group-major,
// so that neighbouring half-warps write neighbouring scales), in 32-bit
// arithmetic (the dispatch keeps T_pad G < 2^31). Against token-major items
// in 64-bit arithmetic: the MoE's h at 4,096 tokens 81.5 -> 71.6 us, its
// tokens 39.1 -> 35.3 (ncu; record 2026-12-04-78b7477-act-quant-ab.md).
__device__ __forceinline__ void act_item(int64_t item, int64_t T_pad, int64_t& t, int64_t& grp) {
  const uint32_t i = uint32_t(item), tp = uint32_t(T_pad);
  const uint32_t g = i / tp;
  grp = int64_t(g);
  t = int64_t(i - g * tp);
}
__global__ void quantize_act_vec_kernel(const __nv_bfloat16* __restrict__ x, int64_t T, int64_t T_pad, int64_t K,
                                        int64_t ldx, uint8_t* __restrict__ q, float* __restrict__ scales, int64_t s_sk,
                                        int64_t s_st) {
  pdl_begin();
  const int64_t G = K / 128, items = T_pad * G;
  const int hl = threadIdx.x & 15;  // lane in the half-warp: channels 8 hl .. 8 hl + 7
  // Half-warp hw of the grid takes items hw + nhw (j + kQuantVecItems i);
  // both halves of a warp run the same iterations (the shuffles need all 32
  // lanes), the warp's first half deciding.
  const int64_t hw = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 4;
  const int64_t nhw = (int64_t(gridDim.x) * blockDim.x) >> 4;
  for (int64_t b0 = hw & ~int64_t(1); b0 < items; b0 += nhw * kQuantVecItems) {
    const int64_t base = b0 + (hw & 1);
    uint4 raw[kQuantVecItems];
#pragma unroll
    for (int j = 0; j < kQuantVecItems; ++j) {
      const int64_t item = base + j * nhw;
      int64_t t, grp;
      act_item(item, T_pad, t, grp);
      raw[j] = make_uint4(0u, 0u, 0u, 0u);
      if (item < items && t < T) raw[j] = *reinterpret_cast<const uint4*>(x + t * ldx + grp * 128 + hl * 8);
    }
#pragma unroll
    for (int j = 0; j < kQuantVecItems; ++j) {
      const int64_t item = base + j * nhw;
      // Every lane of the warp takes part in the shuffles; items past the end
      // are zeros and store nothing.
      int64_t t, grp;
      act_item(item, T_pad, t, grp);
      float v[8];
      const __nv_bfloat162* h2 = reinterpret_cast<const __nv_bfloat162*>(&raw[j]);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        v[2 * i] = __low2float(h2[i]);
        v[2 * i + 1] = __high2float(h2[i]);
      }
      float amax = 0.f;
#pragma unroll
      for (int i = 0; i < 8; ++i) amax = fmaxf(amax, fabsf(v[i]));
#pragma unroll
      for (int o = 8; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
      if (item >= items) continue;
      const float scale = act_block_scale(amax, t < T);
      if (hl == 0) scales[grp * s_sk + t * s_st] = scale;
      uint2 out;
      out.x = pack4_fp8(v[0] / scale, v[1] / scale, v[2] / scale, v[3] / scale);
      out.y = pack4_fp8(v[4] / scale, v[5] / scale, v[6] / scale, v[7] / scale);
      *reinterpret_cast<uint2*>(q + t * K + grp * 128 + hl * 8) = out;
    }
  }
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
void launch_quantize_act(const __nv_bfloat16* x, int64_t T, int64_t T_pad, int64_t K, int64_t ldx, uint8_t* q,
                         float* scales, int64_t s_sk, int64_t s_st, cudaStream_t stream) {
  if (T_pad <= 0 || K <= 0) return;
  SABLE_GEMM_REQUIRE(K % 4 == 0 && ldx % 4 == 0, "activation quantization needs K % 4 == 0");
  if (skipped(kSkipActQuant)) return;
  // The half-warp kernel from prefill sizes (T_pad >= 256): at one token it
  // is 0.1-0.7 us slower per call than the warp-per-block kernel, which is
  // latency-bound there (H200, dense FP8 GEMMs at M = 1 with their
  // quantization: 2048x7168 8.9 vs 9.5 us, 18432x7168 36.6 vs 36.8; record
  // 2026-12-03-5d2d184-act-quant-m1-ab.md). SABLE_ACT_QUANT_VEC=0: the
  // warp-per-block kernel everywhere (an A/B switch, read once).
  static const bool vec_allowed = [] {
    const char* e = std::getenv("SABLE_ACT_QUANT_VEC");
    return e == nullptr || *e != '0';
  }();
  if (vec_allowed && T_pad >= 256 && K % 128 == 0 && ldx % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
      T_pad * (K / 128) < (int64_t(1) << 31)) {
    // A half-warp per item up to 1,024 blocks (8 of 256 threads on each of
    // 132 SMs), then kQuantVecItems or more items per half-warp in the
    // grid-stride loop.
    const int64_t items = T_pad * (K / 128);
    const int64_t blocks = std::min<int64_t>(ceil_div(items * 16, int64_t(256)), int64_t(1024));
    launch_pdl(quantize_act_vec_kernel, unsigned(blocks), 256, 0, stream, x, T, T_pad, K, ldx, q, scales, s_sk, s_st);
  } else {
    const int64_t warps = T_pad * ceil_div(K, 128);
    launch_pdl(quantize_act_kernel, unsigned(ceil_div(warps * 32, 256)), 256, 0, stream, x, T, T_pad, K, ldx, q, scales,
               s_sk, s_st);
  }
  SABLE_LAUNCH_OK();
}
}  // namespace

void launch_quantize_act_fp8_padded(const __nv_bfloat16* x, int64_t T, int64_t T_pad, int64_t K,
                                    int64_t ldx, uint8_t* q, float* scales, int64_t s_sk,
                                    int64_t s_st, cudaStream_t stream) {
  launch_quantize_act(x, T, T_pad, K, ldx, q, scales, s_sk, s_st, stream);
}

void launch_quantize_act_fp8(const __nv_bfloat16* x, int64_t T, int64_t K, int64_t ldx,
                             uint8_t* q, float* scales, int64_t sld, cudaStream_t stream) {
  launch_quantize_act(x, T, T, K, ldx, q, scales, sld, 1, stream);
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
