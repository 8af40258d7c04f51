// Dummy weights (--load-format dummy): every value is a function of (seed,
// tensor name, index) alone, so a model built from them is the same on every
// machine, thread count and backend. The generator's loops are specialized
// for speed; this holds them to the definition, value by value.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>

#include "core/dtype.h"
#include "core/rng.h"
#include "core/thread_pool.h"
#include "model/config.h"
#include "model/weight_source.h"

namespace sable {
namespace {

// The definition: an approximately normal value from one hash of (seed,
// name, index), the sum of its four 16-bit parts, variance-matched.
float defined_normal(uint64_t seed, const std::string& name, int64_t i) {
  const uint64_t h = hash_counter(seed, std::hash<std::string>{}(name), uint64_t(i));
  const float s = float(h & 0xffff) + float((h >> 16) & 0xffff) + float((h >> 32) & 0xffff) + float(h >> 48);
  return (s * (1.f / 65536.f) - 2.f) * 1.7320508f;
}

// Bits of value i as the generator should store them for `spec`.
uint32_t defined_bits(const ModelConfig& c, uint64_t seed, const TensorSpec& spec, int64_t i) {
  const float x = defined_normal(seed, spec.name, i);
  const float std_w = 1.f / std::sqrt(float(spec.shape.ndim() == 2 ? spec.shape[1] : 1));
  auto fbits = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
  };
  switch (spec.role) {
    case TensorRole::kNorm:
      return f32_to_bf16(1.f + 0.1f * x);
    case TensorRole::kRouterBias:
      return fbits(0.01f * x);
    case TensorRole::kScale:
      return fbits(1.f / std::sqrt(float(spec.shape[1] * c.quantization.block_in)) / 64.f);
    case TensorRole::kEmbedding:
      return f32_to_bf16(x);
    default:
      if (spec.dtype == DType::F8_E4M3) return f32_to_fp8_e4m3(64.f * x);
      if (spec.dtype == DType::BF16) return f32_to_bf16(std_w * x);
      return fbits(std_w * x);
  }
}

uint32_t stored_bits(const Tensor& t, int64_t i) {
  switch (dtype_size(t.dtype())) {
    case 1:
      return t.ptr<uint8_t>()[i];
    case 2:
      return t.ptr<uint16_t>()[i];
    default: {
      uint32_t u;
      std::memcpy(&u, t.ptr<float>() + i, 4);
      return u;
    }
  }
}

TEST(DummyWeights, FastPathKeepsTheBits) {
  ModelConfig c;
  c.quantization.block_in = 128;
  const uint64_t seed = 1234;
  DummyWeightSource src(c, seed);
  // Every role and dtype the generator has a loop for, with sizes that do
  // and do not fill the thread pool's 65,536-value grains.
  const std::vector<TensorSpec> specs = {
      {"model.layers.3.mlp.experts.7.down_proj.weight", Shape({300, 1000}), DType::BF16, TensorRole::kLinear},
      {"model.layers.3.mlp.experts.7.up_proj.weight", Shape({64, 3000}), DType::F8_E4M3, TensorRole::kLinear},
      {"model.layers.0.mlp.gate.weight", Shape({37, 129}), DType::F32, TensorRole::kLinear},
      {"model.layers.0.input_layernorm.weight", Shape({7168}), DType::BF16, TensorRole::kNorm},
      {"model.layers.3.mlp.gate.e_score_correction_bias", Shape({256}), DType::F32, TensorRole::kRouterBias},
      {"model.layers.3.mlp.experts.7.up_proj.weight_scale_inv", Shape({1, 24}), DType::F32, TensorRole::kScale},
      {"model.embed_tokens.weight", Shape({50, 2000}), DType::BF16, TensorRole::kEmbedding},
  };
  for (const TensorSpec& spec : specs) {
    const Tensor t = src.generate(spec);
    ASSERT_EQ(t.dtype(), spec.dtype) << spec.name;
    ASSERT_EQ(t.shape(), spec.shape) << spec.name;
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < t.numel(); ++i)
      if (stored_bits(t, i) != defined_bits(c, seed, spec, i) && bad++ == 0) first = i;
    EXPECT_EQ(bad, 0) << spec.name << ": first differing value at " << first;
  }
}

TEST(DummyWeights, SameValuesOnAnyThreadCount) {
  ModelConfig c;
  DummyWeightSource src(c, 7);
  const TensorSpec spec{"model.layers.1.self_attn.o_proj.weight", Shape({512, 1024}), DType::BF16, TensorRole::kLinear};
  const Tensor a = src.generate(spec);
  ThreadPool one(1);
  ThreadPool::set_current(&one);
  const Tensor b = src.generate(spec);
  ThreadPool::set_current(nullptr);
  ASSERT_EQ(a.nbytes(), b.nbytes());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.nbytes()), 0);
}

}  // namespace
}  // namespace sable
