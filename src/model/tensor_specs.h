// The tensors of a DeepSeek-V3 checkpoint in the published layout, derived
// from a config alone: names, shapes and stored dtypes. The loader checks a
// checkpoint against these; make-model and --load-format dummy generate them.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"

namespace sable {

enum class TensorRole { kLinear, kNorm, kEmbedding, kRouterBias, kScale, kOther };

struct TensorSpec {
  std::string name;
  Shape shape;
  DType dtype;
  TensorRole role;
};

// Every tensor of the main model (layers [0, num_hidden_layers)), plus the
// multi-token-prediction layers when include_mtp. Linear weights are
// F8_E4M3 with an F32 `weight_scale_inv` when the config's quantization is
// fp8, else BF16. The router weight stays BF16 and its bias F32, as in the
// published checkpoint.
std::vector<TensorSpec> deepseek_v3_tensor_specs(const ModelConfig& c, bool include_mtp);

// Shape of the weight_scale_inv for a [out, in] weight.
Shape fp8_scale_shape(int64_t out, int64_t in, int block_out, int block_in);

}  // namespace sable
