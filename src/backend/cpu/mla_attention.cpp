#include <algorithm>
#include <cassert>
#include <cmath>
#include <vector>

#include "backend/cpu/gemm_parallel.h"
#include "backend/cpu/ops.h"
#include "core/thread_pool.h"

namespace sable::cpu {

// Absorbed MLA over the paged latent cache. The keys are shared by all heads
// (MQA in the latent space), so a work item takes one query token and a
// group of heads and reads each cache block once for the whole group:
//   scores[h, j] = q[t, h] . latent[j]       nt kernel, per cache block
//   p = softmax(scores * scale)               float32, max subtracted
//   out[t, h]    = sum_j p[h, j] latent[j, :v_dim]   nn kernel, blocks in order
// Every (token, head) result follows the kernels' fixed recipes over keys in
// position order, so it depends neither on the other tokens of the batch nor
// on how heads are grouped (groups are smaller when tokens are few, to give
// every thread work in decode).
void mla_attention(const Tensor& q, const Tensor& cache, const AttentionMetadata& m, float softmax_scale,
                   int v_dim, Tensor& out) {
  const int64_t T = q.dim(0), heads = q.dim(1), L = q.dim(2);
  const int64_t block_size = cache.dim(1);
  assert(cache.dim(2) == L && out.dim(2) == v_dim && v_dim <= L);
  assert(cache.dtype() == DType::F32 || cache.dtype() == DType::BF16 || cache.dtype() == DType::F16);
  const int32_t* pos = m.positions.ptr<int32_t>();
  const int32_t* tseq = m.token_seq.ptr<int32_t>();
  const int32_t* tables = m.block_tables.ptr<int32_t>();
  const size_t esz = dtype_size(cache.dtype());
  const char* base = cache.ptr<char>();
  const GemmKernels& k = gemm_kernels();

  const int64_t threads = ThreadPool::global().size();
  const int64_t group = T >= 2 * threads ? heads : std::max<int64_t>(1, heads / (2 * threads));
  const int64_t groups = (heads + group - 1) / group;
  const int64_t scratch_floats = nt_scratch_floats(L);

  parallel_items(T * groups, [&](int64_t item) {
    const int64_t t = item / groups, h0 = (item % groups) * group, G = std::min(heads, h0 + group) - h0;
    const int64_t n = int64_t(pos[t]) + 1;  // causal: keys 0..pos
    const int64_t ld = (n + 15) / 16 * 16;
    thread_local std::vector<float> scores;
    if (scores.size() < size_t(G * ld)) scores.resize(size_t(G * ld));
    float* sc = scores.data();
    float* scratch = thread_scratch(scratch_floats);
    const int32_t* table = tables + int64_t(tseq[t]) * m.max_blocks;
    const float* qt = q.ptr<float>() + (t * heads + h0) * L;

    GemmNT a;
    a.x = qt;
    a.ldx = L;
    a.ldy = ld;
    a.wdt = cache.dtype();
    a.ldw = L;
    a.in = L;
    for (int64_t j0 = 0; j0 < n; j0 += block_size) {
      const int64_t nb = std::min(block_size, n - j0);
      a.w = base + size_t(int64_t(table[j0 / block_size]) * block_size * L) * esz;
      a.y = sc + j0;
      k.nt(a, 0, nb, 0, G, scratch);  // [G heads, nb keys]
    }
    for (int64_t h = 0; h < G; ++h) {
      float* s = sc + h * ld;
      float mx = -INFINITY;
      for (int64_t j = 0; j < n; ++j) {
        s[j] *= softmax_scale;
        mx = std::max(mx, s[j]);
      }
      float sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        s[j] = std::exp(s[j] - mx);
        sum += s[j];
      }
      const float inv = 1.f / sum;
      for (int64_t j = 0; j < n; ++j) s[j] *= inv;
    }
    GemmNN b;
    b.ldx = ld;
    b.y = out.ptr<float>() + (t * heads + h0) * v_dim;
    b.ldy = v_dim;
    b.wdt = cache.dtype();
    b.ldw = L;
    for (int64_t j0 = 0; j0 < n; j0 += block_size) {
      b.x = sc + j0;
      b.w = base + size_t(int64_t(table[j0 / block_size]) * block_size * L) * esz;
      b.K = std::min(block_size, n - j0);
      b.accumulate = j0 > 0;
      k.nn(b, 0, v_dim, 0, G);  // [G heads, v_dim] += p[:, block] @ latent[block, :v_dim]
    }
  });
}

}  // namespace sable::cpu
