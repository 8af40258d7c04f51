// Named DeepSeek-V3 configurations for random-weight checkpoints:
//   tiny        the demo model (tiny dims, the real 129,280-token vocabulary)
//   small-moe   >= 1B parameters sized for CPUs: hidden 2048, 64 routed
//               experts of 1408 (6 active), 2 shared, no q_lora (V2-Lite-like)
//   dsv3-slice  the real model's layer shapes (hidden 7168, 128 heads, 256
//               experts of 2048, top-8) with fewer layers: 1 dense + MoE
//   dsv3        the full 61-layer model (for planning; 671B parameters)
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "model/config.h"

namespace sable {

// layers <= 0 keeps the preset's count. fp8 adds the 128x128-block FP8
// quantization_config.
Result<ModelConfig> preset_config(const std::string& name, int layers = 0, bool fp8 = false);
std::vector<std::string> preset_names();

}  // namespace sable
