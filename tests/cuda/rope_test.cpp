// CUDA rope against the CPU reference, with YaRN-like inverse frequencies,
// interleaved and half-split pairs, positions up to 160K. Bound 8e-3: inputs
// bf16-exact, fp32 rotation (cos/sin within 2 ulp of the CPU's), one bf16
// rounding of the output; only the rotated slice may change.
#include <cmath>

#include "backend/cpu/ops.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

std::vector<float> yarn_like_inv_freq(int rope_dim) {
  std::vector<float> f(size_t(rope_dim / 2));
  for (int i = 0; i < rope_dim / 2; ++i) {
    const float base = std::pow(10000.f, -2.f * i / float(rope_dim));
    f[size_t(i)] = i < rope_dim / 8 ? base : base / 40.f;  // extrapolated head, interpolated tail
  }
  return f;
}

TEST(CudaRope, MatchesCpu) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (bool interleaved : {true, false}) {
    for (auto [T, heads, stride, offset, rope_dim] :
         {std::tuple{9, 128, 192, 128, 64}, std::tuple{3, 4, 48, 32, 16}, std::tuple{5, 1, 64, 0, 64}}) {
      Tensor x = random_f32(rng, {T, heads, stride}, 1.f);
      std::vector<int32_t> pos(static_cast<size_t>(T));
      for (auto& p : pos) p = int32_t(rng() % 163840);
      pos[0] = 0;
      auto inv = yarn_like_inv_freq(rope_dim);
      RopeParams hp;
      hp.inv_freq = Tensor::empty(DType::F32, {int64_t(inv.size())});
      std::copy(inv.begin(), inv.end(), hp.inv_freq.ptr<float>());
      hp.attention_factor = 1.1f;
      hp.interleaved = interleaved;
      RopeParams dp = hp;
      dp.inv_freq = gpu().to_device(hp.inv_freq);
      Tensor hpos = Tensor::empty(DType::I32, {T});
      std::copy(pos.begin(), pos.end(), hpos.ptr<int32_t>());
      Tensor ref = Tensor::empty(DType::F32, x.shape());
      std::copy(x.ptr<float>(), x.ptr<float>() + x.numel(), ref.ptr<float>());
      cpu::rope(ref, offset, rope_dim, hpos, hp);
      Tensor dx = upload(x, DType::BF16);
      gpu().rope(dx, offset, rope_dim, upload_i32(pos), dp);
      auto got = download_f32(dx);
      EXPECT_LT(rel_err(got, ref.ptr<float>(), size_t(x.numel())), 8e-3) << "interleaved " << interleaved;
      // Outside the rotated slice nothing changes.
      for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t c = i % stride;
        if (c < offset || c >= offset + rope_dim) ASSERT_EQ(got[size_t(i)], x.ptr<float>()[i]) << i;
      }
    }
  }
}

}  // namespace
}  // namespace sable
