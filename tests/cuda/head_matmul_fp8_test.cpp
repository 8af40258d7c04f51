// The FP8 per-head matmuls (Backend::head_matmul_fp8, mla_absorb_q_fp8: the
// streaming kernels' F8 instances) against the CPU reference on the same
// weights dequantized in f32 (e4m3 * scale), at DeepSeek-V3's shapes and a
// ragged one (blocks cut by the matrix edge). Bound 1e-2 as for BF16: the
// dequantized weights are the same floats on both sides, so only the
// summation order and the output's bf16 rounding differ. Where the kernels
// do not serve the call (more tokens than head_gemv_auto_max_tokens, or
// batch-invariant mode) the ops return false and write nothing.
#include <cmath>
#include <random>

#include "backend/cpu/ops.h"
#include "backend/cuda/batch_invariant.h"
#include "backend/cuda/head_gemv.h"
#include "core/dtype.h"
#include "cuda_test_util.h"
#include "model/head_weights_fp8.h"

namespace sable {
namespace {
using namespace cudatest;

// W [heads, R, C] dequantized to F32 on the host.
Tensor dequantized(const HeadWeightFp8& w) {
  const int64_t heads = w.w.dim(0), R = w.w.dim(1), C = w.w.dim(2), Rb = w.scale.dim(1), Cb = w.scale.dim(2);
  Tensor f = Tensor::empty(DType::F32, {heads, R, C});
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < C; ++c)
        f.ptr<float>()[(h * R + r) * C + c] = fp8_e4m3_to_f32(w.w.ptr<uint8_t>()[(h * R + r) * C + c]) *
                                              w.scale.ptr<float>()[(h * Rb + r / 128) * Cb + c / 128];
  return f;
}

HeadWeightFp8 on_gpu(const HeadWeightFp8& w) { return {gpu().to_device(w.w), gpu().to_device(w.scale)}; }

TEST(CudaHeadMatmulFp8, MatchesCpuOnDequantizedWeights) {
  SABLE_REQUIRE_GPU();
  cuda::set_batch_invariant(false);
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (auto [heads, K, N] : {std::tuple{128, 512, 128}, std::tuple{3, 200, 136}})
    for (bool tr : {true, false}) {
      SCOPED_TRACE("heads " + std::to_string(heads) + " K " + std::to_string(K) + " N " + std::to_string(N) +
                   " transposed " + std::to_string(tr));
      const HeadWeightFp8 w =
          quantize_head_weight_fp8(tr ? random_f32(rng, {heads, N, K}, 0.05f) : random_f32(rng, {heads, K, N}, 0.05f));
      const HeadWeightFp8 wd = on_gpu(w);
      Tensor x = random_f32(rng, {1, heads, K}, 1.f);
      Tensor ref = Tensor::empty(DType::F32, {1, heads, N});
      cpu::head_matmul(x, dequantized(w), tr, ref);
      for (DType od : {DType::BF16, DType::F32}) {
        Tensor out = poisoned(od, {1, heads, N});
        ASSERT_TRUE(gpu().head_matmul_fp8(upload(x, DType::BF16), wd, tr, out));
        EXPECT_LT(rel_err(download_f32(out), ref.ptr<float>(), size_t(ref.numel())), 1e-2) << dtype_name(od);
      }
      // Two tokens: not the streaming kernels' (auto max 1): declined, nothing written.
      Tensor x2 = upload(random_f32(rng, {2, heads, K}, 1.f), DType::BF16), out2 = poisoned(DType::F32, {2, heads, N});
      EXPECT_FALSE(gpu().head_matmul_fp8(x2, wd, tr, out2));
      for (float v : download_f32(out2)) ASSERT_TRUE(std::isnan(v));
    }
}

// Absorption with q_rope rotated on the way: the latent part against the
// CPU reference, the rope part bitwise the BF16 path's.
TEST(CudaMlaAbsorbQFp8, MatchesCpuAndRotatesAsBf16) {
  SABLE_REQUIRE_GPU();
  cuda::set_batch_invariant(false);
  std::mt19937_64 rng(fresh_seed());
  const int heads = 128, nope = 128, rope = 64, kv_lora = 512, L = kv_lora + rope;
  const HeadWeightFp8 w = quantize_head_weight_fp8(random_f32(rng, {heads, nope, kv_lora}, 0.05f));
  const Tensor wf = dequantized(w);
  Tensor inv_freq = Tensor::empty(DType::F32, {rope / 2});
  for (int i = 0; i < rope / 2; ++i) inv_freq.ptr<float>()[i] = std::pow(10000.f, -2.f * float(i) / float(rope));
  RopeParams rp;
  rp.inv_freq = upload(inv_freq, DType::F32);
  rp.attention_factor = 1.3f;
  Tensor pos = upload_i32({int32_t(rng() % 100000)}, {1});
  Tensor qh = random_f32(rng, {1, heads, nope + rope}, 1.f);
  Tensor ref = Tensor::empty(DType::F32, {1, heads, L});
  cpu::mla_absorb_q(qh, wf, ref);
  Tensor q = upload(qh, DType::BF16);
  Tensor got = poisoned(DType::BF16, {1, heads, L}), bf = poisoned(DType::BF16, {1, heads, L});
  ASSERT_TRUE(gpu().mla_absorb_q_fp8(q, on_gpu(w), got, &pos, &rp));
  gpu().mla_absorb_q(q, upload(wf, DType::BF16), bf, &pos, &rp);
  const auto g = download_f32(got), b = download_f32(bf);
  std::vector<float> gl, rl;
  for (int64_t th = 0; th < heads; ++th) {
    for (int64_t i = 0; i < kv_lora; ++i) {
      gl.push_back(g[size_t(th * L + i)]);
      rl.push_back(ref.ptr<float>()[th * L + i]);
    }
    for (int64_t i = kv_lora; i < L; ++i) ASSERT_EQ(g[size_t(th * L + i)], b[size_t(th * L + i)]) << th << " " << i;
  }
  EXPECT_LT(rel_err(gl, rl), 1e-2);
}

}  // namespace
}  // namespace sable
