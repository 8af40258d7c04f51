#include "cuda_test_util.h"

#include <cuda_runtime.h>

#include <cmath>
#include <cstring>

#include "backend/cpu/convert.h"
#include "backend/cuda/device_info.h"
#include "core/dtype.h"

namespace sable::cudatest {

bool have_gpu() {
  static const bool have = cuda::device_count() > 0;
  return have;
}

cuda::CudaBackend& gpu() { return static_cast<cuda::CudaBackend&>(cuda::cuda_backend(0)); }

uint64_t fresh_seed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}

Tensor random_f32(std::mt19937_64& rng, Shape shape, float scale, DType exact_in) {
  Tensor t = Tensor::empty(DType::F32, shape);
  std::normal_distribution<float> nd(0.f, scale);
  float* p = t.ptr<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v = nd(rng);
    if (exact_in != DType::F32) {  // round through the narrow type
      uint8_t tmp[8];
      cpu::from_f32(&v, exact_in, 1, tmp);
      cpu::to_f32(tmp, exact_in, 1, &v);
    }
    p[i] = v;
  }
  return t;
}

Tensor host_as(const Tensor& f32, DType dt) {
  if (dt == DType::F32) return f32;
  Tensor t = Tensor::empty(dt, f32.shape());
  cpu::from_f32(f32.ptr<float>(), dt, f32.numel(), t.data());
  return t;
}

Tensor upload(const Tensor& f32, DType dt) { return gpu().to_device(host_as(f32, dt)); }

Tensor upload_i32(const std::vector<int32_t>& v, Shape shape) {
  if (shape.ndim() == 0) shape = Shape{int64_t(v.size())};
  Tensor h = Tensor::empty(DType::I32, shape);
  if (!v.empty()) std::memcpy(h.data(), v.data(), v.size() * 4);
  return gpu().to_device(h);
}

Tensor poisoned(DType dt, Shape shape) {
  Tensor t = gpu().empty(dt, shape);
  gpu().synchronize();  // the allocator's zero fill runs on the stream first
  if (t.nbytes()) EXPECT_EQ(cudaMemsetAsync(t.data(), 0xFF, t.nbytes(), gpu().stream()), cudaSuccess);
  return t;
}

std::vector<float> download_f32(const Tensor& dev) {
  std::vector<uint8_t> raw(dev.nbytes());
  gpu().copy_to_host(dev, raw.data());
  std::vector<float> out(size_t(dev.numel()));
  if (dev.dtype() == DType::I32) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = float(reinterpret_cast<int32_t*>(raw.data())[i]);
  } else {
    cpu::to_f32(raw.data(), dev.dtype(), dev.numel(), out.data());
  }
  return out;
}

std::vector<int32_t> download_i32(const Tensor& dev) {
  std::vector<int32_t> out(size_t(dev.numel()));
  gpu().copy_to_host(dev, out.data());
  return out;
}

double rel_err(const std::vector<float>& a, const float* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    const double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  return rel_err(a, b.data(), std::min(a.size(), b.size()));
}

}  // namespace sable::cudatest
