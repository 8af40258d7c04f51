// CUDA head_matmul and mla_absorb_q against the CPU reference at DeepSeek-V3's
// shapes and small ones, on both paths: the streaming kernels (head_gemv.h,
// T <= kHeadGemvMaxT) and cuBLAS strided-batched (T above it). Bound 1e-2:
// bf16-exact operands, fp32 accumulation, one bf16 rounding of the output
// (2^-9); the rope copy in mla_absorb_q is exact.
#include <algorithm>
#include <cmath>

#include "backend/cpu/ops.h"
#include "backend/cuda/batch_invariant.h"
#include "backend/cuda/head_gemv.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

// T = 1, 2, 7, 16 take the streaming kernels; 17 and 33 take cuBLAS.
constexpr int kTokens[] = {1, 2, 7, 16, 17, 33};
static_assert(cuda::kHeadGemvMaxT == 16, "the token counts above straddle kHeadGemvMaxT");

// Sends every T up to kHeadGemvMaxT to the streaming kernels for a scope
// (by default only what is measured faster than cuBLAS takes them).
struct AllStreaming {
  const int64_t saved = cuda::head_gemv_auto_max_tokens();
  AllStreaming() { cuda::set_head_gemv_auto_max_tokens(cuda::kHeadGemvMaxT); }
  ~AllStreaming() { cuda::set_head_gemv_auto_max_tokens(saved); }
};

// Sets the batch-invariant mode for a scope.
struct InvariantMode {
  bool saved;
  explicit InvariantMode(bool on) : saved(cuda::batch_invariant()) { cuda::set_batch_invariant(on); }
  ~InvariantMode() { cuda::set_batch_invariant(saved); }
};

std::vector<uint16_t> bits_bf16(const Tensor& dev) {
  std::vector<uint16_t> b(size_t(dev.numel()));
  gpu().copy_to_host(dev, b.data());
  return b;
}

TEST(CudaHeadMatmul, MatchesCpu) {
  SABLE_REQUIRE_GPU();
  InvariantMode mode(false);
  AllStreaming streaming;
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (auto [heads, K, N] : {std::tuple{128, 512, 128}, std::tuple{4, 64, 32}, std::tuple{4, 32, 64}}) {
    for (int T : kTokens) {
      for (bool tr : {false, true}) {
        SCOPED_TRACE("T " + std::to_string(T) + " heads " + std::to_string(heads) + " K " + std::to_string(K) +
                     " N " + std::to_string(N) + " transposed " + std::to_string(tr));
        Tensor x = random_f32(rng, {T, heads, K}, 1.f);
        Tensor w = tr ? random_f32(rng, {heads, N, K}, 0.05f) : random_f32(rng, {heads, K, N}, 0.05f);
        Tensor ref = Tensor::empty(DType::F32, {T, heads, N});
        cpu::head_matmul(x, w, tr, ref);
        Tensor xd = upload(x, DType::BF16), wd = upload(w, DType::BF16);
        for (DType od : {DType::BF16, DType::F32}) {
          Tensor out = poisoned(od, {T, heads, N});
          gpu().head_matmul(xd, wd, tr, out);
          EXPECT_LT(rel_err(download_f32(out), ref.ptr<float>(), size_t(ref.numel())), 1e-2) << dtype_name(od);
        }
      }
    }
  }
}

TEST(CudaMlaAbsorbQ, MatchesCpu) {
  SABLE_REQUIRE_GPU();
  InvariantMode mode(false);
  AllStreaming streaming;
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (auto [heads, nope, rope, kv_lora] : {std::tuple{128, 128, 64, 512}, std::tuple{4, 32, 16, 64}}) {
    for (int T : kTokens) {
      SCOPED_TRACE("T " + std::to_string(T) + " heads " + std::to_string(heads) + " nope " + std::to_string(nope));
      const int64_t L = kv_lora + rope;
      Tensor q = random_f32(rng, {T, heads, nope + rope}, 1.f);
      Tensor w = random_f32(rng, {heads, nope, kv_lora}, 0.05f);
      Tensor ref = Tensor::empty(DType::F32, {T, heads, L});
      cpu::mla_absorb_q(q, w, ref);
      Tensor out = poisoned(DType::BF16, {T, heads, L});
      gpu().mla_absorb_q(upload(q, DType::BF16), upload(w, DType::BF16), out, nullptr, nullptr);
      auto got = download_f32(out);
      EXPECT_LT(rel_err(got, ref.ptr<float>(), size_t(ref.numel())), 1e-2);
      for (int64_t th = 0; th < T * heads; ++th)
        for (int64_t i = 0; i < rope; ++i)
          ASSERT_EQ(got[size_t(th * L + kv_lora + i)], ref.ptr<float>()[th * L + kv_lora + i]);
    }
  }
}

// RoPE on the way (mla_absorb_q with rope_positions) gives the bits of the
// rope kernel on q first, on both paths (streaming T <= 16, cuBLAS above).
TEST(CudaMlaAbsorbQ, RopeOnTheWayEqualsRopeFirst) {
  SABLE_REQUIRE_GPU();
  InvariantMode mode(false);
  AllStreaming streaming;
  std::mt19937_64 rng(fresh_seed());
  const int heads = 128, nope = 128, rope = 64, kv_lora = 512, L = kv_lora + rope;
  Tensor w = upload(random_f32(rng, {heads, nope, kv_lora}, 0.05f), DType::BF16);
  Tensor inv_freq = Tensor::empty(DType::F32, {rope / 2});
  for (int i = 0; i < rope / 2; ++i) inv_freq.ptr<float>()[i] = std::pow(10000.f, -2.f * float(i) / float(rope));
  RopeParams rp;
  rp.inv_freq = upload(inv_freq, DType::F32);
  rp.attention_factor = 1.3f;
  for (int T : kTokens)
    for (bool interleaved : {true, false}) {
      SCOPED_TRACE("T " + std::to_string(T) + " interleaved " + std::to_string(interleaved));
      rp.interleaved = interleaved;
      std::vector<int32_t> p(static_cast<size_t>(T));
      for (int t = 0; t < T; ++t) p[size_t(t)] = int32_t((rng() % 2) ? rng() % 64 : rng() % 200000);
      Tensor pos = upload_i32(p, {T});
      Tensor qh = random_f32(rng, {T, heads, nope + rope}, 1.f);
      Tensor q = upload(qh, DType::BF16), q_roped = upload(qh, DType::BF16);
      gpu().rope(q_roped, nope, rope, pos, rp);
      Tensor first = poisoned(DType::BF16, {T, heads, L}), fused = poisoned(DType::BF16, {T, heads, L});
      gpu().mla_absorb_q(q_roped, w, first, nullptr, nullptr);
      gpu().mla_absorb_q(q, w, fused, &pos, &rp);
      EXPECT_EQ(bits_bf16(fused), bits_bf16(first));
    }
}

// The streaming kernels sum in a fixed order (no atomics, no timing-dependent
// split): two runs give the same bits.
TEST(CudaHeadMatmul, StreamingKernelsAreDeterministic) {
  SABLE_REQUIRE_GPU();
  InvariantMode mode(false);
  AllStreaming streaming;
  std::mt19937_64 rng(fresh_seed());
  for (int T : {1, 7, 16}) {
    SCOPED_TRACE("T " + std::to_string(T));
    for (bool tr : {false, true}) {
      Tensor x = upload(random_f32(rng, {T, 128, 512}, 1.f), DType::BF16);
      Tensor w = upload(tr ? random_f32(rng, {128, 128, 512}, 0.05f) : random_f32(rng, {128, 512, 128}, 0.05f),
                        DType::BF16);
      Tensor a = poisoned(DType::BF16, {T, 128, 128}), b = poisoned(DType::BF16, {T, 128, 128});
      gpu().head_matmul(x, w, tr, a);
      gpu().head_matmul(x, w, tr, b);
      EXPECT_EQ(bits_bf16(a), bits_bf16(b)) << "transposed " << tr;
    }
    Tensor q = upload(random_f32(rng, {T, 128, 192}, 1.f), DType::BF16);
    Tensor w = upload(random_f32(rng, {128, 128, 512}, 0.05f), DType::BF16);
    Tensor a = poisoned(DType::BF16, {T, 128, 576}), b = poisoned(DType::BF16, {T, 128, 576});
    gpu().mla_absorb_q(q, w, a, nullptr, nullptr);
    gpu().mla_absorb_q(q, w, b, nullptr, nullptr);
    EXPECT_EQ(bits_bf16(a), bits_bf16(b)) << "absorb";
  }
}

// Batch-invariant mode: a token's bits do not depend on how many tokens share
// the call (there both forms take cuBLAS for every T).
TEST(CudaHeadMatmul, BatchInvariantRowIndependentOfT) {
  SABLE_REQUIRE_GPU();
  InvariantMode mode(true);
  std::mt19937_64 rng(fresh_seed());
  constexpr int T = 9;
  for (bool tr : {false, true}) {
    Tensor x = upload(random_f32(rng, {T, 128, 512}, 1.f), DType::BF16);
    Tensor w = upload(tr ? random_f32(rng, {128, 128, 512}, 0.05f) : random_f32(rng, {128, 512, 128}, 0.05f),
                      DType::BF16);
    Tensor all = poisoned(DType::BF16, {T, 128, 128}), one = poisoned(DType::BF16, {1, 128, 128});
    gpu().head_matmul(x, w, tr, all);
    Tensor x0 = x.rows(0, 1);
    gpu().head_matmul(x0, w, tr, one);
    auto b_all = bits_bf16(all), b_one = bits_bf16(one);
    EXPECT_TRUE(std::equal(b_one.begin(), b_one.end(), b_all.begin())) << "transposed " << tr;
  }
  Tensor q = upload(random_f32(rng, {T, 128, 192}, 1.f), DType::BF16);
  Tensor w = upload(random_f32(rng, {128, 128, 512}, 0.05f), DType::BF16);
  Tensor all = poisoned(DType::BF16, {T, 128, 576}), one = poisoned(DType::BF16, {1, 128, 576});
  gpu().mla_absorb_q(q, w, all, nullptr, nullptr);
  Tensor q0 = q.rows(0, 1);
  gpu().mla_absorb_q(q0, w, one, nullptr, nullptr);
  auto b_all = bits_bf16(all), b_one = bits_bf16(one);
  EXPECT_TRUE(std::equal(b_one.begin(), b_one.end(), b_all.begin())) << "absorb";
}

}  // namespace
}  // namespace sable
