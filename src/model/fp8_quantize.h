// Block FP8 quantisation of a weight, the DeepSeek-V3 checkpoint format:
// one float32 scale per [block_out x block_in] block, scale = amax / 448,
// value = round_to_e4m3(w / scale). Used by --quantization fp8 on a BF16
// checkpoint; the result is exactly what an FP8 checkpoint would load as.
#pragma once

#include "backend/linear_weight.h"

namespace sable {

// w: host LinearWeight with a BF16/F16/F32 weight. Returns host F8_E4M3
// weight and F32 scale_inv.
LinearWeight quantize_fp8_blocks(const LinearWeight& w, int block_out = 128, int block_in = 128);

}  // namespace sable
