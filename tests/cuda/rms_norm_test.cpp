// CUDA rms_norm and add_rms_norm against the CPU reference.
// Bound 8e-3 (norm-wise): inputs are bf16-exact in both; the GPU sums squares
// in fp32 (the CPU in double: ~1e-7 apart) and rounds the output to bf16
// (relative 2^-9 = 2e-3 per element, ~1.1e-3 rms). With a BF16 residual the
// residual itself is rounded before the norm (another 2^-9), hence the same
// bound with room; with an F32 residual the residual must match to 1e-6.
#include "backend/cpu/ops.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

TEST(CudaRmsNorm, MatchesCpu) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (auto [T, D] : {std::pair{1, 7168}, std::pair{37, 7168}, std::pair{64, 1536}, std::pair{5, 100}, std::pair{3, 512}}) {
    Tensor x = random_f32(rng, {T, D}, 2.f), w = random_f32(rng, {D}, 1.f);
    Tensor ref = Tensor::empty(DType::F32, {T, D});
    cpu::rms_norm(x, w, 1e-6f, ref);
    for (DType od : {DType::BF16, DType::F32}) {
      Tensor out = poisoned(od, {T, D});
      gpu().rms_norm(upload(x, DType::BF16), upload(w, DType::BF16), 1e-6f, out);
      double err = rel_err(download_f32(out), ref.ptr<float>(), size_t(T * D));
      EXPECT_LT(err, od == DType::F32 ? 1e-5 : 8e-3) << T << "x" << D;
    }
  }
}

TEST(CudaAddRmsNorm, MatchesCpuWithF32AndBf16Residual) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (auto [T, D] : {std::pair{1, 7168}, std::pair{19, 7168}, std::pair{4, 256}, std::pair{3, 100}}) {
    for (DType rd : {DType::F32, DType::BF16}) {
      Tensor r = random_f32(rng, {T, D}, 3.f), x = random_f32(rng, {T, D}, 1.f), w = random_f32(rng, {D}, 1.f);
      Tensor rref = Tensor::empty(DType::F32, {T, D});
      std::copy(r.ptr<float>(), r.ptr<float>() + T * D, rref.ptr<float>());
      Tensor ref = Tensor::empty(DType::F32, {T, D});
      cpu::add_rms_norm(rref, x, w, 1e-6f, ref);
      Tensor dr = upload(r, rd), out = poisoned(DType::BF16, {T, D});
      gpu().add_rms_norm(dr, upload(x, DType::BF16), upload(w, DType::BF16), 1e-6f, out);
      EXPECT_LT(rel_err(download_f32(dr), rref.ptr<float>(), size_t(T * D)), rd == DType::F32 ? 1e-6 : 4e-3)
          << "residual " << dtype_name(rd);
      EXPECT_LT(rel_err(download_f32(out), ref.ptr<float>(), size_t(T * D)), 8e-3) << "residual " << dtype_name(rd);
    }
  }
}

}  // namespace
}  // namespace sable
