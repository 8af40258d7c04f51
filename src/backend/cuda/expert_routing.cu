// MoE routing, noaux_tc exactly as cpu/moe_route.cpp and in float32 (in bf16
// routes flip): s = sigmoid(logit); choice = s + bias; each group scores the
// sum of its top-2 choices; the best topk_group groups are kept; the top_k
// experts among them by choice are chosen, ties toward the lower index;
// weights are the unbiased s of the chosen, normalized if asked, times
// routed_scaling_factor. Output order = descending choice, as the CPU's
// partial_sort. One warp per token; E and the group scores sit in shared
// memory. (File named expert_routing, not moe_*: moe* files hold the grouped
// GEMM experts, owned separately.)
#include <cassert>
#include <climits>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/ops.h"

namespace sable::cuda {
namespace {

constexpr int kWarps = 4;

struct Best { float v; int i; };

// a better than b: larger value, ties toward lower index; i == INT_MAX is "none".
__device__ __forceinline__ bool better(float av, int ai, float bv, int bi) {
  if (ai == INT_MAX) return false;
  if (bi == INT_MAX) return true;
  return av > bv || (av == bv && ai < bi);
}

__device__ __forceinline__ Best warp_best(Best b) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, b.v, o);
    int oi = __shfl_xor_sync(0xffffffffu, b.i, o);
    if (better(ov, oi, b.v, b.i)) { b.v = ov; b.i = oi; }
  }
  return b;
}

__global__ void __launch_bounds__(kWarps * 32) moe_route_kernel(const float* logits, const float* bias, int T,
                                                                int E, int G, int topk_group, int K, bool norm,
                                                                float scaling, int32_t* ids_out, float* w_out) {
  extern __shared__ float smem[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int t = blockIdx.x * kWarps + warp;
  if (t >= T) return;  // whole warp leaves together
  float* s = smem + size_t(warp) * (2 * E + 2 * G);
  float* choice = s + E;
  float* gscore = choice + E;
  int* gflag = reinterpret_cast<int*>(gscore + G);  // 0 = free, 1 = kept
  const float* lg = logits + size_t(t) * E;
  for (int e = lane; e < E; e += 32) {
    const float v = 1.f / (1.f + expf(-lg[e]));
    s[e] = v;
    choice[e] = v + (bias ? bias[e] : 0.f);
  }
  __syncwarp();
  const int per_group = E / G;
  for (int g = lane; g < G; g += 32) {
    const float* c = choice + g * per_group;
    float sc;
    if (per_group == 1) {
      sc = c[0];
    } else {
      float m1 = -INFINITY, m2 = -INFINITY;
      for (int i = 0; i < per_group; ++i) {
        if (c[i] > m1) { m2 = m1; m1 = c[i]; }
        else if (c[i] > m2) m2 = c[i];
      }
      sc = m1 + m2;
    }
    gscore[g] = sc;
    gflag[g] = 0;
  }
  __syncwarp();
  for (int k = 0; k < topk_group; ++k) {
    Best b{-INFINITY, INT_MAX};
    for (int g = lane; g < G; g += 32)
      if (!gflag[g] && better(gscore[g], g, b.v, b.i)) { b.v = gscore[g]; b.i = g; }
    b = warp_best(b);
    if (lane == 0 && b.i != INT_MAX) gflag[b.i] = 1;
    __syncwarp();
  }
  // Experts of dropped groups score -inf (still selectable, as on the CPU,
  // if top_k exceeds the kept experts). Lane l owns experts l + 32 j; bit j
  // of `taken` marks the ones already chosen (E <= 1024).
  uint32_t taken = 0;
  int32_t my_id = 0;
  float my_w = 0.f;
  for (int k = 0; k < K; ++k) {
    Best b{-INFINITY, INT_MAX};
    for (int e = lane, j = 0; e < E; e += 32, ++j) {
      if ((taken >> j) & 1u) continue;
      const float v = gflag[e / per_group] ? choice[e] : -INFINITY;
      if (better(v, e, b.v, b.i)) { b.v = v; b.i = e; }
    }
    b = warp_best(b);
    if (b.i != INT_MAX && (b.i & 31) == lane) taken |= 1u << (b.i >> 5);
    if (lane == k) { my_id = b.i; my_w = s[b.i]; }
  }
  // Weights: sum in k order (as the CPU), then normalize and scale.
  float sum = 0.f;
  for (int k = 0; k < K; ++k) sum += __shfl_sync(0xffffffffu, my_w, k);
  const float denom = norm ? sum + 1e-20f : 1.f;
  if (lane < K) {
    ids_out[size_t(t) * K + lane] = my_id;
    w_out[size_t(t) * K + lane] = my_w / denom * scaling;
  }
}

}  // namespace

void moe_route(const Tensor& router_logits, const Tensor& bias, const MoeRoutingParams& p,
               Tensor& topk_ids, Tensor& topk_weights, cudaStream_t stream) {
  const int64_t T = router_logits.dim(0);
  const int E = p.num_experts, G = p.n_group, K = p.top_k;
  if (router_logits.dtype() != DType::F32 || (bias.data() && bias.dtype() != DType::F32))
    throw std::runtime_error("CUDA moe_route: router logits and bias must be F32");
  if (router_logits.dim(1) != E || E % G != 0 || K > 32 || K > E || E > 32 * 32 || p.topk_group > G)
    throw std::runtime_error("CUDA moe_route: unsupported routing shape");
  if (T == 0) return;
  const size_t smem = size_t(kWarps) * (2 * E + 2 * G) * sizeof(float);
  if (smem > 48 * 1024)
    SABLE_CUDA_CHECK(cudaFuncSetAttribute(moe_route_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  moe_route_kernel<<<ceil_div(T, kWarps), kWarps * 32, smem, stream>>>(
      router_logits.ptr<float>(), bias.data() ? bias.ptr<float>() : nullptr, int(T), E, G, p.topk_group, K,
      p.norm_topk_prob, p.routed_scaling_factor, topk_ids.ptr<int32_t>(), topk_weights.ptr<float>());
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace sable::cuda
