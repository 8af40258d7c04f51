// CUDA embedding against cpu::embedding: a row copy, so the result is exact
// (BF16 table -> BF16 or F32 output loses nothing).
#include <cstring>

#include "backend/cpu/ops.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

TEST(CudaEmbedding, MatchesCpuExactly) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (auto [V, H, T] : {std::tuple{1000, 256, 7}, std::tuple{129280, 64, 33}, std::tuple{1000, 7168, 9}, std::tuple{50, 100, 5}}) {
    Tensor table = random_f32(rng, {V, H}, 1.f);
    std::vector<int32_t> ids(static_cast<size_t>(T));
    for (auto& id : ids) id = int32_t(rng() % uint64_t(V));
    Tensor hids = Tensor::empty(DType::I32, {T});
    std::copy(ids.begin(), ids.end(), hids.ptr<int32_t>());
    Tensor ref = Tensor::empty(DType::F32, {T, H});
    cpu::embedding(hids, table, 0, ref);
    Tensor dtable = upload(table, DType::BF16), dids = upload_i32(ids);
    for (DType od : {DType::BF16, DType::F32}) {
      Tensor out = poisoned(od, {T, H});
      gpu().embedding(dids, dtable, 0, out);
      EXPECT_EQ(rel_err(download_f32(out), ref.ptr<float>(), size_t(T * H)), 0.0) << V << "x" << H;
    }
    // A tensor-parallel rank's part of the vocabulary: rows [V / 3, 2 V / 3);
    // other ids give zero rows, as on the CPU.
    const int64_t r0 = V / 3, r1 = 2 * V / 3;
    Tensor part = Tensor::empty(DType::F32, {r1 - r0, H});
    std::memcpy(part.data(), table.ptr<float>() + r0 * H, size_t((r1 - r0) * H) * sizeof(float));
    Tensor pref = Tensor::empty(DType::F32, {T, H});
    cpu::embedding(hids, part, r0, pref);
    for (int t = 0; t < T; ++t) {
      const bool mine = ids[size_t(t)] >= r0 && ids[size_t(t)] < r1;
      for (int64_t i = 0; i < H; ++i)
        ASSERT_EQ(pref.ptr<float>()[t * H + i], mine ? ref.ptr<float>()[t * H + i] : 0.f) << "CPU, token " << t;
    }
    Tensor dpart = upload(part, DType::BF16);
    for (DType od : {DType::BF16, DType::F32}) {
      Tensor out = poisoned(od, {T, H});
      gpu().embedding(dids, dpart, r0, out);
      EXPECT_EQ(rel_err(download_f32(out), pref.ptr<float>(), size_t(T * H)), 0.0) << V << "x" << H << " part";
    }
  }
}

}  // namespace
}  // namespace sable
