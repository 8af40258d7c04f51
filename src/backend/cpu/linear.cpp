#include <cassert>
#include <vector>

#include "backend/cpu/convert.h"
#include "backend/cpu/ops.h"
#include "core/thread_pool.h"

namespace sable::cpu {

// Weight rows are converted to float32 a row at a time into a per-thread
// buffer and used for every token, so each weight byte is read once per
// call whatever T is.
void linear(const Tensor& x, const LinearWeight& w, Tensor& out) {
  const int64_t T = x.dim(0), in = w.in_features(), n_out = w.out_features();
  assert(x.dim(1) == in && out.dim(0) == T && out.dim(1) == n_out);
  const size_t esz = dtype_size(w.weight.dtype());
  ThreadPool::global().parallel_for(n_out, 8, [&](int64_t b, int64_t e) {
    std::vector<float> row(static_cast<size_t>(in));
    for (int64_t o = b; o < e; ++o) {
      to_f32(w.weight.ptr<char>() + size_t(o * in) * esz, w.weight.dtype(), in, row.data());
      if (w.is_fp8()) {
        const float* sc = w.scale_inv.ptr<float>() + (o / w.block_out) * w.scale_inv.dim(1);
        for (int64_t i = 0; i < in; ++i) row[size_t(i)] *= sc[i / w.block_in];
      }
      for (int64_t t = 0; t < T; ++t) {
        const float* xt = x.ptr<float>() + t * in;
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t i = 0;
        for (; i + 8 <= in; i += 8)
          for (int k = 0; k < 8; ++k) acc[k] += xt[i + k] * row[size_t(i + k)];
        float s = 0;
        for (; i < in; ++i) s += xt[i] * row[size_t(i)];
        s += ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        out.ptr<float>()[t * n_out + o] = s;
      }
    }
  });
}

}  // namespace sable::cpu
