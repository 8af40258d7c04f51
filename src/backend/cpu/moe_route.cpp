#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "backend/cpu/ops.h"

namespace sable::cpu {

// noaux_tc: s = sigmoid(logits); choice = s + bias; each group scores the
// sum of its top-2 choices; keep the best topk_group groups; pick top_k
// experts among them by choice; weights are the unbiased s of the picked,
// normalised if asked, times routed_scaling_factor. Ties break toward the
// lower index (deterministic; the fixtures have no exact ties). Shared
// experts fused as experts E.. take the last num_shared columns, weight 1.
// Under expert parallelism (p.local_experts > 0) ids are the rank's own, -1
// for another rank's expert, and the shared experts follow the rank's own.
void moe_route(const Tensor& router_logits, const Tensor& bias, const MoeRoutingParams& p,
               Tensor& topk_ids, Tensor& topk_weights) {
  const int64_t T = router_logits.dim(0);
  const int E = p.num_experts, G = p.n_group, per_group = E / G, K = p.top_k, KS = K + p.num_shared;
  assert(router_logits.dim(1) == E && E % G == 0 && topk_ids.dim(1) == KS && topk_weights.dim(1) == KS);
  const float* b = bias.data() ? bias.ptr<float>() : nullptr;
  std::vector<float> s(E), choice(E), group_score(G);
  std::vector<int> order(std::max(E, G));
  for (int64_t t = 0; t < T; ++t) {
    const float* logit = router_logits.ptr<float>() + t * E;
    for (int e = 0; e < E; ++e) {
      s[e] = 1.f / (1.f + std::exp(-logit[e]));
      const float c = s[e] + (b ? b[e] : 0.f);
      choice[e] = std::isnan(c) ? -std::numeric_limits<float>::infinity() : c;  // NaN ranks last, as on the GPU
    }
    for (int g = 0; g < G; ++g) {
      const float* c = choice.data() + g * per_group;
      if (per_group == 1) { group_score[g] = c[0]; continue; }
      float m1 = -std::numeric_limits<float>::infinity(), m2 = m1;
      for (int i = 0; i < per_group; ++i) {
        if (c[i] > m1) { m2 = m1; m1 = c[i]; }
        else if (c[i] > m2) m2 = c[i];
      }
      group_score[g] = m1 + m2;
    }
    std::iota(order.begin(), order.begin() + G, 0);
    std::stable_sort(order.begin(), order.begin() + G,
                     [&](int a, int c) { return group_score[a] > group_score[c]; });
    std::vector<char> keep(G, 0);
    for (int i = 0; i < p.topk_group; ++i) keep[order[i]] = 1;
    std::iota(order.begin(), order.begin() + E, 0);
    auto masked = [&](int e) {
      return keep[e / per_group] ? choice[e] : -std::numeric_limits<float>::infinity();
    };
    std::partial_sort(order.begin(), order.begin() + K, order.begin() + E, [&](int a, int c) {
      float ma = masked(a), mc = masked(c);
      return ma > mc || (ma == mc && a < c);
    });
    int32_t* ids = topk_ids.ptr<int32_t>() + t * KS;
    float* w = topk_weights.ptr<float>() + t * KS;
    float sum = 0;
    for (int k = 0; k < K; ++k) {
      ids[k] = order[k];
      w[k] = s[order[k]];
      sum += w[k];
    }
    float denom = p.norm_topk_prob ? sum + 1e-20f : 1.f;
    for (int k = 0; k < K; ++k) w[k] = w[k] / denom * p.routed_scaling_factor;
    if (p.local_experts > 0)  // expert parallelism: this rank's ids, -1 for the others'
      for (int k = 0; k < K; ++k) {
        const int local = ids[k] - p.expert_begin;
        ids[k] = local >= 0 && local < p.local_experts ? local : -1;
      }
    const int first_shared = p.local_experts > 0 ? p.local_experts : E;
    for (int j = 0; j < p.num_shared; ++j) {
      ids[K + j] = first_shared + j;
      w[K + j] = 1.f;
    }
  }
}

}  // namespace sable::cpu
