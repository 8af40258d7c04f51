#include <algorithm>
#include <cassert>
#include <cmath>
#include <vector>

#include "backend/cpu/convert.h"
#include "backend/cpu/ops.h"
#include "core/thread_pool.h"

namespace sable::cpu {

// One query token at a time, all heads together: the keys are shared by all
// heads (MQA in the latent space), so each latent row is read once per token
// and scored against every head. Softmax in float32 with the max subtracted,
// as the reference.
void mla_attention(const Tensor& q, const Tensor& cache, const AttentionMetadata& m,
                   float softmax_scale, int v_dim, Tensor& out) {
  const int64_t T = q.dim(0), heads = q.dim(1), L = q.dim(2);
  const int64_t block_size = cache.dim(1);
  assert(cache.dim(2) == L && out.dim(2) == v_dim);
  const int32_t* pos = m.positions.ptr<int32_t>();
  const int32_t* tseq = m.token_seq.ptr<int32_t>();
  const int32_t* tables = m.block_tables.ptr<int32_t>();
  const DType cdt = cache.dtype();
  const size_t row_bytes = size_t(L) * dtype_size(cdt);

  ThreadPool::global().parallel_for(T, 1, [&](int64_t b, int64_t e) {
    std::vector<float> scores, keys, acc(size_t(heads * v_dim));
    for (int64_t t = b; t < e; ++t) {
      const int64_t n = int64_t(pos[t]) + 1;  // causal: keys 0..pos
      const int32_t* table = tables + int64_t(tseq[t]) * m.max_blocks;
      // Gather this token's keys in position order: [n, L].
      keys.resize(size_t(n * L));
      for (int64_t j = 0; j < n; ++j) {
        int64_t slot = int64_t(table[j / block_size]) * block_size + j % block_size;
        to_f32(cache.ptr<char>() + size_t(slot) * row_bytes, cdt, L, keys.data() + j * L);
      }
      scores.resize(size_t(heads * n));
      for (int64_t h = 0; h < heads; ++h) {
        const float* qh = q.ptr<float>() + (t * heads + h) * L;
        float* sc = scores.data() + h * n;
        float mx = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
          const float* k = keys.data() + j * L;
          float s = 0;
          for (int64_t i = 0; i < L; ++i) s += qh[i] * k[i];
          sc[j] = s * softmax_scale;
          mx = std::max(mx, sc[j]);
        }
        float sum = 0;
        for (int64_t j = 0; j < n; ++j) { sc[j] = std::exp(sc[j] - mx); sum += sc[j]; }
        const float inv = 1.f / sum;
        float* o = out.ptr<float>() + (t * heads + h) * v_dim;
        std::fill(o, o + v_dim, 0.f);
        for (int64_t j = 0; j < n; ++j) {
          const float p = sc[j] * inv;
          const float* v = keys.data() + j * L;
          for (int64_t i = 0; i < v_dim; ++i) o[i] += p * v[i];
        }
      }
    }
  });
}

}  // namespace sable::cpu
