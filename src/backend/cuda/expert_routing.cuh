// The noaux_tc routing of one token by a whole block (expert_routing.cu's
// kernel, one block per token, and expert_gate.cu's fused gate, whose last
// block routes every token). The algorithm is described in expert_routing.cu.
#pragma once

#include <cmath>

#include "backend/backend.h"

namespace sable::cuda {

constexpr int kRouteThreads = 256;

struct RouteShape {
  int E = 0, G = 1, topk_group = 1, K = 0, S = 0;
  bool norm = true;
  float scaling = 1.f;
};

inline RouteShape route_shape(const MoeRoutingParams& p) {
  return RouteShape{p.num_experts, p.n_group, p.topk_group, p.top_k, p.num_shared, p.norm_topk_prob,
                    p.routed_scaling_factor};
}
// Dynamic shared memory route_token needs.
inline size_t route_smem_bytes(const RouteShape& r) { return size_t(2 * r.E + 2 * r.G + 2 * r.K) * sizeof(float); }

// Does (av, a) beat (bv, b)? Larger value, ties toward the lower index.
__device__ __forceinline__ bool route_beats(float av, int a, float bv, int b) {
  return av > bv || (av == bv && a < b);
}

// Routes the token of logits lg [E] (F32; read through L2, so another block
// of the same grid may have written them) into ids [K + S] and w [K + S].
// All kRouteThreads threads call it; it ends with a barrier, so a caller may
// route the next token with the same smem at once.
__device__ __forceinline__ void route_token(const float* lg, const float* bias, const RouteShape& r, float* smem,
                                            int32_t* ids, float* w) {
  const int E = r.E, G = r.G, K = r.K;
  float* s = smem;                                      // [E] sigmoid scores
  float* choice = s + E;                                // [E] biased, then masked by the kept groups
  float* gscore = choice + E;                           // [G]
  int* kept = reinterpret_cast<int*>(gscore + G);       // [G]
  int* sel_id = kept + G;                               // [K]
  float* sel_w = reinterpret_cast<float*>(sel_id + K);  // [K]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nwarps = kRouteThreads / 32;
  for (int e = threadIdx.x; e < E; e += kRouteThreads) {
    const float v = 1.f / (1.f + expf(-__ldcg(lg + e)));
    s[e] = v;
    choice[e] = v + (bias ? bias[e] : 0.f);
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
      if (v > m1) {
        m2 = m1;
        m1 = v;
      } else if (v > m2) {
        m2 = v;
      }
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
  for (int g = threadIdx.x; g < G; g += kRouteThreads) {
    int rank = 0;
    for (int o = 0; o < G; ++o) rank += route_beats(gscore[o], o, gscore[g], g);
    kept[g] = rank < r.topk_group;
  }
  __syncthreads();
  // Experts of dropped groups score -inf (still selectable, as on the CPU,
  // if top_k exceeds the kept experts).
  for (int e = threadIdx.x; e < E; e += kRouteThreads)
    if (!kept[e / per_group]) choice[e] = -INFINITY;
  __syncthreads();
  for (int e = threadIdx.x; e < E; e += kRouteThreads) {
    const float v = choice[e];
    // No early exit: the loop then carries no dependency through its exit
    // test and unrolls (shared-memory loads are broadcasts, one per value).
    int rank = 0;
#pragma unroll 8
    for (int o = 0; o < E; ++o) rank += route_beats(choice[o], o, v, e);
    if (rank < K) {
      sel_id[rank] = e;
      sel_w[rank] = s[e];
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float sum = 0.f;  // in k order, as the CPU
    for (int k = 0; k < K; ++k) sum += sel_w[k];
    const float denom = r.norm ? sum + 1e-20f : 1.f;
    for (int k = 0; k < K; ++k) {
      ids[k] = sel_id[k];
      w[k] = sel_w[k] / denom * r.scaling;
    }
    for (int j = 0; j < r.S; ++j) {
      ids[K + j] = E + j;
      w[K + j] = 1.f;
    }
  }
  __syncthreads();
}

}  // namespace sable::cuda
