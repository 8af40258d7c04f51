// The front of MLA attention for one decode token as one cooperative kernel
// (mla_front.cu; opt-in, slower than the unfused ops so far): add + RMSNorm, FP8 quantization,
// the fused q_a | kv_a projection, q_a's RMSNorm and quantization, q_b.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace sable {
struct LinearWeight;
}

namespace sable::cuda {

struct MlaFrontArgs {
  float* residual = nullptr;            // F32 [H], += prev in place
  const __nv_bfloat16* prev = nullptr;  // BF16 [H], or null (the first layer: no add)
  const __nv_bfloat16* ln = nullptr;    // input_layernorm [H]
  const uint8_t* w1 = nullptr;          // fused q_a | kv_a, FP8 [N1, H] (natural rows)
  const float* s1 = nullptr;            // its scales [ceil(N1 / 128), s1_ld]
  int64_t s1_ld = 0;
  const __nv_bfloat16* qa_ln = nullptr;  // q_a_layernorm [Q]
  const uint8_t* w2 = nullptr;           // q_b, FP8 [N2, Q]
  const float* s2 = nullptr;             // [ceil(N2 / 128), s2_ld]
  int64_t s2_ld = 0;
  __nv_bfloat16* qkv = nullptr;  // BF16 [N1] out: q_a | kv_a
  __nv_bfloat16* q = nullptr;    // BF16 [N2] out
  int H = 0, Q = 0, N1 = 0, N2 = 0;
  float eps = 1e-6f;
  int w2_smem_rows = 0;           // rows of each CTA's W2 slice copied to shared memory
  unsigned* bar_count = nullptr;  // grid barrier: two zeroed words in device memory
  unsigned* bar_gen = nullptr;
};

// Whether this device and these shapes take the kernel (DeepSeek-V3: H 7,168,
// Q 1,536, N1 2,112 -> 132 CTAs, which needs 132 SMs for one CTA each).
bool mla_front_supported(const MlaFrontArgs& a);
// The most W2 rows a CTA can hold in shared memory at this Q.
int mla_front_max_smem_rows(int Q);
size_t mla_front_smem_bytes(int w2_smem_rows, int Q);
int mla_front_grid(int N1);
void mla_front(const MlaFrontArgs& a, cudaStream_t stream);
// The weight operands from two prepared FP8 LinearWeights (prepare_linear /
// make_random_linear): w1 the fused q_a | kv_a, w2 q_b.
void mla_front_set_weights(MlaFrontArgs& a, const LinearWeight& w1, const LinearWeight& w2);

}  // namespace sable::cuda
