#include <cassert>
#include <cmath>
#include <vector>

#include "backend/cpu/convert.h"
#include "backend/cpu/ops.h"
#include "core/thread_pool.h"

namespace sable::cpu {
namespace {

// out = x / sqrt(mean(x^2) + eps) * w, as the reference: the normalised
// value is formed in float32 first, then multiplied by the weight.
void norm_row(const float* x, const float* w, float eps, int64_t D, float* out) {
  double ss = 0;
  for (int64_t i = 0; i < D; ++i) ss += double(x[i]) * x[i];
  float inv = 1.f / std::sqrt(float(ss / double(D)) + eps);
  for (int64_t i = 0; i < D; ++i) out[i] = w[i] * (x[i] * inv);
}

std::vector<float> weight_f32(const Tensor& w) {
  std::vector<float> v(static_cast<size_t>(w.numel()));
  to_f32(w.data(), w.dtype(), w.numel(), v.data());
  return v;
}

}  // namespace

void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) {
  const int64_t T = x.dim(0), D = x.numel() / x.dim(0);
  assert(weight.numel() == D && out.numel() == x.numel());
  std::vector<float> w = weight_f32(weight);
  ThreadPool::global().parallel_for(T, 16, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) norm_row(x.ptr<float>() + t * D, w.data(), eps, D, out.ptr<float>() + t * D);
  });
}

void add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& weight, float eps, Tensor& out) {
  const int64_t T = x.dim(0), D = x.numel() / x.dim(0);
  assert(residual.numel() == x.numel() && weight.numel() == D);
  std::vector<float> w = weight_f32(weight);
  ThreadPool::global().parallel_for(T, 16, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      float* r = residual.ptr<float>() + t * D;
      const float* xi = x.ptr<float>() + t * D;
      for (int64_t i = 0; i < D; ++i) r[i] += xi[i];
      norm_row(r, w.data(), eps, D, out.ptr<float>() + t * D);
    }
  });
}

}  // namespace sable::cpu
