// FP8 forms of MLA's per-head weights W_UK and W_UV (HeadWeightFp8), which
// the CUDA backend's few-token per-head matmuls read at half the bytes of
// BF16. Built on the host; the caller uploads them.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include "backend/backend.h"

namespace sable {

// From an FP8 kv_b_proj [heads * (nope + v), kv_lora] whose 128 x 128 blocks
// fall inside one head's nope or v rows (nope and v multiples of 128): its
// bytes and scales as they are, W_UK [heads, nope, kv_lora] first, W_UV
// [heads, v, kv_lora] second. nullopt for any other weight.
std::optional<std::pair<HeadWeightFp8, HeadWeightFp8>> split_kv_b_proj_fp8(const LinearWeight& kv_b_proj, int64_t heads,
                                                                           int64_t nope, int64_t v);

// Quantizes a float per-head weight [heads, R, C] (F32, BF16 or F16, host) in
// 128 x 128 blocks of each head's matrix: scale = amax / 448 (1 for an
// all-zero block), w = e4m3(x / scale), as --quantization fp8 does for
// linear weights.
HeadWeightFp8 quantize_head_weight_fp8(const Tensor& w);

}  // namespace sable
