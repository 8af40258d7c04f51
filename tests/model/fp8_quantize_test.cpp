// quantize_fp8_blocks (--quantization fp8 on the CPU) against its definition:
// per 128 x 128 block, scale = amax / 448 (1 for an all-zero block) and
// value = e4m3(w / scale), the division as written (the CUDA quantizer and
// DeepSeek-V3's own use it too; a reciprocal multiply differs at ties). Bit
// for bit, at shapes with partial blocks.
#include "model/fp8_quantize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "core/rng.h"

namespace sable {
namespace {

float bf16_value(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

TEST(Fp8Quantize, BlocksMatchTheDefinitionBitForBit) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{256, 384}, {200, 300}, {1, 130}, {129, 7}}) {
    LinearWeight w;
    w.weight = Tensor::empty(DType::BF16, {rows, cols});
    auto* d = w.weight.ptr<uint16_t>();
    for (int64_t i = 0; i < rows * cols; ++i) {
      // Values across many binades, so that some land in e4m3's subnormals.
      const uint64_t h = hash_counter(7, uint64_t(rows * 1000 + cols), uint64_t(i));
      const float v = (uniform01(h) - 0.5f) * std::ldexp(1.f, int(h >> 59) - 8);
      d[i] = f32_to_bf16(v);
    }
    // An all-zero block (the first), whose scale is 1.
    for (int64_t r = 0; r < std::min<int64_t>(rows, 128); ++r)
      for (int64_t c = 0; c < std::min<int64_t>(cols, 128); ++c) d[r * cols + c] = 0;
    // A block of amax 0.02392578125 (scale 5.340576171875e-05) whose values divide to exactly 1.5625, the tie
    // between e4m3's 1.5 and 1.625 (even: 1.5); times the scale's f32 reciprocal they give 1.5625001, which
    // rounds up. Both numbers are exact in bf16 (found by search).
    if (cols > 128)
      for (int64_t r = 0; r < std::min<int64_t>(rows, 128); ++r)
        for (int64_t c = 128; c < std::min<int64_t>(cols, 256); ++c)
          d[r * cols + c] = f32_to_bf16(r == 0 && c == 128 ? 0.02392578125f : 8.344650268554688e-05f);
    const LinearWeight q = quantize_fp8_blocks(w);
    ASSERT_EQ(q.weight.dtype(), DType::F8_E4M3);
    const int64_t bo = (rows + 127) / 128, bi = (cols + 127) / 128;
    ASSERT_EQ(q.scale_inv.shape(), Shape({bo, bi}));
    for (int64_t br = 0; br < bo; ++br)
      for (int64_t bc = 0; bc < bi; ++bc) {
        float amax = 0;
        for (int64_t r = br * 128; r < std::min(rows, br * 128 + 128); ++r)
          for (int64_t c = bc * 128; c < std::min(cols, bc * 128 + 128); ++c)
            amax = std::max(amax, std::fabs(bf16_value(d[r * cols + c])));
        const float scale = amax > 0 ? amax / 448.f : 1.f;
        ASSERT_EQ(q.scale_inv.ptr<float>()[br * bi + bc], scale) << rows << "x" << cols << " block " << br << "," << bc;
        for (int64_t r = br * 128; r < std::min(rows, br * 128 + 128); ++r)
          for (int64_t c = bc * 128; c < std::min(cols, bc * 128 + 128); ++c)
            ASSERT_EQ(q.weight.ptr<uint8_t>()[r * cols + c], f32_to_fp8_e4m3(bf16_value(d[r * cols + c]) / scale))
                << rows << "x" << cols << " at " << r << "," << c;
      }
  }
}

}  // namespace
}  // namespace sable
