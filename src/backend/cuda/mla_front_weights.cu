// mla_front_set_weights: the fused MLA front's weight operands from prepared
// FP8 LinearWeights (a file of its own: gemm_common.cuh and cuda_common.cuh
// both define ceil_div).
#include "backend/cuda/gemm_common.cuh"
#include "backend/cuda/mla_front.h"

namespace sable::cuda {

void mla_front_set_weights(MlaFrontArgs& a, const LinearWeight& w1, const LinearWeight& w2) {
  const auto& p1 = *static_cast<const PreparedLinear*>(w1.prepared.get());
  const auto& p2 = *static_cast<const PreparedLinear*>(w2.prepared.get());
  a.w1 = static_cast<const uint8_t*>(p1.weight);
  a.s1 = p1.scale;
  a.s1_ld = p1.kb_ld;
  a.N1 = int(p1.out);
  a.w2 = static_cast<const uint8_t*>(p2.weight);
  a.s2 = p2.scale;
  a.s2_ld = p2.kb_ld;
  a.N2 = int(p2.out);
}

}  // namespace sable::cuda
