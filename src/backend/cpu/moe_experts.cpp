#include <cassert>
#include <algorithm>
#include <vector>

#include "backend/cpu/ops.h"

namespace sable::cpu {

// Tokens are grouped by expert so that each expert's weights are read once
// per call (the CPU analogue of the grouped GEMM over permuted tokens).
void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights,
                 const MoeExperts& w, Tensor& out) {
  const int64_t T = x.dim(0), H = x.dim(1), K = topk_ids.dim(1);
  const int E = w.num_experts();
  assert(out.dim(0) == T && out.dim(1) == H);
  std::vector<std::vector<std::pair<int32_t, float>>> assigned(static_cast<size_t>(E));  // (token, weight)
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k) {
      int32_t e = topk_ids.ptr<int32_t>()[t * K + k];
      assert(e >= 0 && e < E);
      assigned[size_t(e)].push_back({int32_t(t), topk_weights.ptr<float>()[t * K + k]});
    }
  float* o = out.ptr<float>();
  std::fill(o, o + T * H, 0.f);
  for (int e = 0; e < E; ++e) {
    const auto& tok = assigned[size_t(e)];
    if (tok.empty()) continue;
    const int64_t n = static_cast<int64_t>(tok.size());
    const int64_t I = w.gate[size_t(e)].out_features();
    Tensor xe = Tensor::empty(DType::F32, {n, H});
    for (int64_t i = 0; i < n; ++i)
      std::copy_n(x.ptr<float>() + tok[size_t(i)].first * H, H, xe.ptr<float>() + i * H);
    Tensor g = Tensor::empty(DType::F32, {n, I}), u = Tensor::empty(DType::F32, {n, I});
    linear(xe, w.gate[size_t(e)], g);
    linear(xe, w.up[size_t(e)], u);
    silu_and_mul(g, u, g);
    Tensor y = Tensor::empty(DType::F32, {n, H});
    linear(g, w.down[size_t(e)], y);
    for (int64_t i = 0; i < n; ++i) {
      float* dst = o + tok[size_t(i)].first * H;
      const float* src = y.ptr<float>() + i * H;
      const float wt = tok[size_t(i)].second;
      for (int64_t j = 0; j < H; ++j) dst[j] += wt * src[j];
    }
  }
}

}  // namespace sable::cpu
