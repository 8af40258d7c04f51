// CUDA add_inplace, gather_rows, copy_columns and convert against the CPU reference.
// add_inplace: F32 exact (1e-7); BF16 one rounding of the sum (bound 4e-3).
// gather_rows, copy_columns: byte copies (exact). convert: elementwise roundings must agree
// bit for bit with core's scalar conversions (both round to nearest even,
// FP8 saturating).
#include <cstring>

#include "backend/cpu/ops.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

TEST(CudaAddInplace, MatchesCpu) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int64_t n : {int64_t(7168 * 3), int64_t(1001)}) {
    Tensor a = random_f32(rng, {n}, 1.f), b = random_f32(rng, {n}, 1.f);
    Tensor ref = Tensor::empty(DType::F32, {n});
    std::copy(a.ptr<float>(), a.ptr<float>() + n, ref.ptr<float>());
    cpu::add_inplace(ref, b);
    for (DType dt : {DType::F32, DType::BF16}) {
      Tensor da = upload(a, dt);
      gpu().add_inplace(da, upload(b, dt));
      EXPECT_LT(rel_err(download_f32(da), ref.ptr<float>(), size_t(n)), dt == DType::F32 ? 1e-7 : 4e-3);
    }
  }
}

TEST(CudaGatherRows, CopiesRows) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (auto [T, D, N] : {std::tuple{40, 7168, 9}, std::tuple{5, 3, 7}}) {
    Tensor x = random_f32(rng, {T, D}, 1.f);
    std::vector<int32_t> idx(static_cast<size_t>(N));
    for (auto& i : idx) i = int32_t(rng() % uint64_t(T));
    Tensor hidx = Tensor::empty(DType::I32, {N});
    std::copy(idx.begin(), idx.end(), hidx.ptr<int32_t>());
    Tensor ref = Tensor::empty(DType::F32, {N, D});
    cpu::gather_rows(x, hidx, ref);
    for (DType dt : {DType::BF16, DType::F32}) {
      Tensor out = poisoned(dt, {N, D});
      gpu().gather_rows(upload(x, dt), upload_i32(idx), out);
      EXPECT_EQ(rel_err(download_f32(out), ref.ptr<float>(), size_t(N * D)), 0.0);
    }
  }
}

TEST(CudaCopyColumns, CopiesColumns) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  // The fused q_a / kv_a output's parts (16-byte words), and odd offsets (bytes).
  for (auto [T, D, c0, n] : {std::tuple{7, 2112, 0, 1536}, std::tuple{7, 2112, 1536, 576}, std::tuple{3, 37, 5, 11}}) {
    Tensor x = random_f32(rng, {T, D}, 1.f);
    Tensor ref = Tensor::empty(DType::F32, {T, n});
    cpu::copy_columns(x, c0, ref);
    for (DType dt : {DType::BF16, DType::F32}) {
      Tensor out = poisoned(dt, {T, n});
      gpu().copy_columns(upload(x, dt), c0, out);
      EXPECT_EQ(rel_err(download_f32(out), ref.ptr<float>(), size_t(T * n)), 0.0) << "D " << D << " col0 " << c0;
    }
  }
}

TEST(CudaConvert, MatchesCoreRoundingBitForBit) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const DType types[] = {DType::F32, DType::BF16, DType::F16, DType::F8_E4M3};
  for (int64_t n : {int64_t(4096), int64_t(333)}) {
    // Wide range: subnormals of each type, values past fp8's 448 (saturate).
    Tensor src = random_f32(rng, {n}, 1.f, DType::F32);
    for (int64_t i = 0; i < n; ++i) src.ptr<float>()[i] *= std::ldexp(1.f, int(rng() % 24) - 14);
    for (DType from : types)
      for (DType to : types) {
        Tensor hs = host_as(src, from);  // the source as stored
        Tensor ref = Tensor::empty(to, {n});
        cpu::convert(hs, ref);
        Tensor d = poisoned(to, {n});
        gpu().convert(gpu().to_device(hs), d);
        std::vector<uint8_t> got(d.nbytes());
        gpu().copy_to_host(d, got.data());
        EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.nbytes()), 0) << dtype_name(from) << " -> " << dtype_name(to);
      }
  }
}

}  // namespace
}  // namespace sable
