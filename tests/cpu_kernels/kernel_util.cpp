#include "cpu_kernels/kernel_util.h"

#include <cmath>
#include <cstring>
#include <random>

#include "backend/cpu/convert.h"

namespace sable::testing {

Tensor random_f32(Shape shape, uint64_t seed, float scale) {
  Tensor t = Tensor::empty(DType::F32, shape);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(rng);
  return t;
}

LinearWeight random_weight(DType dtype, int64_t out, int64_t in, uint64_t seed, int bo, int bi, float fp8_scale) {
  LinearWeight w;
  w.weight = Tensor::empty(dtype, {out, in});
  std::mt19937_64 rng(seed);
  if (dtype == DType::F8_E4M3) {
    uint8_t* p = w.weight.ptr<uint8_t>();
    for (int64_t i = 0; i < out * in; ++i) {
      uint8_t b = uint8_t(rng());
      if ((b & 0x7f) == 0x7f) b ^= 1;  // not NaN
      p[i] = b;
    }
    w.block_out = bo;
    w.block_in = bi;
    const int64_t so = (out + bo - 1) / bo, si = (in + bi - 1) / bi;
    w.scale_inv = Tensor::empty(DType::F32, {so, si});
    std::uniform_real_distribution<float> u(0.5f, 2.f);
    for (int64_t i = 0; i < so * si; ++i) w.scale_inv.ptr<float>()[i] = fp8_scale * u(rng);
    return w;
  }
  Tensor f = random_f32({out, in}, seed, 0.1f);
  cpu::from_f32(f.ptr<float>(), dtype, out * in, w.weight.data());
  return w;
}

std::vector<const cpu::GemmKernels*> testable_kernels() {
  std::vector<const cpu::GemmKernels*> out;
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (isa > detect_cpu_isa()) break;
    const cpu::GemmKernels* k = &cpu::gemm_kernels(isa);
    if (out.empty() || out.back() != k) out.push_back(k);
  }
  return out;
}

bool bitwise_equal(const float* a, const float* b, int64_t n) { return std::memcmp(a, b, size_t(n) * 4) == 0; }

std::vector<double> abs_dot(const Tensor& x, const LinearWeight& w) {
  const int64_t T = x.dim(0), in = w.in_features(), out = w.out_features();
  std::vector<float> row(static_cast<size_t>(in));
  std::vector<double> r(static_cast<size_t>(T * out));
  for (int64_t o = 0; o < out; ++o) {
    cpu::to_f32(w.weight.ptr<char>() + size_t(o * in) * dtype_size(w.weight.dtype()), w.weight.dtype(), in,
                row.data());
    for (int64_t i = 0; i < in; ++i)
      if (w.is_fp8()) row[size_t(i)] *= w.scale_inv.ptr<float>()[(o / w.block_out) * w.scale_inv.dim(1) + i / w.block_in];
    for (int64_t t = 0; t < T; ++t) {
      double s = 0;
      for (int64_t i = 0; i < in; ++i) s += std::fabs(double(x.ptr<float>()[t * in + i]) * row[size_t(i)]);
      r[size_t(t * out + o)] = s;
    }
  }
  return r;
}

}  // namespace sable::testing
