#include <algorithm>
#include <cassert>

#include "backend/cpu/convert.h"
#include "backend/cpu/ops.h"

namespace sable::cpu {

void embedding(const Tensor& ids, const Tensor& table, int64_t row_begin, Tensor& out) {
  const int64_t T = ids.dim(0), H = table.dim(1), V = table.dim(0);
  assert(out.dim(0) == T && out.dim(1) == H && out.dtype() == DType::F32);
  const int32_t* id = ids.ptr<int32_t>();
  const size_t row_bytes = size_t(H) * dtype_size(table.dtype());
  for (int64_t t = 0; t < T; ++t) {
    // Ids are validated against the vocabulary before they reach the model.
    assert(id[t] >= 0);
    const int64_t row = id[t] - row_begin;
    float* o = out.ptr<float>() + t * H;
    if (row < 0 || row >= V)  // another tensor-parallel rank's row
      std::fill(o, o + H, 0.f);
    else
      to_f32(table.ptr<char>() + size_t(row) * row_bytes, table.dtype(), H, o);
  }
}

}  // namespace sable::cpu
