// CUDA silu_and_mul against the CPU reference. Bound 5e-3: fp32 math on
// bf16-exact inputs, one bf16 rounding of the output (2^-9 relative).
#include "backend/cpu/ops.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

TEST(CudaSiluAndMul, MatchesCpu) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (auto [T, I] : {std::pair{1, 2048}, std::pair{77, 18432}, std::pair{3, 99}}) {
    Tensor g = random_f32(rng, {T, I}, 3.f), u = random_f32(rng, {T, I}, 1.f);
    Tensor ref = Tensor::empty(DType::F32, {T, I});
    cpu::silu_and_mul(g, u, ref);
    Tensor dg = upload(g, DType::BF16), out = poisoned(DType::BF16, {T, I});
    gpu().silu_and_mul(dg, upload(u, DType::BF16), out);
    EXPECT_LT(rel_err(download_f32(out), ref.ptr<float>(), size_t(T * I)), 5e-3);
    gpu().silu_and_mul(dg, upload(u, DType::BF16), dg);  // in place, as the model calls it
    EXPECT_LT(rel_err(download_f32(dg), ref.ptr<float>(), size_t(T * I)), 5e-3);
  }
}

}  // namespace
}  // namespace sable
