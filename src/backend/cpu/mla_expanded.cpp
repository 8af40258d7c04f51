// MLA prefill in the expanded form on the CPU: the latent gather and causal
// attention over up-projected keys (backend.h has the contract). This is the
// reference the CUDA kernels are tested against, so it is plain: float32
// throughout, keys in position order, the softmax of each (row, head) taken
// over the chunk with its maximum subtracted and merged into an earlier
// chunk's (out, lse) with the usual log-sum-exp rescaling.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <vector>

#include "backend/cpu/convert.h"
#include "backend/cpu/gemm_parallel.h"
#include "backend/cpu/ops.h"

namespace sable::cpu {
namespace {

// The tensor as float32: itself when it already is, else a converted copy.
Tensor as_f32(const Tensor& t) {
  if (t.dtype() == DType::F32) return t;
  Tensor f = Tensor::empty(DType::F32, t.shape());
  to_f32(t.data(), t.dtype(), t.numel(), f.ptr<float>());
  return f;
}

}  // namespace

void mla_read_kv(const Tensor& cache, const Tensor& slots, Tensor& c_kv, Tensor& k_pe) {
  const int64_t n = slots.numel(), kv_lora = c_kv.dim(1), rope = k_pe.dim(1), L = cache.dim(2);
  assert(kv_lora + rope == L && c_kv.dim(0) == n && k_pe.dim(0) == n);
  const int64_t num_slots = cache.dim(0) * cache.dim(1);
  const size_t esz = dtype_size(cache.dtype());
  const int32_t* s = slots.ptr<int32_t>();
  std::vector<float> row(static_cast<size_t>(L));
  for (int64_t j = 0; j < n; ++j) {
    assert(s[j] >= 0 && s[j] < num_slots);
    (void)num_slots;
    to_f32(cache.ptr<char>() + size_t(s[j]) * size_t(L) * esz, cache.dtype(), L, row.data());
    from_f32(row.data(), c_kv.dtype(), kv_lora, c_kv.ptr<char>() + size_t(j * kv_lora) * dtype_size(c_kv.dtype()));
    from_f32(row.data() + kv_lora, k_pe.dtype(), rope, k_pe.ptr<char>() + size_t(j * rope) * dtype_size(k_pe.dtype()));
  }
}

void mla_attention_expanded(const Tensor& q_in, const Tensor& kv_in, const Tensor& k_pe_in, int q_pos0, int k_pos0,
                            float softmax_scale, bool accumulate, Tensor& out, Tensor& lse) {
  const int64_t Tq = q_in.dim(0), heads = q_in.dim(1), qk = q_in.dim(2);
  const int64_t n = kv_in.dim(0), rope = k_pe_in.dim(1), v = out.dim(2);
  const int64_t nope = qk - rope;
  assert(kv_in.dim(1) == heads && kv_in.dim(2) == nope + v && k_pe_in.dim(0) == n);
  assert(out.dim(0) == Tq && out.dim(1) == heads && lse.dtype() == DType::F32);
  const Tensor q = as_f32(q_in), kv = as_f32(kv_in), k_pe = as_f32(k_pe_in);
  const bool out_f32 = out.dtype() == DType::F32;
  const size_t out_esz = dtype_size(out.dtype());

  // out[i, h] = sum_j softmax_j(scale * q[i, h] . [k_nope[j, h] | k_pe[j]]) v[j, h]
  // over the keys j with k_pos0 + j <= q_pos0 + i.
  parallel_items(Tq * heads, [&](int64_t item) {
    const int64_t i = item / heads, h = item % heads;
    const int64_t visible = std::min<int64_t>(n, int64_t(q_pos0) + i - k_pos0 + 1);  // keys [0, visible)
    float* lse_row = lse.ptr<float>() + item;
    char* out_row = out.ptr<char>() + size_t(item * v) * out_esz;
    if (visible <= 0) {  // no key of this chunk is visible to the row
      if (!accumulate) {
        *lse_row = -INFINITY;
        std::vector<float> zero(static_cast<size_t>(v), 0.f);
        from_f32(zero.data(), out.dtype(), v, out_row);
      }
      return;
    }
    thread_local std::vector<float> scores, acc, old;
    scores.resize(size_t(visible));
    acc.assign(size_t(v), 0.f);
    const float* qi = q.ptr<float>() + item * qk;
    float mx = -INFINITY;
    for (int64_t j = 0; j < visible; ++j) {
      const float* kn = kv.ptr<float>() + (j * heads + h) * (nope + v);
      const float* kp = k_pe.ptr<float>() + j * rope;
      float d = 0;
      for (int64_t c = 0; c < nope; ++c) d += qi[c] * kn[c];
      for (int64_t c = 0; c < rope; ++c) d += qi[nope + c] * kp[c];
      scores[size_t(j)] = d * softmax_scale;
      mx = std::max(mx, scores[size_t(j)]);
    }
    float sum = 0;
    for (int64_t j = 0; j < visible; ++j) {
      const float p = std::exp(scores[size_t(j)] - mx);
      sum += p;
      const float* vj = kv.ptr<float>() + (j * heads + h) * (nope + v) + nope;
      for (int64_t c = 0; c < v; ++c) acc[size_t(c)] += p * vj[c];
    }
    float cur_lse = mx + std::log(sum);
    float w_cur = 1.f / sum, w_old = 0.f;
    if (accumulate && *lse_row > -INFINITY) {
      // Merge with the earlier chunks: both partial results renormalised to
      // the combined sum.
      const float m = std::max(*lse_row, cur_lse);
      const float a = std::exp(*lse_row - m), b = std::exp(cur_lse - m);
      w_old = a / (a + b);
      w_cur *= b / (a + b);
      cur_lse = m + std::log(a + b);
      old.resize(size_t(v));
      if (out_f32) std::copy_n(reinterpret_cast<float*>(out_row), v, old.data());
      else to_f32(out_row, out.dtype(), v, old.data());
    }
    for (int64_t c = 0; c < v; ++c) acc[size_t(c)] = acc[size_t(c)] * w_cur + (w_old > 0 ? w_old * old[size_t(c)] : 0.f);
    from_f32(acc.data(), out.dtype(), v, out_row);
    *lse_row = cur_lse;
  });
}

}  // namespace sable::cpu
