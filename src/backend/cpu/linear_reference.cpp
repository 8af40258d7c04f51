#include <cassert>
#include <vector>

#include "backend/cpu/convert.h"
#include "backend/cpu/ops.h"
#include "core/thread_pool.h"

namespace sable::cpu {

// Dequantises one weight row to float32: W[o, :] (times its block scales
// for FP8). The ground truth for the fast kernels.
static void weight_row_f32(const LinearWeight& w, int64_t o, float* dst) {
  const int64_t in = w.in_features();
  const char* row = w.weight.ptr<char>() + size_t(o * in) * dtype_size(w.weight.dtype());
  to_f32(row, w.weight.dtype(), in, dst);
  if (w.is_fp8()) {
    const int64_t scale_cols = w.scale_inv.dim(1);
    const float* sc = w.scale_inv.ptr<float>() + (o / w.block_out) * scale_cols;
    for (int64_t i = 0; i < in; ++i) dst[i] *= sc[i / w.block_in];
  }
}

void linear_reference(const Tensor& x, const LinearWeight& w, Tensor& out) {
  const int64_t T = x.dim(0), in = w.in_features(), n_out = w.out_features();
  assert(x.dim(1) == in && out.dim(0) == T && out.dim(1) == n_out);
  assert(x.dtype() == DType::F32 && out.dtype() == DType::F32);
  ThreadPool::global().parallel_for(n_out, 16, [&](int64_t b, int64_t e) {
    std::vector<float> row(static_cast<size_t>(in));
    for (int64_t o = b; o < e; ++o) {
      weight_row_f32(w, o, row.data());
      for (int64_t t = 0; t < T; ++t) {
        const float* xt = x.ptr<float>() + t * in;
        double acc = 0;
        for (int64_t i = 0; i < in; ++i) acc += double(xt[i]) * row[size_t(i)];
        out.ptr<float>()[t * n_out + o] = float(acc);
      }
    }
  });
}

}  // namespace sable::cpu
