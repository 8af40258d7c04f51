#include "model/rope_scaling.h"

#include <algorithm>
#include <cmath>

namespace sable {

namespace {
double yarn_get_mscale(double scale, double mscale) {
  if (scale <= 1) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}
}  // namespace

RopeTables compute_rope_tables(const ModelConfig& c) {
  RopeTables r;
  const int dim = int(c.qk_rope_head_dim);  // transformers' head_dim for DeepSeek-V3
  const int half = dim / 2;
  const double base = c.rope_theta;
  r.inv_freq.resize(size_t(half));
  // pos_freqs = base ** (arange(0, dim, 2) / dim), in float32 as the reference.
  std::vector<float> pos_freqs(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i) pos_freqs[size_t(i)] = float(std::pow(base, double(float(2 * i) / float(dim))));
  r.softmax_scale = float(1.0 / std::sqrt(double(c.qk_head_dim())));
  const RopeScaling& s = c.rope_scaling;
  if (s.type != "yarn") {
    for (int i = 0; i < half; ++i) r.inv_freq[size_t(i)] = 1.f / pos_freqs[size_t(i)];
    return r;
  }
  const double factor = s.factor;
  // attention_factor: explicit, else the mscale ratio (both present and
  // non-zero), else get_mscale(factor).
  const double mscale = s.mscale.value_or(0.0), mscale_all = s.mscale_all_dim.value_or(0.0);
  if (s.attention_factor) r.attention_factor = float(*s.attention_factor);
  else if (mscale != 0 && mscale_all != 0)
    r.attention_factor = float(yarn_get_mscale(factor, mscale) / yarn_get_mscale(factor, mscale_all));
  else r.attention_factor = float(yarn_get_mscale(factor, 1.0));

  auto correction_dim = [&](double rotations) {
    return (dim * std::log(double(s.original_max_position_embeddings) / (rotations * 2 * M_PI))) /
           (2 * std::log(base));
  };
  double low = correction_dim(s.beta_fast), high = correction_dim(s.beta_slow);
  if (s.truncate) { low = std::floor(low); high = std::ceil(high); }
  low = std::max(low, 0.0);
  high = std::min(high, double(dim - 1));
  if (low == high) high += 0.001;  // avoid a zero-width ramp
  for (int i = 0; i < half; ++i) {
    float ramp = std::clamp(float((float(i) - float(low)) / float(high - low)), 0.f, 1.f);
    float extrapolation_factor = 1.f - ramp;
    float extrap = 1.f / pos_freqs[size_t(i)];
    float interp = 1.f / (float(factor) * pos_freqs[size_t(i)]);
    r.inv_freq[size_t(i)] = interp * (1.f - extrapolation_factor) + extrap * extrapolation_factor;
  }
  // Softmax scale: times mscale^2 when mscale_all_dim is set (yarn_apply_mscale).
  if (mscale_all != 0) {
    double m = yarn_get_mscale(factor, mscale_all);
    r.softmax_scale = float(double(r.softmax_scale) * m * m);
  }
  return r;
}

}  // namespace sable
