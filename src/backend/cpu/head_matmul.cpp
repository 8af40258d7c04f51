#include <algorithm>
#include <cassert>

#include "backend/cpu/gemm_parallel.h"
#include "backend/cpu/ops.h"
#include "core/thread_pool.h"

namespace sable::cpu {

namespace {
// Work items: (head, token range). Token ranges only when tokens are many,
// so that a decode step still splits by head; results do not depend on the
// split (gemm.h).
constexpr int64_t kTokensPerItem = 64;
}  // namespace

// Per head, out[t, h] = x[t, h] @ W[h]^T is the nt kernel over W[h] [N, K]
// (rows N) and x @ W[h] the nn kernel over W[h] [K, N]; W stays in its
// stored dtype.
void head_matmul(const Tensor& x, const Tensor& w, bool transposed, Tensor& out) {
  const int64_t T = x.dim(0), heads = x.dim(1), K = x.dim(2), N = out.dim(2);
  assert(w.dim(0) == heads && (transposed ? w.dim(2) == K && w.dim(1) == N : w.dim(1) == K && w.dim(2) == N));
  const GemmKernels& k = gemm_kernels();
  const int64_t chunks = (T + kTokensPerItem - 1) / kTokensPerItem;
  const size_t head_bytes = size_t(K * N) * dtype_size(w.dtype());
  const int64_t scratch = nt_scratch_floats(K);
  parallel_items(heads * chunks, [&](int64_t item) {
    const int64_t h = item / chunks, t0 = (item % chunks) * kTokensPerItem, t1 = std::min(T, t0 + kTokensPerItem);
    const void* wh = w.ptr<char>() + size_t(h) * head_bytes;
    if (transposed) {
      GemmNT a;
      a.x = x.ptr<float>() + h * K;
      a.ldx = heads * K;
      a.y = out.ptr<float>() + h * N;
      a.ldy = heads * N;
      a.w = wh;
      a.wdt = w.dtype();
      a.ldw = K;
      a.in = K;
      k.nt(a, 0, N, t0, t1, thread_scratch(scratch));
    } else {
      GemmNN a{x.ptr<float>() + h * K, heads * K, out.ptr<float>() + h * N, heads * N, wh, w.dtype(), N, K, false};
      k.nn(a, 0, N, t0, t1);
    }
  });
}

// q_latent[t, h] = [q_nope[t, h] @ W_UK[h] | q_rope[t, h]]: the nn kernel per
// head (W_UK[h] [nope, kv_lora]); q_rope rotated here when asked.
void mla_absorb_q(const Tensor& q, const Tensor& w_uk, Tensor& q_latent, const Tensor* rope_positions,
                  const RopeParams* rope_params) {
  const int64_t T = q.dim(0), heads = q.dim(1), qk = q.dim(2);
  const int64_t nope = w_uk.dim(1), kv_lora = w_uk.dim(2), rope = qk - nope;
  const int64_t L = q_latent.dim(2);
  assert(L == kv_lora + rope && w_uk.dim(0) == heads);
  assert((rope_positions == nullptr) == (rope_params == nullptr));
  const GemmKernels& k = gemm_kernels();
  const int64_t chunks = (T + kTokensPerItem - 1) / kTokensPerItem;
  const size_t head_bytes = size_t(nope * kv_lora) * dtype_size(w_uk.dtype());
  parallel_items(heads * chunks, [&](int64_t item) {
    const int64_t h = item / chunks, t0 = (item % chunks) * kTokensPerItem, t1 = std::min(T, t0 + kTokensPerItem);
    GemmNN a{q.ptr<float>() + h * qk, heads * qk, q_latent.ptr<float>() + h * L, heads * L,
             w_uk.ptr<char>() + size_t(h) * head_bytes, w_uk.dtype(), kv_lora, nope, false};
    k.nn(a, 0, kv_lora, t0, t1);
    for (int64_t t = t0; t < t1; ++t) {
      float* tail = q_latent.ptr<float>() + (t * heads + h) * L + kv_lora;
      std::copy_n(q.ptr<float>() + (t * heads + h) * qk + nope, rope, tail);
      if (rope_params) rope_vector(tail, int(rope), rope_positions->ptr<int32_t>()[t], *rope_params);
    }
  });
}

}  // namespace sable::cpu
