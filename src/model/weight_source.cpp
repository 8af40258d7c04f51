#include "model/weight_source.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "core/host_allocator.h"
#include "core/rng.h"
#include "core/thread_pool.h"
#include "model/dummy_fill.h"

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

}  // namespace

Tensor DummyWeightSource::generate(const TensorSpec& spec) const {
  Tensor t = Tensor::empty(spec.dtype, spec.shape, mapped_host_allocator());
  const int64_t n = t.numel();
  // One loop per (role, dtype) with hash_counter's base hoisted and no
  // branch inside, vectorized for the CPU (model/dummy_fill.h): the per-element switch ran at ~65 M
  // values a second a core, and dummy weights at DeepSeek-V3's widths are
  // tens of billions of values (the 4-layer slice alone 37 G). The values
  // are the same bits (test DummyWeights.FastPathKeepsTheBits).
  const uint64_t base = hash_counter_base(seed_, name_hash(spec.name));
  // Scale linear weights by 1/sqrt(fan_in) so activations keep unit scale
  // through any number of layers.
  const int64_t fan_in = spec.shape.ndim() == 2 ? spec.shape[1] : 1;
  const float std_w = 1.f / std::sqrt(float(fan_in));
  // FP8 weights: values ~ N(0, 64^2) in e4m3 and a block scale of std/64,
  // so dequantised weights are ~ N(0, std^2).
  constexpr float kFp8Spread = 64.f;
  const DummyFillKernels& k = dummy_fill_kernels();
  std::function<void(int64_t, int64_t)> fill;
  switch (spec.role) {
    case TensorRole::kNorm:
      fill = [&k, d = t.ptr<uint16_t>(), base](int64_t b, int64_t e) { k.bf16_norm(d, b, e, base); };
      break;
    case TensorRole::kRouterBias:
      fill = [&k, d = t.ptr<float>(), base](int64_t b, int64_t e) { k.f32_scaled(d, b, e, base, 0.01f); };
      break;
    case TensorRole::kScale: {
      // The scale's fan-in is the weight's: (in / block) columns of blocks.
      const int64_t in = spec.shape[1] * config_.quantization.block_in;
      const float v = 1.f / std::sqrt(float(in)) / kFp8Spread;
      float* d = t.ptr<float>();
      fill = [=](int64_t b, int64_t e) { std::fill(d + b, d + e, v); };
      break;
    }
    case TensorRole::kEmbedding:
      fill = [&k, d = t.ptr<uint16_t>(), base](int64_t b, int64_t e) { k.bf16_scaled(d, b, e, base, 1.f); };
      break;
    default:
      if (spec.dtype == DType::F8_E4M3) {
        fill = [&k, d = t.ptr<uint8_t>(), base](int64_t b, int64_t e) { k.fp8_scaled(d, b, e, base, kFp8Spread); };
      } else if (spec.dtype == DType::BF16) {
        fill = [&k, d = t.ptr<uint16_t>(), base, std_w](int64_t b, int64_t e) { k.bf16_scaled(d, b, e, base, std_w); };
      } else {
        fill = [&k, d = t.ptr<float>(), base, std_w](int64_t b, int64_t e) { k.f32_scaled(d, b, e, base, std_w); };
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
