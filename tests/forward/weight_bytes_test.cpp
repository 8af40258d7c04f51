// DeepseekV3Weights::bytes, the weight bytes `sable serve` reports after
// loading, counts what the backend holds. Under --quantization fp8 on a BF16
// checkpoint the CUDA backend quantises in prepare_linear, so the loader
// hands it BF16 (LoadOptions::backend_quantizes_fp8): the count must be the
// FP8 it becomes, the same as when the loader quantises itself, not the
// BF16 it passed on (which reported twice the bytes).
#include <gtest/gtest.h>

#include "backend/backend.h"
#include "model/deepseek_v3.h"
#include "model/presets.h"
#include "model/weight_source.h"

namespace sable {
namespace {

size_t loaded_bytes(const ModelConfig& cfg, bool loader_quantizes, bool backend_quantizes, int tp) {
  DummyWeightSource src(cfg, 5);
  LoadOptions lo;
  lo.quantize_fp8 = loader_quantizes;
  lo.backend_quantizes_fp8 = backend_quantizes;
  lo.tensor_parallel_size = tp;
  auto m = DeepseekV3Model::load(src, cpu_backend(), lo);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return m.is_ok() ? (*m)->weight_bytes() : 0;
}

TEST(WeightBytes, CountedAsTheBackendHoldsThem) {
  auto cfg = preset_config("tiny", 2, false);
  ASSERT_TRUE(cfg.is_ok());
  for (int tp : {1, 2}) {
    SCOPED_TRACE("tensor parallel " + std::to_string(tp));
    const size_t bf16 = loaded_bytes(*cfg, false, false, tp);
    const size_t loader_fp8 = loaded_bytes(*cfg, true, false, tp);
    const size_t backend_fp8 = loaded_bytes(*cfg, false, true, tp);
    EXPECT_EQ(backend_fp8, loader_fp8);
    EXPECT_LT(loader_fp8, bf16);
  }
}

}  // namespace
}  // namespace sable
