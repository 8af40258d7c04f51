// CUDA head_matmul and mla_absorb_q (cuBLAS strided-batched bf16, fp32
// accumulation) against the CPU reference at DeepSeek-V3's shapes and the
// tiny model's. Bound 1e-2: bf16-exact operands, fp32 accumulation, one bf16
// rounding of the output (2^-9); the rope copy in mla_absorb_q is exact.
#include "backend/cpu/ops.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

TEST(CudaHeadMatmul, MatchesCpu) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (auto [T, heads, K, N] : {std::tuple{5, 128, 512, 128}, std::tuple{1, 128, 512, 128}, std::tuple{33, 4, 64, 32}}) {
    for (bool tr : {false, true}) {
      Tensor x = random_f32(rng, {T, heads, K}, 1.f);
      Tensor w = tr ? random_f32(rng, {heads, N, K}, 0.05f) : random_f32(rng, {heads, K, N}, 0.05f);
      Tensor ref = Tensor::empty(DType::F32, {T, heads, N});
      cpu::head_matmul(x, w, tr, ref);
      Tensor out = poisoned(DType::BF16, {T, heads, N});
      gpu().head_matmul(upload(x, DType::BF16), upload(w, DType::BF16), tr, out);
      EXPECT_LT(rel_err(download_f32(out), ref.ptr<float>(), size_t(ref.numel())), 1e-2) << "transposed " << tr;
    }
  }
}

TEST(CudaMlaAbsorbQ, MatchesCpu) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (auto [T, heads, nope, rope, kv_lora] : {std::tuple{7, 128, 128, 64, 512}, std::tuple{2, 4, 32, 16, 64}}) {
    Tensor q = random_f32(rng, {T, heads, nope + rope}, 1.f);
    Tensor w = random_f32(rng, {heads, nope, kv_lora}, 0.05f);
    Tensor ref = Tensor::empty(DType::F32, {T, heads, kv_lora + rope});
    cpu::mla_absorb_q(q, w, ref);
    Tensor out = poisoned(DType::BF16, {T, heads, kv_lora + rope});
    gpu().mla_absorb_q(upload(q, DType::BF16), upload(w, DType::BF16), out);
    auto got = download_f32(out);
    EXPECT_LT(rel_err(got, ref.ptr<float>(), size_t(ref.numel())), 1e-2);
    for (int64_t th = 0; th < T * heads; ++th)
      for (int64_t i = 0; i < rope; ++i)
        ASSERT_EQ(got[size_t(th * (kv_lora + rope) + kv_lora + i)], ref.ptr<float>()[th * (kv_lora + rope) + kv_lora + i]);
  }
}

}  // namespace
}  // namespace sable
