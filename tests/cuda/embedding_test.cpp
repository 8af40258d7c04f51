// CUDA embedding against cpu::embedding: a row copy, so the result is exact
// (BF16 table -> BF16 or F32 output loses nothing).
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
    cpu::embedding(hids, table, ref);
    Tensor dtable = upload(table, DType::BF16), dids = upload_i32(ids);
    for (DType od : {DType::BF16, DType::F32}) {
      Tensor out = poisoned(od, {T, H});
      gpu().embedding(dids, dtable, out);
      EXPECT_EQ(rel_err(download_f32(out), ref.ptr<float>(), size_t(T * H)), 0.0) << V << "x" << H;
    }
  }
}

}  // namespace
}  // namespace sable
