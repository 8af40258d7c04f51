// Weights of a linear layer y = x W^T in their stored form. DeepSeek-V3's FP8
// checkpoints store W as float8_e4m3fn with one float32 scale per
// [block_out x block_in] block (weight_scale_inv; dequantized W = fp8 * scale);
// other checkpoints store BF16/F16/F32 and carry no scale.
#pragma once

#include <memory>
#include <vector>

#include "core/tensor.h"

namespace sable {

struct LinearWeight {
  Tensor weight;     // [out, in]: F32, BF16, F16 or F8_E4M3
  Tensor scale_inv;  // F8_E4M3 only: F32 [ceil(out/block_out), ceil(in/block_in)]
  int block_out = 128;
  int block_in = 128;
  // Never quantized at load or prepare (--quantization fp8): the MoE router,
  // whose routes flip in low precision, and MLA's kv_b up-projection, which
  // must match the absorbed form's dequantized W_UK / W_UV.
  bool keep_precision = false;
  // Backend-specific prepared form (a repacked or device copy); owned here so
  // that it lives as long as the weight.
  std::shared_ptr<void> prepared;

  int64_t out_features() const { return weight.dim(0); }
  int64_t in_features() const { return weight.dim(1); }
  bool is_fp8() const { return weight.dtype() == DType::F8_E4M3; }
  size_t nbytes() const { return weight.nbytes() + (scale_inv.data() ? scale_inv.nbytes() : 0); }
};

// The routed experts of one MoE layer: E experts, each a SwiGLU MLP.
struct MoeExperts {
  std::vector<LinearWeight> gate, up, down;  // E each: gate/up [I, H], down [H, I]
  std::shared_ptr<void> prepared;            // backend-specific packed form
  // Expert parallelism: the router's expert count, of which this rank holds
  // num_experts(); a token's top_k then land here num_experts() /
  // routed_experts of the time, which choices made from the expected tokens
  // per expert (the CUDA MoE kernel) must count. 0: num_experts().
  int routed_experts = 0;
  int num_experts() const { return int(gate.size()); }
};

}  // namespace sable
