// RoPE frequencies and attention scale for DeepSeek-V3 (YaRN), computed on
// the host once at load, as transformers' _compute_yarn_parameters and
// DeepseekV3Attention do.
#pragma once

#include <vector>

#include "model/config.h"

namespace sable {

struct RopeTables {
  std::vector<float> inv_freq;   // [qk_rope_head_dim / 2]
  float attention_factor = 1.f;  // multiplies cos and sin
  float softmax_scale = 1.f;     // qk_head_dim^-0.5, times mscale^2 under YaRN
};

RopeTables compute_rope_tables(const ModelConfig& c);

}  // namespace sable
