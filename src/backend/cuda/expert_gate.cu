// The MoE gate of a decode token in one launch: router logits, then routing.
//
// At decode the gate was three launches in a row before the experts could
// start: cuBLASLt's bf16 GEMM for the [E, H] router (a split-K kernel and
// its reduction, ~8.6 us in ncu for 3.7 MB at one token on the H200) and
// moe_route (~7 us). The weights are small, so the time was latency. Here
// each block computes the logits of 2 experts (4 warps per expert, a quarter
// of H each; the weights are loaded before the wait for the previous kernel,
// PDL), and the last block to finish, known by an arrival counter, routes
// the token with expert_routing.cuh's code. One wave of E / 2 blocks, so
// the counter's serial tail is paid once (it lost inside the multi-wave
// streaming GEMM: docs/kernels-gemm.md).
//
// The logits' summation order depends on H alone (each lane's 8-element dot
// in order, lanes by a fixed shuffle tree, the 4 quarters in order), not on
// T; they differ from cuBLASLt's in the last bits, so the fused gate is used
// only outside batch-invariant mode (where linear() itself varies with T).
#include <cassert>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/expert_routing.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/smem_optin.h"

namespace sable::cuda {
namespace {

constexpr int kExpertsPerBlock = 2;
constexpr int kQuarters = 4;         // warps per expert
constexpr int kMaxVecPerLane = 8;    // H <= 4 x 32 x 8 x 8 = 8192
static_assert(kExpertsPerBlock * kQuarters * 32 == kRouteThreads, "one block = 8 warps");

template <int T>
__global__ void __launch_bounds__(kRouteThreads) expert_gate_kernel(const bf16* __restrict__ x,
                                                                    const bf16* __restrict__ w, int H,
                                                                    const float* __restrict__ bias, RouteShape r,
                                                                    float* logits, int32_t* ids, float* wts,
                                                                    int* counter) {
  extern __shared__ float smem[];
  __shared__ float part[kExpertsPerBlock * kQuarters][T];
  __shared__ bool last;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int e = blockIdx.x * kExpertsPerBlock + warp / kQuarters;
  const int per_quarter = H / kQuarters, iters = per_quarter / 256;
  const int64_t k0 = int64_t(warp % kQuarters) * per_quarter + lane * 8;
  // Weights first: no kernel writes them, so they may be read before the wait.
  uint4 wv[kMaxVecPerLane];
  const bf16* wr = w + int64_t(e) * H + k0;
#pragma unroll
  for (int i = 0; i < kMaxVecPerLane; ++i)
    if (i < iters) wv[i] = __ldg(reinterpret_cast<const uint4*>(wr + i * 256));
  pdl_wait();
  pdl_launch_dependents();
  float acc[T];
#pragma unroll
  for (int t = 0; t < T; ++t) acc[t] = 0.f;
#pragma unroll
  for (int i = 0; i < kMaxVecPerLane; ++i) {
    if (i >= iters) break;
    float wf[8];
    const __nv_bfloat162* h2 = reinterpret_cast<const __nv_bfloat162*>(&wv[i]);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float2 f = __bfloat1622float2(h2[j]);
      wf[2 * j] = f.x;
      wf[2 * j + 1] = f.y;
    }
#pragma unroll
    for (int t = 0; t < T; ++t) {
      float xf[8];
      load8(x + int64_t(t) * H + k0 + i * 256, xf);
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[t] = fmaf(wf[j], xf[j], acc[t]);
    }
  }
#pragma unroll
  for (int t = 0; t < T; ++t) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) acc[t] += __shfl_xor_sync(0xffffffffu, acc[t], o);
    if (lane == 0) part[warp][t] = acc[t];
  }
  __syncthreads();
  if (threadIdx.x < kExpertsPerBlock * T) {
    const int le = threadIdx.x / T, t = threadIdx.x % T;
    float sum = 0.f;
#pragma unroll
    for (int q = 0; q < kQuarters; ++q) sum += part[le * kQuarters + q][t];
    logits[int64_t(t) * r.E + blockIdx.x * kExpertsPerBlock + le] = sum;
    __threadfence();  // the logits are visible before this block is counted
  }
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(counter, 1) == int(gridDim.x) - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();  // every other block's logits are visible to this one
  for (int t = 0; t < T; ++t)
    route_token(logits + int64_t(t) * r.E, bias, r, smem, ids + int64_t(t) * (r.K + r.S),
                wts + int64_t(t) * (r.K + r.S));
  if (threadIdx.x == 0) *counter = 0;  // ready for the next launch (and graph replay)
}

template <int T>
void launch(const Tensor& x, const Tensor& gate_w, const Tensor& bias, const RouteShape& r, Tensor& logits,
            Tensor& ids, Tensor& weights, int* counter, cudaStream_t stream) {
  const size_t smem = route_smem_bytes(r);
  allow_dynamic_smem(expert_gate_kernel<T>, smem);
  launch_pdl(expert_gate_kernel<T>, unsigned(r.E / kExpertsPerBlock), kRouteThreads, smem, stream,
             x.ptr<bf16>(), gate_w.ptr<bf16>(), int(x.dim(1)), bias.data() ? bias.ptr<float>() : nullptr, r,
             logits.ptr<float>(), ids.ptr<int32_t>(), weights.ptr<float>(), counter);
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace

bool expert_gate_supported(const Tensor& x, const Tensor& gate_w, const MoeRoutingParams& p) {
  if (x.ndim() != 2 || gate_w.ndim() != 2 || x.dtype() != DType::BF16 || gate_w.dtype() != DType::BF16 ||
      gate_w.device() != Device::kCUDA)
    return false;
  const int64_t T = x.dim(0), H = x.dim(1);
  return T >= 1 && T <= kExpertGateMaxTokens && H % 1024 == 0 && H <= 8192 && gate_w.dim(1) == H &&
         gate_w.dim(0) == p.num_experts && p.num_experts % kExpertsPerBlock == 0 &&
         reinterpret_cast<uintptr_t>(x.data()) % 16 == 0 && reinterpret_cast<uintptr_t>(gate_w.data()) % 16 == 0;
}

void expert_gate(const Tensor& x, const Tensor& gate_w, const Tensor& bias, const MoeRoutingParams& p,
                 Tensor& router_logits, Tensor& topk_ids, Tensor& topk_weights, int* counter, cudaStream_t stream) {
  if (!expert_gate_supported(x, gate_w, p))
    throw std::runtime_error("CUDA expert_gate: needs BF16 x [1, H] and router [E, H], H % 1024 == 0, H <= 8192");
  const int E = p.num_experts, G = p.n_group, K = p.top_k, S = p.num_shared;
  if (router_logits.dtype() != DType::F32 || router_logits.dim(0) != x.dim(0) || router_logits.dim(1) != E ||
      (bias.data() && bias.dtype() != DType::F32) || E % G != 0 || K < 1 || K > E || p.topk_group > G || S < 0 ||
      topk_ids.dim(1) != K + S || topk_weights.dim(1) != K + S)
    throw std::runtime_error("CUDA expert_gate: unsupported routing shape");
  const RouteShape r = route_shape(p);
  // More tokens would be launch<T>; measured slower (ops.h), so not taken.
  static_assert(kExpertGateMaxTokens == 1);
  launch<1>(x, gate_w, bias, r, router_logits, topk_ids, topk_weights, counter, stream);
}

}  // namespace sable::cuda
