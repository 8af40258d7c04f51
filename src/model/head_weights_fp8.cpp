#include "model/head_weights_fp8.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/convert.h"
#include "core/dtype.h"

namespace sable {

namespace {
constexpr int64_t kBlock = 128;
int64_t blocks(int64_t n) { return (n + kBlock - 1) / kBlock; }
}  // namespace

std::optional<std::pair<HeadWeightFp8, HeadWeightFp8>> split_kv_b_proj_fp8(const LinearWeight& kvb, int64_t heads,
                                                                           int64_t nope, int64_t v) {
  if (!kvb.is_fp8() || kvb.block_out != kBlock || kvb.block_in != kBlock || nope % kBlock || v % kBlock)
    return std::nullopt;
  const int64_t rows = heads * (nope + v), r = kvb.in_features(), rb = blocks(r);
  if (kvb.out_features() != rows || kvb.scale_inv.ndim() != 2 || kvb.scale_inv.dim(0) != rows / kBlock ||
      kvb.scale_inv.dim(1) != rb || kvb.scale_inv.dtype() != DType::F32)
    return std::nullopt;
  // One half: rows [off, off + n) of every head.
  auto half = [&](int64_t off, int64_t n) {
    HeadWeightFp8 h{Tensor::empty(DType::F8_E4M3, {heads, n, r}), Tensor::empty(DType::F32, {heads, n / kBlock, rb})};
    for (int64_t hd = 0; hd < heads; ++hd) {
      const int64_t src_row = hd * (nope + v) + off;
      std::memcpy(h.w.ptr<uint8_t>() + hd * n * r, kvb.weight.ptr<uint8_t>() + src_row * r, size_t(n * r));
      std::memcpy(h.scale.ptr<float>() + hd * (n / kBlock) * rb, kvb.scale_inv.ptr<float>() + (src_row / kBlock) * rb,
                  size_t((n / kBlock) * rb) * sizeof(float));
    }
    return h;
  };
  return std::make_pair(half(0, nope), half(nope, v));
}

HeadWeightFp8 quantize_head_weight_fp8(const Tensor& w) {
  const int64_t heads = w.dim(0), R = w.dim(1), C = w.dim(2), Rb = blocks(R), Cb = blocks(C);
  std::vector<float> f(size_t(R * C));
  HeadWeightFp8 out{Tensor::empty(DType::F8_E4M3, {heads, R, C}), Tensor::empty(DType::F32, {heads, Rb, Cb})};
  const size_t esz = dtype_size(w.dtype());
  for (int64_t h = 0; h < heads; ++h) {
    cpu::to_f32(w.ptr<char>() + size_t(h * R * C) * esz, w.dtype(), R * C, f.data());
    for (int64_t bi = 0; bi < Rb; ++bi)
      for (int64_t bj = 0; bj < Cb; ++bj) {
        const int64_t r1 = std::min(R, (bi + 1) * kBlock), c1 = std::min(C, (bj + 1) * kBlock);
        float amax = 0.f;
        for (int64_t i = bi * kBlock; i < r1; ++i)
          for (int64_t j = bj * kBlock; j < c1; ++j) amax = std::max(amax, std::fabs(f[size_t(i * C + j)]));
        const float scale = amax > 0.f ? amax / 448.f : 1.f;
        out.scale.ptr<float>()[(h * Rb + bi) * Cb + bj] = scale;
        for (int64_t i = bi * kBlock; i < r1; ++i)
          for (int64_t j = bj * kBlock; j < c1; ++j)
            out.w.ptr<uint8_t>()[(h * R + i) * C + j] = f32_to_fp8_e4m3(f[size_t(i * C + j)] / scale);
      }
  }
  return out;
}

}  // namespace sable
