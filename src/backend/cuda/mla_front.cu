// The front of MLA attention for one decode token as one cooperative kernel
// (opt-in: knob mla-front / SABLE_MLA_FRONT=1; docs/performance.md, "A first
// step"). Correct on the H200 (MlaFrontTest; the logits of an FP8 decode step
// bitwise equal to the unfused path's), but slower than the seven launches
// it replaces: 62-67 us against 32-36 (bench_cuda_gemm --mla-front), +17 us
// a layer in the step. ncu: shared-memory bound (the dot loops' float4 reads
// of the activations conflict 4 ways), DRAM 22 % busy; one bulk copy of all
// of a CTA's q_b rows was ~10 us slower than several. Both fixes are in the
// patch bench/results/2026-12-04-d24bd5f-mla-front-swizzle.patch, not yet
// measured. Per layer:
//   residual += prev (unless prev is null: layer 0)         F32 [H]
//   h  = input_layernorm(residual), BF16; x = FP8(h) per 128  (add_rms_norm + quantize_act)
//   qkv = x W1^T, W1 the fused q_a | kv_a FP8 [N1, H]         BF16 [N1]
//   qa = q_a_layernorm(qkv[0, Q)), BF16; y = FP8(qa)          (rms_norm + quantize_act)
//   q  = y W2^T, W2 = q_b FP8 [N2, Q]                        BF16 [N2]
// Why one kernel: at batch 1 these are seven launches (~40 us of kernels in
// ncu, ~35 us of step in the graph) for 53 MB of weights (12.6 us at the
// floor); each GEMM can start its loads only once the small kernels before
// it have run. Here every CTA issues all of its weight loads at once at the
// start (its W1 rows into registers, a bulk copy of most of its W2 rows into
// shared memory, the rest of its W2 rows into registers after its W1 rows),
// so DRAM streams without a gap across the one dependency (q_b needs all of
// q_a), which a grid-wide barrier in global memory resolves.
// Arithmetic: the norms (1,024 threads, the same reduction tree) and the FP8
// quantization give the unfused kernels' bits; the dot products are summed
// on CUDA cores (f32 products of FP8 values are exact; each 16-byte piece's
// sum is scaled by weight scale x activation scale, then summed), so qkv and
// q differ from the tensor-core kernels' in the last bits.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/device_info.h"
#include "backend/cuda/mla_front.h"
#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/smem_optin.h"

namespace sable::cuda {

namespace {

constexpr int kThreads = 1024;  // the norms' reduction tree (rms_norm.cu) and 32 warps of loads
constexpr int kWarps = kThreads / 32;
constexpr int kRows1 = 16;  // W1 rows per CTA: grid = N1 / 16 (2,112 / 16 = 132 on DeepSeek-V3)
constexpr int kMaxH = 7168, kMaxQ = 1536;
constexpr int kW1Chunks = kMaxH / 16 / (kWarps / kRows1) / 32;  // 16-byte pieces per lane of a W1 row half: 7
constexpr int kW2Reg = 2;  // W2 rows per warp held in registers (those past the shared-memory prefetch)
constexpr int kW2Chunks = kMaxQ / 16 / 32;  // 16-byte pieces per lane of a W2 row: 3
constexpr float kFp8Max = 448.f;

// Shared memory: [xf: H floats, the FP8 activations as float][xs: H / 128][yf: Q floats][ys: Q / 128]
// [scratch 33 floats][partials kWarps floats][mbarrier][W2 rows: P2 x Q bytes].
struct FrontSmem {
  static constexpr int kFloats = kMaxH + kMaxH / 128 + kMaxQ + kMaxQ / 128 + 33 + kWarps;
  static constexpr int kHeadBytes = ((((kFloats * 4 + 7) & ~7) + 8 + 127) / 128) * 128;
};

// Sum of 16 FP8 weights times 16 activations (floats, from shared memory):
// f32 products of FP8 values are exact. Pairs convert through half2.
__device__ __forceinline__ float dot16(const uint4& w, const float* x) {
  const uint32_t* p = reinterpret_cast<const uint32_t*>(&w);
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float4 xv = *reinterpret_cast<const float4*>(x + 4 * i);
    const __half2_raw lo = __nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(p[i] & 0xffffu), __NV_E4M3);
    const __half2_raw hi = __nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(p[i] >> 16), __NV_E4M3);
    const float2 a = __half22float2(__half2(lo)), b = __half22float2(__half2(hi));
    s = fmaf(a.x, xv.x, s);
    s = fmaf(a.y, xv.y, s);
    s = fmaf(b.x, xv.z, s);
    s = fmaf(b.y, xv.w, s);
  }
  return s;
}

// Grid-wide barrier for co-resident CTAs (cooperative launch): the last CTA
// to arrive resets the count and bumps the generation the others wait on.
__device__ __forceinline__ void grid_sync(unsigned* count, unsigned* gen, unsigned my_gen) {
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    if (atomicAdd(count, 1u) == gridDim.x - 1) {
      *count = 0;
      __threadfence();
      atomicAdd(gen, 1u);
    } else {
      while (*reinterpret_cast<volatile unsigned*>(gen) == my_gen) __nanosleep(64);
    }
    __threadfence();
  }
  __syncthreads();
}

// RMSNorm of D values (D % 8 == 0, thread t: 8 t .. 8 t + 7, as rms_norm.cu's
// VEC 8 path with 1,024 threads: the same tree, the same bits), rounded to
// bf16, then the FP8 quantization per 128 channels (quantize_act's scale and
// division); writes the FP8 values as floats and the scales to shared memory.
__device__ __forceinline__ void norm_quant(const float (&v)[8], bool active, const __nv_bfloat16* w, int D, float eps,
                                           float* scratch, float* xf, float* xs) {
  float ss = 0.f;
  if (active)
#pragma unroll
    for (int j = 0; j < 8; ++j) ss += v[j] * v[j];
  ss = block_sum(ss, scratch);
  const float inv = 1.f / sqrtf(ss / float(D) + eps);
  float h[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  if (active) {
    float g[8];
    load8(w + threadIdx.x * 8, g);
#pragma unroll
    for (int j = 0; j < 8; ++j) h[j] = __bfloat162float(__float2bfloat16_rn(g[j] * (v[j] * inv)));
  }
  // A 128-channel group is 16 consecutive threads (a half-warp).
  float amax = 0.f;
#pragma unroll
  for (int j = 0; j < 8; ++j) amax = fmaxf(amax, fabsf(h[j]));
#pragma unroll
  for (int o = 8; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  if (active) {
    const float scale = fmaxf(amax, 1e-10f) / kFp8Max;
    if ((threadIdx.x & 15) == 0) xs[threadIdx.x / 16] = scale;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const __nv_fp8_e4m3 q(h[j] / scale);  // satfinite, round to nearest even (as __nv_cvt_float2_to_fp8x2)
      xf[threadIdx.x * 8 + j] = float(q);
    }
  }
}

__global__ void __launch_bounds__(kThreads, 1) mla_front_kernel(const MlaFrontArgs a) {
  extern __shared__ __align__(128) uint8_t smem[];
  float* xf = reinterpret_cast<float*>(smem);
  float* xs = xf + kMaxH;
  float* yf = xs + kMaxH / 128;
  float* ys = yf + kMaxQ;
  float* scratch = ys + kMaxQ / 128;
  float* part = scratch + 33;
  const uint32_t mbar = smem_u32(smem) + ((FrontSmem::kFloats * 4 + 7) & ~7);  // 8-byte aligned
  uint8_t* w2s = smem + FrontSmem::kHeadBytes;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int H = a.H, Q = a.Q;

  __shared__ unsigned s_gen;
  if (tid == 0) s_gen = *reinterpret_cast<volatile unsigned*>(a.bar_gen);
  // This CTA's W2 rows [r2, r2 + n2): the first p2 by one bulk copy into
  // shared memory, issued before anything else (weights: no dependency).
  const int rows2 = (a.N2 + int(gridDim.x) - 1) / int(gridDim.x);
  const int r2 = int(blockIdx.x) * rows2;
  const int n2 = max(0, min(rows2, a.N2 - r2));
  const int p2 = min(n2, a.w2_smem_rows);
  if (tid == 0) {
    mbar_init(mbar, 1);
    mbar_fence_init();
  }
  __syncthreads();
  if (tid == 0 && p2 > 0) {
    mbar_arrive_expect_tx(mbar, uint32_t(p2 * Q));
    bulk_load(smem_u32(w2s), a.w2 + int64_t(r2) * Q, uint32_t(p2 * Q), mbar);
  }
  // This warp's W1 row (16 rows per CTA, two warps per row, each half of K).
  const int row1 = int(blockIdx.x) * kRows1 + warp % kRows1, half = warp / kRows1;
  const int k1 = half * (H / 2);
  uint4 w1r[kW1Chunks];
#pragma unroll
  for (int c = 0; c < kW1Chunks; ++c)
    w1r[c] = __ldcs(reinterpret_cast<const uint4*>(a.w1 + int64_t(row1) * H + k1 + (c * 32 + lane) * 16));

  // 1. residual (+ prev) -> input_layernorm -> FP8, in every CTA.
  const bool act1 = tid * 8 < H;
  float v[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  if (act1) {
    load8(a.residual + tid * 8, v);
    if (a.prev) {
      float p[8];
      load8(a.prev + tid * 8, p);
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] += p[j];  // the F32 residual stores the sum as is
    }
  }
  norm_quant(v, act1, a.ln, H, a.eps, scratch, xf, xs);
  __syncthreads();

  // 2. qkv[row1] = x . W1[row1]: per 16-byte piece, sum x scale.
  {
    const float* ws = a.s1 + int64_t(row1 / 128) * a.s1_ld;
    float acc = 0.f;
#pragma unroll
    for (int c = 0; c < kW1Chunks; ++c) {
      const int k = k1 + (c * 32 + lane) * 16;
      acc += dot16(w1r[c], xf + k) * (ws[k / 128] * xs[k / 128]);
    }
    acc = warp_sum(acc);
    if (lane == 0) part[warp] = acc;
    __syncthreads();
    if (tid < kRows1) a.qkv[int(blockIdx.x) * kRows1 + tid] = __float2bfloat16_rn(part[tid] + part[tid + kRows1]);
  }
  // This warp's W2 rows past the shared-memory ones (at most kW2Reg), loaded
  // now that the W1 registers are free (64 registers a thread at 1,024
  // threads) and before the barrier, so that they are in flight across it.
  uint4 w2r[kW2Reg][kW2Chunks];
#pragma unroll
  for (int i = 0; i < kW2Reg; ++i) {
    const int lr = p2 + warp + i * kWarps;
#pragma unroll
    for (int c = 0; c < kW2Chunks; ++c)
      w2r[i][c] = lr < n2 ? __ldcs(reinterpret_cast<const uint4*>(a.w2 + int64_t(r2 + lr) * Q + (c * 32 + lane) * 16))
                          : make_uint4(0, 0, 0, 0);
  }
  grid_sync(a.bar_count, a.bar_gen, s_gen);

  // 3. The residual, once (every CTA read the old one above), and q_a's norm.
  if (blockIdx.x == 0 && act1) store8(a.residual + tid * 8, v);
  const bool act2 = tid * 8 < Q;
  float u[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  if (act2) {
    const uint4 raw = __ldcg(reinterpret_cast<const uint4*>(a.qkv + tid * 8));  // written by other CTAs
    const __nv_bfloat162* h2 = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __bfloat1622float2(h2[i]);
      u[2 * i] = f.x;
      u[2 * i + 1] = f.y;
    }
  }
  norm_quant(u, act2, a.qa_ln, Q, a.eps, scratch, yf, ys);
  __syncthreads();

  // 4. q[r2 + lr] = y . W2[r2 + lr]: shared-memory rows, then the register ones.
  if (p2 > 0) mbar_wait(mbar, 0);
  for (int lr = warp; lr < p2; lr += kWarps) {
    const float* ws = a.s2 + int64_t((r2 + lr) / 128) * a.s2_ld;
    float acc = 0.f;
#pragma unroll
    for (int c = 0; c < kW2Chunks; ++c) {
      const int k = (c * 32 + lane) * 16;
      const uint4 w = *reinterpret_cast<const uint4*>(w2s + lr * Q + k);
      acc += dot16(w, yf + k) * (ws[k / 128] * ys[k / 128]);
    }
    acc = warp_sum(acc);
    if (lane == 0) a.q[r2 + lr] = __float2bfloat16_rn(acc);
  }
#pragma unroll
  for (int i = 0; i < kW2Reg; ++i) {
    const int lr = p2 + warp + i * kWarps;
    if (lr >= n2) break;
    const float* ws = a.s2 + int64_t((r2 + lr) / 128) * a.s2_ld;
    float acc = 0.f;
#pragma unroll
    for (int c = 0; c < kW2Chunks; ++c) {
      const int k = (c * 32 + lane) * 16;
      acc += dot16(w2r[i][c], yf + k) * (ws[k / 128] * ys[k / 128]);
    }
    acc = warp_sum(acc);
    if (lane == 0) a.q[r2 + lr] = __float2bfloat16_rn(acc);
  }
}

}  // namespace

int mla_front_grid(int N1) { return N1 % kRows1 == 0 ? N1 / kRows1 : 0; }

bool mla_front_supported(const MlaFrontArgs& a) {
  const int grid = mla_front_grid(a.N1);
  if (a.H != kMaxH || a.Q != kMaxQ || grid == 0 || grid > sm_count()) return false;
  // Rows of W2 per CTA past the shared-memory copy must fit the registers' kW2Reg per warp.
  const int rows2 = (a.N2 + grid - 1) / grid;
  return rows2 - a.w2_smem_rows <= kW2Reg * kWarps && a.w2_smem_rows >= 0;
}

size_t mla_front_smem_bytes(int w2_smem_rows, int Q) {
  return size_t(FrontSmem::kHeadBytes) + size_t(w2_smem_rows) * size_t(Q);
}

int mla_front_max_smem_rows(int Q) {
  const int budget = 227 * 1024 - FrontSmem::kHeadBytes;
  return budget / Q;
}

void mla_front(const MlaFrontArgs& a, cudaStream_t stream) {
  const int grid = mla_front_grid(a.N1);
  const size_t smem = mla_front_smem_bytes(a.w2_smem_rows, a.Q);
  allow_dynamic_smem(mla_front_kernel, smem);
  // Cooperative: every CTA resident at once (the grid barrier needs it).
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(unsigned(grid));
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeCooperative;
  attr[0].val.cooperative = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  SABLE_CUDA_CHECK(cudaLaunchKernelEx(&cfg, mla_front_kernel, a));
}

}  // namespace sable::cuda
