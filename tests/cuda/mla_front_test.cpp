// The fused MLA front for one decode token (mla_front.cu, opt-in: knob
// mla-front) against the unfused ops it replaces, at DeepSeek-V3's shapes, on
// random data, through the CUDA backend (its knob, shape checks and grid
// barrier words included):
//   add_rms_norm -> linear (FP8, fused q_a | kv_a) -> rms_norm -> linear (FP8, q_b).
// The residual update and the norms are the same arithmetic (bitwise); the
// projections sum in another order than the streaming kernel, so qkv and q
// compare within 1e-2 (norm-wise; bf16 rounding is 2^-9). A captured graph
// replayed twice checks the grid barrier's reset.
#include <gtest/gtest.h>

#include "backend/cuda/device_info.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/knobs.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

class MlaFrontTest : public ::testing::TestWithParam<bool> {};

TEST_P(MlaFrontTest, MatchesUnfusedOps) {
  SABLE_REQUIRE_GPU();
  const bool with_prev = GetParam();
  const int64_t H = 7168, Q = 1536, N1 = 1536 + 576, N2 = 128 * 192;
  if (cuda::sm_count() < N1 / 16) GTEST_SKIP() << "fewer than " << N1 / 16 << " SMs";
  const float eps = 1e-6f;
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  cuda::CudaBackend& be = gpu();

  LinearWeight w1, w2;  // prepared FP8 weights with 128 x 128 block scales
  cuda::make_random_linear(w1, N1, H, true, seed, be.stream());
  cuda::make_random_linear(w2, N2, Q, true, seed + 1, be.stream());
  const Tensor residual = random_f32(rng, {1, H}, 1.f, DType::F32);
  const Tensor prev = upload(random_f32(rng, {1, H}, 1.f), DType::BF16);
  const Tensor ln = upload(random_f32(rng, {H}, 1.f), DType::BF16);
  const Tensor qa_ln = upload(random_f32(rng, {Q}, 1.f), DType::BF16);

  // Unfused, on a copy of the residual.
  Tensor res_ref = upload(residual, DType::F32), h = poisoned(DType::BF16, {1, H});
  Tensor qkv_ref = poisoned(DType::BF16, {1, N1}), qan = poisoned(DType::BF16, {1, Q});
  Tensor q_ref = poisoned(DType::BF16, {1, N2});
  if (with_prev)
    be.add_rms_norm(res_ref, prev, ln, eps, h);
  else
    be.rms_norm(res_ref, ln, eps, h);
  be.linear(h, w1, qkv_ref);
  be.rms_norm(Tensor(qkv_ref.data(), DType::BF16, {1, Q}, Device::kCUDA), qa_ln, eps, qan);
  be.linear(qan, w2, q_ref);

  // Fused.
  ASSERT_TRUE(cuda::set_knob("mla-front", 1));
  Tensor res = upload(residual, DType::F32), qkv = poisoned(DType::BF16, {1, N1}), q = poisoned(DType::BF16, {1, N2});
  const bool ran = be.mla_front(res, with_prev ? &prev : nullptr, ln, eps, w1, qa_ln, w2, qkv, q);
  if (!ran) (void)cuda::set_knob("mla-front", 0);
  ASSERT_TRUE(ran) << "the backend declined DeepSeek-V3's shapes";

  EXPECT_EQ(download_f32(res), download_f32(res_ref)) << "the residual update";
  const double e1 = rel_err(download_f32(qkv), download_f32(qkv_ref));
  const double e2 = rel_err(download_f32(q), download_f32(q_ref));
  std::printf("mla_front prev=%d: qkv rel err %.3g, q rel err %.3g\n", int(with_prev), e1, e2);
  EXPECT_LT(e1, 1e-2);
  EXPECT_LT(e2, 1e-2);

  // Replays of a captured graph (without the add, so that the input is the
  // same each time): the same bits.
  res = upload(residual, DType::F32);
  auto graph = be.capture_graph([&] { be.mla_front(res, nullptr, ln, eps, w1, qa_ln, w2, qkv, q); }, 0);
  (void)cuda::set_knob("mla-front", 0);
  ASSERT_TRUE(graph);
  be.replay_graph(graph.get());
  const std::vector<float> q1 = download_f32(q);
  be.replay_graph(graph.get());
  EXPECT_EQ(download_f32(q), q1) << "graph replays differ";
}

INSTANTIATE_TEST_SUITE_P(Prev, MlaFrontTest, ::testing::Values(false, true));

}  // namespace
}  // namespace sable
