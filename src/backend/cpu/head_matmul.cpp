#include <cassert>
#include <algorithm>
#include <vector>

#include "backend/cpu/convert.h"
#include "backend/cpu/ops.h"
#include "core/thread_pool.h"

namespace sable::cpu {

namespace {
// out[t, :N] = x[t, :K] @ W (W [K, N]) or x @ W^T (W [N, K]) for one head,
// with W converted to float32 once for all tokens.
void head_matmul_one(const float* x, int64_t x_stride, int64_t T, const float* W, int64_t K,
                     int64_t N, bool transposed, float* out, int64_t out_stride) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * x_stride;
    float* ot = out + t * out_stride;
    if (transposed) {
      for (int64_t n = 0; n < N; ++n) {
        const float* wr = W + n * K;
        float acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += xt[k] * wr[k];
        ot[n] = acc;
      }
    } else {
      for (int64_t n = 0; n < N; ++n) ot[n] = 0;
      for (int64_t k = 0; k < K; ++k) {
        const float xv = xt[k];
        const float* wr = W + k * N;
        for (int64_t n = 0; n < N; ++n) ot[n] += xv * wr[n];
      }
    }
  }
}

std::vector<float> head_weight_f32(const Tensor& w, int64_t h) {
  const int64_t per_head = w.dim(1) * w.dim(2);
  std::vector<float> W(static_cast<size_t>(per_head));
  to_f32(w.ptr<char>() + size_t(h * per_head) * dtype_size(w.dtype()), w.dtype(), per_head, W.data());
  return W;
}
}  // namespace

void head_matmul(const Tensor& x, const Tensor& w, bool transposed, Tensor& out) {
  const int64_t T = x.dim(0), heads = x.dim(1), K = x.dim(2), N = out.dim(2);
  assert(w.dim(0) == heads && (transposed ? w.dim(2) == K && w.dim(1) == N : w.dim(1) == K && w.dim(2) == N));
  ThreadPool::global().parallel_for(heads, 1, [&](int64_t b, int64_t e) {
    for (int64_t h = b; h < e; ++h) {
      std::vector<float> W = head_weight_f32(w, h);
      head_matmul_one(x.ptr<float>() + h * K, heads * K, T, W.data(), K, N, transposed,
                      out.ptr<float>() + h * N, heads * N);
    }
  });
}

void mla_absorb_q(const Tensor& q, const Tensor& w_uk, Tensor& q_latent) {
  const int64_t T = q.dim(0), heads = q.dim(1), qk = q.dim(2);
  const int64_t nope = w_uk.dim(1), kv_lora = w_uk.dim(2), rope = qk - nope;
  const int64_t L = q_latent.dim(2);
  assert(L == kv_lora + rope && w_uk.dim(0) == heads);
  ThreadPool::global().parallel_for(heads, 1, [&](int64_t b, int64_t e) {
    for (int64_t h = b; h < e; ++h) {
      std::vector<float> W = head_weight_f32(w_uk, h);  // [nope, kv_lora]
      head_matmul_one(q.ptr<float>() + h * qk, heads * qk, T, W.data(), nope, kv_lora, false,
                      q_latent.ptr<float>() + h * L, heads * L);
      for (int64_t t = 0; t < T; ++t)
        std::copy_n(q.ptr<float>() + (t * heads + h) * qk + nope, rope,
                    q_latent.ptr<float>() + (t * heads + h) * L + kv_lora);
    }
  });
}

}  // namespace sable::cpu
