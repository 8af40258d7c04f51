// The fused KV write of MLA: for each token, c_kv = rms_norm(kv[:kv_lora]) *
// norm_w and k_pe = rope(kv[kv_lora:], position) go straight into the token's
// slot of the paged latent cache, in the cache's dtype. One block per token;
// tokens whose slot is negative (padding) write nothing.
#include <cassert>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/rope_common.cuh"

namespace sable::cuda {
namespace {

constexpr int kThreads = 128;

template <typename TK, typename TW, typename TC>
__global__ void __launch_bounds__(kThreads) mla_write_kv_kernel(const TK* kv, const TW* norm_w,
                                                                const int32_t* slots, const int32_t* positions,
                                                                TC* cache, int64_t num_slots, int L, int kv_lora,
                                                                float eps, RopeArgs r) {
  pdl_begin();
  __shared__ float scratch[33];
  const int64_t t = blockIdx.x;
  const int64_t slot = slots[t];
  if (slot < 0 || slot >= num_slots) return;  // uniform over the block
  const TK* src = kv + t * L;
  TC* dst = cache + slot * L;
  float ss = 0.f;
  for (int i = threadIdx.x; i < kv_lora; i += kThreads) { float v = to_f32(src[i]); ss += v * v; }
  ss = block_sum(ss, scratch);
  const float inv = 1.f / sqrtf(ss / float(kv_lora) + eps);
  for (int i = threadIdx.x; i < kv_lora; i += kThreads)
    dst[i] = from_f32<TC>(to_f32(norm_w[i]) * (to_f32(src[i]) * inv));
  const int rope_dim = L - kv_lora, half = rope_dim / 2;
  const int32_t pos = positions[t];
  for (int i = threadIdx.x; i < half; i += kThreads) {
    int a, b;
    rope_pair(i, rope_dim, r.interleaved, a, b);
    float x0 = to_f32(src[kv_lora + a]), x1 = to_f32(src[kv_lora + b]);
    rope_rotate(x0, x1, pos, i, r);
    dst[kv_lora + a] = from_f32<TC>(x0);
    dst[kv_lora + b] = from_f32<TC>(x1);
  }
}

}  // namespace

void mla_write_kv(const Tensor& kv, const Tensor& norm_w, float eps, const RopeParams& rope,
                  const AttentionMetadata& m, Tensor& cache, cudaStream_t stream) {
  const int64_t T = kv.dim(0), L = kv.dim(1), kv_lora = norm_w.numel();
  assert(cache.dim(2) == L && (L - kv_lora) % 2 == 0);
  if (T == 0) return;
  const int64_t num_slots = cache.dim(0) * cache.dim(1);
  RopeArgs r{rope.inv_freq.ptr<float>(), rope.attention_factor, rope.interleaved};
  SABLE_DISPATCH_ACT("mla_write_kv", kv.dtype(), TK, {
    SABLE_DISPATCH_FLOAT("mla_write_kv", norm_w.dtype(), TW, {
      SABLE_DISPATCH_FLOAT("mla_write_kv", cache.dtype(), TC, {
        launch_pdl(mla_write_kv_kernel<TK, TW, TC>, unsigned(T), kThreads, 0, stream, kv.ptr<TK>(), norm_w.ptr<TW>(),
                   m.slot_mapping.ptr<int32_t>(), m.positions.ptr<int32_t>(), cache.ptr<TC>(), num_slots, int(L),
                   int(kv_lora), eps, r);
        SABLE_CUDA_LAUNCH_CHECK();
      });
    });
  });
}

}  // namespace sable::cuda
