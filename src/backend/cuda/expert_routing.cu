// MoE routing, noaux_tc exactly as cpu/moe_route.cpp and in float32 (in bf16
// routes flip): s = sigmoid(logit); choice = s + bias; each group scores the
// sum of its top-2 choices; the best topk_group groups are kept; the top_k
// experts among them by choice are chosen, ties toward the lower index;
// weights are the unbiased s of the chosen, normalized if asked, times
// routed_scaling_factor. Output order = descending choice, as the CPU's
// partial_sort; shared experts fused as experts E.. follow with weight 1.
// Under expert parallelism (p.local_experts > 0), ids relative to the rank's
// first expert, -1 for another rank's; the shared ones follow the rank's.
//
// One block per token, and no serial selection rounds: a group's score is a
// warp's top-2 reduction; a group is kept when fewer than topk_group groups
// beat it, and an expert is chosen when fewer than top_k experts beat it (its
// rank, counted by its own thread over all E: O(E) per thread, all in
// parallel), which is also its output column. "Beat" is the CPU's order:
// larger value, ties toward the lower index. (The previous kernel, a warp
// per token picking the top_k in k rounds of warp reductions, took 21 us for
// one decode token on the H200: ncu, run of ea5d55a.) File named
// expert_routing, not moe_*: moe* files hold the grouped GEMM experts.
#include <cassert>
#include <climits>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/smem_optin.h"

namespace sable::cuda {
namespace {

constexpr int kThreads = 256;

// Does (av, a) beat (bv, b)? Larger value, ties toward the lower index.
__device__ __forceinline__ bool beats(float av, int a, float bv, int b) { return av > bv || (av == bv && a < b); }

__global__ void __launch_bounds__(kThreads)
    moe_route_kernel(const float* logits, const float* bias, int E, int G, int topk_group, int K, int S, bool norm,
                     float scaling, int expert_begin, int local_experts, int32_t* ids_out, float* w_out) {
  pdl_begin();
  extern __shared__ float smem[];
  float* s = smem;           // [E] sigmoid scores
  float* choice = s + E;     // [E] biased, then masked by the kept groups
  float* gscore = choice + E;  // [G]
  int* kept = reinterpret_cast<int*>(gscore + G);  // [G]
  int* sel_id = kept + G;                          // [K]
  float* sel_w = reinterpret_cast<float*>(sel_id + K);  // [K]
  const int64_t t = blockIdx.x;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nwarps = kThreads / 32;
  const float* lg = logits + t * E;
  for (int e = threadIdx.x; e < E; e += kThreads) {
    const float v = 1.f / (1.f + expf(-lg[e]));
    s[e] = v;
    // A NaN logit (an overflow upstream, a broken checkpoint) ranks last:
    // "beats" must stay a strict order so that the ranks below are distinct
    // and every id written is a real expert, which the experts kernel
    // indexes weights by.
    const float c = v + (bias ? bias[e] : 0.f);
    choice[e] = isnan(c) ? -INFINITY : c;
  }
  __syncthreads();
  // Group scores: the sum of the two largest choices (as a multiset), a
  // warp's top-2 reduction; one group per warp at a time.
  const int per_group = E / G;
  for (int g = warp; g < G; g += nwarps) {
    const float* c = choice + g * per_group;
    float m1 = -INFINITY, m2 = -INFINITY;
    for (int i = lane; i < per_group; i += 32) {
      const float v = c[i];
      if (v > m1) { m2 = m1; m1 = v; }
      else if (v > m2) m2 = v;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float o1 = __shfl_xor_sync(0xffffffffu, m1, o), o2 = __shfl_xor_sync(0xffffffffu, m2, o);
      const float hi = fmaxf(m1, o1), lo = fminf(m1, o1);
      m2 = fmaxf(lo, fmaxf(m2, o2));
      m1 = hi;
    }
    if (lane == 0) gscore[g] = per_group == 1 ? c[0] : m1 + m2;
  }
  __syncthreads();
  for (int g = threadIdx.x; g < G; g += kThreads) {
    int rank = 0;
    for (int o = 0; o < G; ++o) rank += beats(gscore[o], o, gscore[g], g);
    kept[g] = rank < topk_group;
  }
  __syncthreads();
  // Experts of dropped groups score -inf (still selectable, as on the CPU,
  // if top_k exceeds the kept experts).
  for (int e = threadIdx.x; e < E; e += kThreads)
    if (!kept[e / per_group]) choice[e] = -INFINITY;
  __syncthreads();
  for (int e = threadIdx.x; e < E; e += kThreads) {
    const float v = choice[e];
    // No early exit: the loop then carries no dependency through its exit
    // test and unrolls (shared-memory loads are broadcasts, one per value).
    int rank = 0;
#pragma unroll 8
    for (int o = 0; o < E; ++o) rank += beats(choice[o], o, v, e);
    if (rank < K) {
      sel_id[rank] = e;
      sel_w[rank] = s[e];
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float sum = 0.f;  // in k order, as the CPU
    for (int k = 0; k < K; ++k) sum += sel_w[k];
    const float denom = norm ? sum + 1e-20f : 1.f;
    int32_t* ids = ids_out + t * (K + S);
    float* w = w_out + t * (K + S);
    for (int k = 0; k < K; ++k) {
      // Expert parallelism: the rank's own ids, -1 for another rank's.
      const int local = sel_id[k] - expert_begin;
      ids[k] = local_experts == 0 ? sel_id[k] : local >= 0 && local < local_experts ? local : -1;
      w[k] = sel_w[k] / denom * scaling;
    }
    const int first_shared = local_experts > 0 ? local_experts : E;
    for (int j = 0; j < S; ++j) {
      ids[K + j] = first_shared + j;
      w[K + j] = 1.f;
    }
  }
}

}  // namespace

void moe_route(const Tensor& router_logits, const Tensor& bias, const MoeRoutingParams& p,
               Tensor& topk_ids, Tensor& topk_weights, cudaStream_t stream) {
  const int64_t T = router_logits.dim(0);
  const int E = p.num_experts, G = p.n_group, K = p.top_k, S = p.num_shared;
  if (router_logits.dtype() != DType::F32 || (bias.data() && bias.dtype() != DType::F32))
    throw std::runtime_error("CUDA moe_route: router logits and bias must be F32");
  if (router_logits.dim(1) != E || E % G != 0 || K < 1 || K > E || p.topk_group > G || S < 0 || p.local_experts < 0 ||
      p.expert_begin < 0 || p.expert_begin + p.local_experts > E || topk_ids.dim(1) != K + S ||
      topk_weights.dim(1) != K + S)
    throw std::runtime_error("CUDA moe_route: unsupported routing shape");
  if (T == 0) return;
  const size_t smem = size_t(2 * E + 2 * G + 2 * K) * sizeof(float);
  allow_dynamic_smem(moe_route_kernel, smem);
  launch_pdl(moe_route_kernel, unsigned(T), kThreads, smem, stream, router_logits.ptr<float>(),
             bias.data() ? bias.ptr<float>() : nullptr, E, G, p.topk_group, K, S, p.norm_topk_prob,
             p.routed_scaling_factor, p.expert_begin, p.local_experts, topk_ids.ptr<int32_t>(),
             topk_weights.ptr<float>());
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace sable::cuda
