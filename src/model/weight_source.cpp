#include "model/weight_source.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "core/rng.h"
#include "core/thread_pool.h"

namespace sable {

DummyWeightSource::DummyWeightSource(ModelConfig config, uint64_t seed, bool include_mtp)
    : config_(std::move(config)), seed_(seed) {
  ordered_ = deepseek_v3_tensor_specs(config_, include_mtp);
  for (const auto& s : ordered_) specs_[s.name] = s;
}

Result<Tensor> DummyWeightSource::get(const std::string& name, const Shape& expected) {
  auto it = specs_.find(name);
  if (it == specs_.end()) return not_found("dummy weights: no tensor '" + name + "' in this config's layout");
  if (it->second.shape != expected)
    return invalid_argument("dummy weights: tensor '" + name + "' has shape " + it->second.shape.str() +
                            ", expected " + expected.str());
  return generate(it->second);
}

namespace {

uint64_t name_hash(const std::string& s) { return std::hash<std::string>{}(s); }

// An approximately normal value from one 64-bit hash (sum of four 16-bit
// uniforms, variance-matched): cheap, and good enough for random weights.
inline float approx_normal(uint64_t h) {
  float s = float(h & 0xffff) + float((h >> 16) & 0xffff) + float((h >> 32) & 0xffff) + float(h >> 48);
  return (s * (1.f / 65536.f) - 2.f) * 1.7320508f;  // sqrt(12/4)
}

}  // namespace

Tensor DummyWeightSource::generate(const TensorSpec& spec) const {
  Tensor t = Tensor::empty(spec.dtype, spec.shape);
  const int64_t n = t.numel();
  // hash_counter's base hoisted out of the loops, and one loop per (role,
  // dtype) with no branch inside. Why: the
  // per-element switch ran at ~65 M values a second a core, and dummy
  // weights at DeepSeek-V3's widths are tens of billions of values (the
  // 4-layer slice alone 37 G: ~36 s of a 16-core machine's load). The values
  // are the same bits (test DummyWeights.FastPathKeepsTheBits).
  const uint64_t base = hash_counter_base(seed_, name_hash(spec.name));
  auto normal = [base](int64_t i) { return approx_normal(mix64(base + uint64_t(i))); };
  // Scale linear weights by 1/sqrt(fan_in) so activations keep unit scale
  // through any number of layers.
  const int64_t fan_in = spec.shape.ndim() == 2 ? spec.shape[1] : 1;
  const float std_w = 1.f / std::sqrt(float(fan_in));
  // FP8 weights: values ~ N(0, 64^2) in e4m3 and a block scale of std/64,
  // so dequantised weights are ~ N(0, std^2).
  constexpr float kFp8Spread = 64.f;
  std::function<void(int64_t, int64_t)> fill;
  switch (spec.role) {
    case TensorRole::kNorm: {
      uint16_t* d = t.ptr<uint16_t>();
      fill = [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) d[i] = f32_to_bf16(1.f + 0.1f * normal(i));
      };
      break;
    }
    case TensorRole::kRouterBias: {
      float* d = t.ptr<float>();
      fill = [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) d[i] = 0.01f * normal(i);
      };
      break;
    }
    case TensorRole::kScale: {
      // The scale's fan-in is the weight's: (in / block) columns of blocks.
      const int64_t in = spec.shape[1] * config_.quantization.block_in;
      const float v = 1.f / std::sqrt(float(in)) / kFp8Spread;
      float* d = t.ptr<float>();
      fill = [=](int64_t b, int64_t e) { std::fill(d + b, d + e, v); };
      break;
    }
    case TensorRole::kEmbedding: {
      uint16_t* d = t.ptr<uint16_t>();
      fill = [=](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) d[i] = f32_to_bf16(normal(i));
      };
      break;
    }
    default:
      if (spec.dtype == DType::F8_E4M3) {
        uint8_t* d = t.ptr<uint8_t>();
        fill = [=](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) d[i] = f32_to_fp8_e4m3(kFp8Spread * normal(i));
        };
      } else if (spec.dtype == DType::BF16) {
        uint16_t* d = t.ptr<uint16_t>();
        fill = [=](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) d[i] = f32_to_bf16(std_w * normal(i));
        };
      } else {
        float* d = t.ptr<float>();
        fill = [=](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) d[i] = std_w * normal(i);
        };
      }
  }
  ThreadPool::global().parallel_for(n, 1 << 16, fill);
  return t;
}

Result<std::unique_ptr<WeightSource>> open_weight_source(const std::string& model_dir, const std::string& load_format,
                                                         uint64_t seed, bool include_mtp) {
  if (load_format == "dummy") {
    SABLE_ASSIGN_OR_RETURN(ModelConfig cfg, load_model_config(model_dir + "/config.json"));
    return std::unique_ptr<WeightSource>(new DummyWeightSource(std::move(cfg), seed, include_mtp));
  }
  if (load_format != "auto" && load_format != "safetensors")
    return invalid_argument("--load-format '" + load_format + "' is not supported; use auto, safetensors or dummy");
  SABLE_ASSIGN_OR_RETURN(std::shared_ptr<Checkpoint> ckpt, Checkpoint::open(model_dir));
  return std::unique_ptr<WeightSource>(new CheckpointWeightSource(std::move(ckpt)));
}

}  // namespace sable
