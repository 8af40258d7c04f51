#include "backend/cpu/gemm_parallel.h"

#include <algorithm>
#include <atomic>
#include <cassert>

#include "core/thread_pool.h"

namespace sable::cpu {

GemmNT nt_weight(const LinearWeight& w) {
  GemmNT a;
  a.w = w.weight.data();
  a.wdt = w.weight.dtype();
  a.ldw = w.in_features();
  a.in = w.in_features();
  if (w.is_fp8()) {
    a.scale = w.scale_inv.ptr<float>();
    a.ld_scale = w.scale_inv.dim(1);
    a.block_out = w.block_out;
    a.block_in = w.block_in;
  }
  return a;
}

int64_t nt_rows_per_item(const GemmNT& a, int64_t n_out, int64_t T) {
  const GemmKernels& k = gemm_kernels();
  const int64_t threads = ThreadPool::global().size();
  if (T <= k.direct_max_tokens) {
    // Streaming: a few items per thread, each a run of contiguous rows (a
    // multiple of every ISA's row tile) so the hardware prefetcher sees
    // long streams.
    const int64_t per = (n_out + 4 * threads - 1) / (4 * threads);
    return std::max<int64_t>(16, (per + 15) / 16 * 16);
  }
  const int64_t in_pad = (a.in + 15) / 16 * 16, r = k.row_block;
  return std::max<int64_t>(r, kPanelBytes / 4 / in_pad / r * r);
}

void nt_parallel(const GemmNT& a, int64_t n_out, int64_t T) {
  if (n_out <= 0 || T <= 0) return;
  const GemmKernels& k = gemm_kernels();
  const int64_t threads = ThreadPool::global().size();
  const int64_t rows = nt_rows_per_item(a, n_out, T);
  const int64_t row_items = (n_out + rows - 1) / rows;
  // Few panels and many tokens: also split the tokens, so that every
  // thread has work (each token range converts the panel again).
  int64_t tok_items = 1;
  if (T > k.direct_max_tokens && row_items < 4 * threads)
    tok_items = std::min<int64_t>((4 * threads + row_items - 1) / row_items, std::max<int64_t>(1, T / 16));
  const int64_t tok = (T + tok_items - 1) / tok_items;
  const int64_t scratch = nt_scratch_floats(a.in);
  parallel_items(row_items * tok_items, [&](int64_t i) {
    const int64_t r0 = (i / tok_items) * rows, t0 = (i % tok_items) * tok;
    k.nt(a, r0, std::min(n_out, r0 + rows), t0, std::min(T, t0 + tok), thread_scratch(scratch));
  });
}

void parallel_items(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  ThreadPool& pool = ThreadPool::global();
  if (n == 1 || pool.size() == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<int64_t> next{0};
  pool.run_on_all([&](int) {
    for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) fn(i);
  });
}

}  // namespace sable::cpu
