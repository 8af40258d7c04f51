// Dummy weights (--load-format dummy): every value is a function of (seed,
// tensor name, index) alone, so a model built from them is the same on every
// machine, thread count and backend. The generator's loops are specialized
// for speed; this holds them to the definition, value by value.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/rng.h"
#include "core/thread_pool.h"
#include "model/config.h"
#include "model/dummy_fill.h"
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

// Each ISA variant of the loops this CPU runs, against the definition: the
// loader uses the best one, and a model must not change with the machine.
TEST(DummyWeights, EveryIsaKeepsTheBits) {
  ModelConfig c;
  const uint64_t seed = 99;
  const std::string name = "model.layers.2.mlp.experts.3.gate_proj.weight";
  const uint64_t base = hash_counter_base(seed, std::hash<std::string>{}(name));
  // Ends that are not multiples of any vector width, a start inside the tensor.
  const int64_t b = 13, e = 100'003;
  const float mul = 1.f / std::sqrt(7168.f);
  auto spec = [&](DType dt, TensorRole role) { return TensorSpec{name, Shape({1, 7168}), dt, role}; };
  int tested = 0;
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (int(isa) > int(detect_cpu_isa())) continue;
    const DummyFillKernels& k = dummy_fill_kernels(isa);
    ASSERT_STREQ(k.name, cpu_isa_name(isa)) << "the variant asked for is the one run";
    std::vector<uint16_t> h16(size_t(e), 0), n16(size_t(e), 0);
    std::vector<float> f32(size_t(e), 0.f);
    std::vector<uint8_t> f8(size_t(e), 0);
    k.bf16_scaled(h16.data(), b, e, base, mul);
    k.bf16_norm(n16.data(), b, e, base);
    k.f32_scaled(f32.data(), b, e, base, mul);
    k.fp8_scaled(f8.data(), b, e, base, 64.f);
    int64_t bad = 0, first = -1;
    for (int64_t i = b; i < e; ++i) {
      uint32_t f32_bits;
      std::memcpy(&f32_bits, &f32[size_t(i)], 4);
      const bool ok = h16[size_t(i)] == defined_bits(c, seed, spec(DType::BF16, TensorRole::kLinear), i) &&
                      n16[size_t(i)] == defined_bits(c, seed, spec(DType::BF16, TensorRole::kNorm), i) &&
                      f32_bits == defined_bits(c, seed, spec(DType::F32, TensorRole::kLinear), i) &&
                      f8[size_t(i)] == defined_bits(c, seed, spec(DType::F8_E4M3, TensorRole::kLinear), i);
      if (!ok && bad++ == 0) first = i;
    }
    EXPECT_EQ(bad, 0) << k.name << ": first differing value at " << first;
    EXPECT_EQ(h16[size_t(b) - 1], 0) << k.name << " wrote before b";
    ++tested;
  }
  EXPECT_GE(tested, 1);
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
