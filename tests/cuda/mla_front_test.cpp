// The fused MLA front for one decode token (mla_front.cu, opt-in) against
// the unfused ops it replaces, at DeepSeek-V3's shapes, on random data:
//   add_rms_norm -> linear (FP8, fused q_a | kv_a) -> rms_norm -> linear (FP8, q_b).
// The residual update and the norms are the same arithmetic (bitwise); the
// projections sum in another order on CUDA cores than the streaming kernel's
// mma, so qkv and q compare within 1e-2 (norm-wise; bf16 rounding is 2^-9).
// A captured graph replayed twice checks the grid barrier's reset.
#include "backend/cuda/mla_front.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cuda/gemm.h"
#include "backend/cuda/ops.h"
#include "core/dtype.h"

namespace sable {
namespace {

#define CK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

struct Dev {
  void* p = nullptr;
  explicit Dev(size_t bytes) { EXPECT_EQ(cudaMalloc(&p, bytes ? bytes : 1), cudaSuccess); }
  ~Dev() { cudaFree(p); }
};

LinearWeight rand_fp8_weight(std::mt19937& rng, int64_t r, int64_t c) {
  LinearWeight w;
  w.weight = Tensor::empty(DType::F8_E4M3, {r, c});
  std::normal_distribution<float> nd(0.f, 100.f);
  for (int64_t i = 0; i < r * c; ++i) w.weight.ptr<uint8_t>()[i] = f32_to_fp8_e4m3(nd(rng));
  const int64_t rb = (r + 127) / 128, cb = (c + 127) / 128;
  w.scale_inv = Tensor::empty(DType::F32, {rb, cb});
  std::uniform_real_distribution<float> ud(2.5e-4f, 7.5e-4f);
  for (int64_t i = 0; i < rb * cb; ++i) w.scale_inv.ptr<float>()[i] = ud(rng);
  return w;
}

void upload(Dev& d, const void* src, size_t bytes) {
  EXPECT_EQ(cudaMemcpy(d.p, src, bytes, cudaMemcpyHostToDevice), cudaSuccess);
}

double rel_err(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = bf16_to_f32(a[i]), y = bf16_to_f32(b[i]);
    num += (x - y) * (x - y);
    den += y * y;
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

class MlaFrontTest : public ::testing::TestWithParam<bool> {};

TEST_P(MlaFrontTest, MatchesUnfusedOps) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) GTEST_SKIP() << "no CUDA device";
  const bool with_prev = GetParam();
  const int H = 7168, Q = 1536, N1 = 1536 + 576, N2 = 128 * 192;
  const float eps = 1e-6f;
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  cudaStream_t s;
  CK(cudaStreamCreate(&s));

  LinearWeight w1 = rand_fp8_weight(rng, N1, H), w2 = rand_fp8_weight(rng, N2, Q);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::uniform_real_distribution<float> ud(0.5f, 1.5f);
  std::vector<float> residual(H);
  std::vector<uint16_t> prev(H), ln(H), qa_ln(Q);
  for (auto& v : residual) v = nd(rng);
  for (auto& v : prev) v = f32_to_bf16(nd(rng));
  for (auto& v : ln) v = f32_to_bf16(ud(rng));
  for (auto& v : qa_ln) v = f32_to_bf16(ud(rng));

  // The fused kernel's operands: natural FP8 rows and [row block][k block] scales.
  Dev d_w1(w1.weight.nbytes()), d_s1(w1.scale_inv.nbytes()), d_w2(w2.weight.nbytes()), d_s2(w2.scale_inv.nbytes());
  upload(d_w1, w1.weight.data(), w1.weight.nbytes());
  upload(d_s1, w1.scale_inv.data(), w1.scale_inv.nbytes());
  upload(d_w2, w2.weight.data(), w2.weight.nbytes());
  upload(d_s2, w2.scale_inv.data(), w2.scale_inv.nbytes());
  Dev d_res(H * 4), d_res_ref(H * 4), d_prev(H * 2), d_ln(H * 2), d_qaln(Q * 2), d_qkv(N1 * 2), d_q(N2 * 2), d_bar(8),
      d_h(H * 2), d_qkv_ref(N1 * 2), d_qan(Q * 2), d_q_ref(N2 * 2);
  upload(d_res, residual.data(), H * 4);
  upload(d_res_ref, residual.data(), H * 4);
  upload(d_prev, prev.data(), H * 2);
  upload(d_ln, ln.data(), H * 2);
  upload(d_qaln, qa_ln.data(), Q * 2);
  CK(cudaMemset(d_bar.p, 0, 8));

  cuda::MlaFrontArgs a;
  a.residual = static_cast<float*>(d_res.p);
  a.prev = with_prev ? static_cast<const __nv_bfloat16*>(d_prev.p) : nullptr;
  a.ln = static_cast<const __nv_bfloat16*>(d_ln.p);
  a.w1 = static_cast<const uint8_t*>(d_w1.p);
  a.s1 = static_cast<const float*>(d_s1.p);
  a.s1_ld = w1.scale_inv.dim(1);
  a.qa_ln = static_cast<const __nv_bfloat16*>(d_qaln.p);
  a.w2 = static_cast<const uint8_t*>(d_w2.p);
  a.s2 = static_cast<const float*>(d_s2.p);
  a.s2_ld = w2.scale_inv.dim(1);
  a.qkv = static_cast<__nv_bfloat16*>(d_qkv.p);
  a.q = static_cast<__nv_bfloat16*>(d_q.p);
  a.H = H;
  a.Q = Q;
  a.N1 = N1;
  a.N2 = N2;
  a.eps = eps;
  const int grid = cuda::mla_front_grid(N1);
  a.w2_smem_rows = std::min((N2 + grid - 1) / grid, cuda::mla_front_max_smem_rows(Q));
  a.bar_count = static_cast<unsigned*>(d_bar.p);
  a.bar_gen = a.bar_count + 1;
  if (!cuda::mla_front_supported(a)) GTEST_SKIP() << "fewer than " << grid << " SMs";

  // Unfused, on a copy of the residual.
  cuda::prepare_linear(w1, false, s);
  cuda::prepare_linear(w2, false, s);
  Tensor t_res(d_res_ref.p, DType::F32, {1, H}, Device::kCUDA), t_prev(d_prev.p, DType::BF16, {1, H}, Device::kCUDA),
      t_ln(d_ln.p, DType::BF16, {H}, Device::kCUDA), t_h(d_h.p, DType::BF16, {1, H}, Device::kCUDA),
      t_qkv(d_qkv_ref.p, DType::BF16, {1, N1}, Device::kCUDA), t_qa(d_qkv_ref.p, DType::BF16, {1, Q}, Device::kCUDA),
      t_qaln(d_qaln.p, DType::BF16, {Q}, Device::kCUDA), t_qan(d_qan.p, DType::BF16, {1, Q}, Device::kCUDA),
      t_q(d_q_ref.p, DType::BF16, {1, N2}, Device::kCUDA);
  if (with_prev)
    cuda::add_rms_norm(t_res, t_prev, t_ln, eps, t_h, s);
  else
    cuda::rms_norm(t_res, t_ln, eps, t_h, s);
  cuda::linear(t_h, w1, t_qkv, s);
  cuda::rms_norm(t_qa, t_qaln, eps, t_qan, s);
  cuda::linear(t_qan, w2, t_q, s);

  cuda::mla_front(a, s);
  CK(cudaStreamSynchronize(s));
  CK(cudaGetLastError());

  std::vector<float> res(H), res_ref(H);
  std::vector<uint16_t> qkv(N1), qkv_ref(N1), q(N2), q_ref(N2);
  CK(cudaMemcpy(res.data(), d_res.p, H * 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(res_ref.data(), d_res_ref.p, H * 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(qkv.data(), d_qkv.p, N1 * 2, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(qkv_ref.data(), d_qkv_ref.p, N1 * 2, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(q.data(), d_q.p, N2 * 2, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(q_ref.data(), d_q_ref.p, N2 * 2, cudaMemcpyDeviceToHost));
  EXPECT_EQ(std::memcmp(res.data(), res_ref.data(), H * 4), 0) << "seed " << seed << ": the residual update";
  const double e1 = rel_err(qkv, qkv_ref), e2 = rel_err(q, q_ref);
  std::printf("mla_front prev=%d: qkv rel err %.3g, q rel err %.3g\n", int(with_prev), e1, e2);
  EXPECT_LT(e1, 1e-2) << "seed " << seed;
  EXPECT_LT(e2, 1e-2) << "seed " << seed;

  // Replays of a captured graph (the residual restored first, and without
  // the add so that the input is the same each time): the same bits.
  a.prev = nullptr;
  upload(d_res, residual.data(), H * 4);
  cudaGraph_t g;
  cudaGraphExec_t ge;
  CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  cuda::mla_front(a, s);
  CK(cudaStreamEndCapture(s, &g));
  CK(cudaGraphInstantiate(&ge, g, 0));
  std::vector<uint16_t> q1(N2), q2(N2);
  CK(cudaGraphLaunch(ge, s));
  CK(cudaStreamSynchronize(s));
  CK(cudaMemcpy(q1.data(), d_q.p, N2 * 2, cudaMemcpyDeviceToHost));
  CK(cudaGraphLaunch(ge, s));
  CK(cudaStreamSynchronize(s));
  CK(cudaMemcpy(q2.data(), d_q.p, N2 * 2, cudaMemcpyDeviceToHost));
  EXPECT_EQ(std::memcmp(q1.data(), q2.data(), N2 * 2), 0) << "graph replays differ";
  cudaGraphExecDestroy(ge);
  cudaGraphDestroy(g);
  cudaStreamDestroy(s);
}

INSTANTIATE_TEST_SUITE_P(Prev, MlaFrontTest, ::testing::Values(false, true));

}  // namespace
}  // namespace sable
