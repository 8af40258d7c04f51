#include <cassert>
#include <cstring>

#include "backend/cpu/convert.h"
#include "backend/cpu/ops.h"

namespace sable::cpu {

void add_inplace(Tensor& a, const Tensor& b) {
  assert(a.numel() == b.numel() && a.dtype() == DType::F32 && b.dtype() == DType::F32);
  float* x = a.ptr<float>();
  const float* y = b.ptr<float>();
  for (int64_t i = 0, n = a.numel(); i < n; ++i) x[i] += y[i];
}

void gather_rows(const Tensor& x, const Tensor& index, Tensor& out) {
  const int64_t N = index.numel();
  const size_t row = x.nbytes() / size_t(x.dim(0));
  assert(out.dim(0) == N && out.nbytes() == N * row);
  for (int64_t i = 0; i < N; ++i) {
    int32_t r = index.ptr<int32_t>()[i];
    assert(r >= 0 && r < x.dim(0));
    std::memcpy(out.ptr<char>() + i * row, x.ptr<char>() + r * row, row);
  }
}

void copy_columns(const Tensor& x, int64_t col0, Tensor& out) {
  const int64_t T = x.dim(0), D = x.dim(1), n = out.dim(1);
  assert(out.dim(0) == T && out.dtype() == x.dtype() && col0 >= 0 && col0 + n <= D);
  const size_t es = dtype_size(x.dtype());
  for (int64_t t = 0; t < T; ++t)
    std::memcpy(out.ptr<char>() + size_t(t * n) * es, x.ptr<char>() + size_t(t * D + col0) * es, size_t(n) * es);
}

void convert(const Tensor& src, Tensor& dst) {
  assert(src.numel() == dst.numel());
  if (src.dtype() == dst.dtype()) {
    std::memcpy(dst.data(), src.data(), src.nbytes());
    return;
  }
  if (dst.dtype() == DType::F32) {
    to_f32(src.data(), src.dtype(), src.numel(), dst.ptr<float>());
  } else if (src.dtype() == DType::F32) {
    from_f32(src.ptr<float>(), dst.dtype(), src.numel(), dst.data());
  } else {
    Tensor tmp = Tensor::empty(DType::F32, src.shape());
    to_f32(src.data(), src.dtype(), src.numel(), tmp.ptr<float>());
    from_f32(tmp.ptr<float>(), dst.dtype(), src.numel(), dst.data());
  }
}

}  // namespace sable::cpu
