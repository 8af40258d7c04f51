// FP8 forms of W_UK / W_UV (model/head_weights_fp8.h): the split of an FP8
// kv_b_proj keeps its bytes and block scales, so the halves dequantize to
// exactly what the loader's BF16/F32 split computes from the same weight; the
// split refuses blocks that straddle a head; the quantizer's blocks
// dequantize within e4m3's rounding.
#include "model/head_weights_fp8.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/dtype.h"

namespace sable {
namespace {

LinearWeight random_fp8_kv_b(std::mt19937_64& rng, int64_t rows, int64_t r, int block) {
  LinearWeight w;
  w.block_out = w.block_in = block;
  w.weight = Tensor::empty(DType::F8_E4M3, {rows, r});
  for (int64_t i = 0; i < rows * r; ++i) w.weight.ptr<uint8_t>()[i] = uint8_t(rng() % 0x7f) | uint8_t(rng() % 2 << 7);
  const int64_t rb = (rows + block - 1) / block, cb = (r + block - 1) / block;
  w.scale_inv = Tensor::empty(DType::F32, {rb, cb});
  for (int64_t i = 0; i < rb * cb; ++i) w.scale_inv.ptr<float>()[i] = float(1 + rng() % 1000) * 1e-6f;
  return w;
}

TEST(HeadWeightsFp8, SplitKeepsTheCheckpointsBlocks) {
  std::mt19937_64 rng(5);
  const int64_t heads = 3, nope = 128, v = 256, r = 384;
  const LinearWeight kvb = random_fp8_kv_b(rng, heads * (nope + v), r, 128);
  const auto f = split_kv_b_proj_fp8(kvb, heads, nope, v);
  ASSERT_TRUE(f.has_value());
  const HeadWeightFp8& uk = f->first;
  const HeadWeightFp8& uv = f->second;
  ASSERT_EQ(uk.w.shape(), Shape({heads, nope, r}));
  ASSERT_EQ(uv.w.shape(), Shape({heads, v, r}));
  ASSERT_EQ(uk.scale.shape(), Shape({heads, 1, 3}));
  ASSERT_EQ(uv.scale.shape(), Shape({heads, 2, 3}));
  // Every element dequantizes as the loader dequantizes kv_b_proj's row.
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t j = 0; j < nope + v; ++j)
      for (int64_t c = 0; c < r; ++c) {
        const int64_t row = h * (nope + v) + j;
        const float want = fp8_e4m3_to_f32(kvb.weight.ptr<uint8_t>()[row * r + c]) *
                           kvb.scale_inv.ptr<float>()[(row / 128) * 3 + c / 128];
        const HeadWeightFp8& w = j < nope ? uk : uv;
        const int64_t jj = j < nope ? j : j - nope, R = j < nope ? nope : v;
        const float got = fp8_e4m3_to_f32(w.w.ptr<uint8_t>()[(h * R + jj) * r + c]) *
                          w.scale.ptr<float>()[(h * (R / 128) + jj / 128) * 3 + c / 128];
        ASSERT_EQ(got, want) << h << " " << j << " " << c;
      }
}

TEST(HeadWeightsFp8, SplitRefusesBlocksAcrossHeads) {
  std::mt19937_64 rng(6);
  // tiny-dsv3's halves (32 + 32 rows): a 128-row block holds two heads.
  EXPECT_FALSE(split_kv_b_proj_fp8(random_fp8_kv_b(rng, 4 * 64, 64, 128), 4, 32, 32).has_value());
  EXPECT_FALSE(split_kv_b_proj_fp8(random_fp8_kv_b(rng, 2 * 256, 256, 64), 2, 128, 128).has_value());
  LinearWeight bf;
  bf.weight = Tensor::empty(DType::BF16, {512, 256});
  EXPECT_FALSE(split_kv_b_proj_fp8(bf, 2, 128, 128).has_value());
}

TEST(HeadWeightsFp8, QuantizedBlocksDequantizeWithinE4m3Rounding) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> nd(0.f, 0.05f);
  const int64_t heads = 2, R = 200, C = 136;  // ragged blocks at both edges
  Tensor w = Tensor::empty(DType::F32, {heads, R, C});
  for (int64_t i = 0; i < w.numel(); ++i) w.ptr<float>()[i] = nd(rng);
  for (int64_t r = 128; r < R; ++r)  // head 1's second row block, first column block: all zeros
    for (int64_t c = 0; c < 128; ++c) w.ptr<float>()[(R + r) * C + c] = 0.f;
  const HeadWeightFp8 q = quantize_head_weight_fp8(w);
  ASSERT_EQ(q.scale.shape(), Shape({heads, 2, 2}));
  EXPECT_EQ(q.scale.ptr<float>()[(1 * 2 + 1) * 2 + 0], 1.f);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t bi = 0; bi < 2; ++bi)
      for (int64_t bj = 0; bj < 2; ++bj) {
        const float s = q.scale.ptr<float>()[(h * 2 + bi) * 2 + bj];
        float amax = 0.f;
        for (int64_t r = bi * 128; r < std::min<int64_t>(R, bi * 128 + 128); ++r)
          for (int64_t c = bj * 128; c < std::min<int64_t>(C, bj * 128 + 128); ++c) {
            const float x = w.ptr<float>()[(h * R + r) * C + c];
            const float y = fp8_e4m3_to_f32(q.w.ptr<uint8_t>()[(h * R + r) * C + c]) * s;
            amax = std::max(amax, std::fabs(x));
            // e4m3: 3 mantissa bits (half an ulp = 2^-4 relative) for normals,
            // an absolute 2^-10 x scale below 2^-6.
            ASSERT_LE(std::fabs(y - x), std::max(std::fabs(x) * 0.0625f, s * 0.001f)) << h << " " << r << " " << c;
          }
        if (amax > 0) EXPECT_FLOAT_EQ(s, amax / 448.f);
      }
}

}  // namespace
}  // namespace sable
