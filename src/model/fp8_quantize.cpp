#include "model/fp8_quantize.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <vector>

#include "backend/cpu/convert.h"
#include "core/thread_pool.h"

namespace sable {

namespace {

// max |x[i]| over n values, NaN counting as 0 (as std::max(amax, NaN) keeps
// amax). On the bits: for non-negative floats their order is the integers'
// order, and integer max vectorizes where a float max reduction does not
// (it may not reorder NaN tests without -ffast-math).
float amax_of(const float* __restrict x, int64_t n) {
  uint32_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t a = std::bit_cast<uint32_t>(x[i]) & 0x7fffffffu;
    const uint32_t keep = 0u - uint32_t(a <= 0x7f800000u);  // all ones unless NaN
    m = std::max(m, a & keep);
  }
  return std::bit_cast<float>(m);
}

// out[i] = e4m3(x[i] / scale): the division as the definition has it (a
// reciprocal multiply rounds differently). Separate restrict pointers: a
// byte store in the caller's loop may alias anything, which kept it scalar.
void quantize_row(const float* __restrict x, int64_t n, float scale, uint8_t* __restrict out) {
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_fp8_e4m3(x[i] / scale);
}

}  // namespace

LinearWeight quantize_fp8_blocks(const LinearWeight& w, int block_out, int block_in) {
  const int64_t n_out = w.out_features(), n_in = w.in_features();
  const int64_t bo_n = (n_out + block_out - 1) / block_out, bi_n = (n_in + block_in - 1) / block_in;
  LinearWeight q;
  q.weight = Tensor::empty(DType::F8_E4M3, {n_out, n_in});
  q.scale_inv = Tensor::empty(DType::F32, {bo_n, bi_n});
  q.block_out = block_out;
  q.block_in = block_in;
  const size_t esz = dtype_size(w.weight.dtype());
  const char* const src = w.weight.ptr<char>();
  uint8_t* const qw = q.weight.ptr<uint8_t>();
  float* const qs = q.scale_inv.ptr<float>();
  // One block row (block_out weight rows) per task.
  ThreadPool::global().parallel_for(bo_n, 1, [&](int64_t b, int64_t e) {
    std::vector<float> rows;  // the block row in f32, [r1 - r0, n_in]
    for (int64_t br = b; br < e; ++br) {
      const int64_t r0 = br * block_out, r1 = std::min(n_out, r0 + block_out);
      rows.resize(size_t((r1 - r0) * n_in));
      cpu::to_f32(src + size_t(r0 * n_in) * esz, w.weight.dtype(), (r1 - r0) * n_in, rows.data());
      for (int64_t bc = 0; bc < bi_n; ++bc) {
        const int64_t c0 = bc * block_in, c1 = std::min(n_in, c0 + block_in);
        float amax = 0;
        for (int64_t r = r0; r < r1; ++r) amax = std::max(amax, amax_of(rows.data() + (r - r0) * n_in + c0, c1 - c0));
        const float scale = amax > 0 ? amax / 448.f : 1.f;
        qs[br * bi_n + bc] = scale;
        for (int64_t r = r0; r < r1; ++r)
          quantize_row(rows.data() + (r - r0) * n_in + c0, c1 - c0, scale, qw + r * n_in + c0);
      }
    }
  });
  return q;
}

}  // namespace sable
