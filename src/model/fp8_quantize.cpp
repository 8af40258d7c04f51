#include "model/fp8_quantize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/convert.h"
#include "core/thread_pool.h"

namespace sable {

LinearWeight quantize_fp8_blocks(const LinearWeight& w, int block_out, int block_in) {
  const int64_t n_out = w.out_features(), n_in = w.in_features();
  const int64_t bo_n = (n_out + block_out - 1) / block_out, bi_n = (n_in + block_in - 1) / block_in;
  LinearWeight q;
  q.weight = Tensor::empty(DType::F8_E4M3, {n_out, n_in});
  q.scale_inv = Tensor::empty(DType::F32, {bo_n, bi_n});
  q.block_out = block_out;
  q.block_in = block_in;
  const size_t esz = dtype_size(w.weight.dtype());
  // One block row (block_out weight rows) per task.
  ThreadPool::global().parallel_for(bo_n, 1, [&](int64_t b, int64_t e) {
    std::vector<float> rows;
    for (int64_t br = b; br < e; ++br) {
      const int64_t r0 = br * block_out, r1 = std::min(n_out, r0 + block_out);
      rows.resize(size_t((r1 - r0) * n_in));
      cpu::to_f32(w.weight.ptr<char>() + size_t(r0 * n_in) * esz, w.weight.dtype(), (r1 - r0) * n_in, rows.data());
      for (int64_t bc = 0; bc < bi_n; ++bc) {
        const int64_t c0 = bc * block_in, c1 = std::min(n_in, c0 + block_in);
        float amax = 0;
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(rows[size_t((r - r0) * n_in + c)]));
        const float scale = amax > 0 ? amax / 448.f : 1.f;
        q.scale_inv.ptr<float>()[br * bi_n + bc] = scale;
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c)
            q.weight.ptr<uint8_t>()[r * n_in + c] = f32_to_fp8_e4m3(rows[size_t((r - r0) * n_in + c)] / scale);
      }
    }
  });
  return q;
}

}  // namespace sable
