// CUDA MoE routing (noaux_tc) against cpu::moe_route: the same experts in
// the same order, and weights within 1e-5 relative (fp32 on both sides; the
// sigmoid's expf may differ by an ulp). Random normal logits have no exact
// ties, so the choices must agree exactly.
#include <cmath>
#include <cstring>
#include <set>

#include "backend/cpu/ops.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

TEST(CudaMoeRoute, MatchesCpu) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  struct Case { int T, E, K, G, TG; bool norm; float scale; bool bias; int S = 0; };
  for (Case c : {Case{1, 256, 8, 8, 4, true, 2.5f, true, 1}, Case{300, 256, 8, 8, 4, true, 2.5f, true},
                 Case{17, 16, 4, 4, 2, true, 2.5f, true, 2}, Case{9, 64, 6, 1, 1, false, 1.f, false},
                 Case{5, 160, 6, 8, 3, true, 16.f, true}, Case{3, 64, 20, 8, 2, true, 1.f, true},
                 Case{2, 1024, 8, 32, 4, true, 2.5f, true, 1}}) {
    const int KS = c.K + c.S;
    Tensor logits = random_f32(rng, {c.T, c.E}, 2.f, DType::F32);
    Tensor bias = c.bias ? random_f32(rng, {c.E}, 0.1f, DType::F32) : Tensor();
    MoeRoutingParams p{c.E, c.K, c.G, c.TG, c.norm, c.scale, c.S};
    Tensor ids = Tensor::empty(DType::I32, {c.T, KS}), w = Tensor::empty(DType::F32, {c.T, KS});
    cpu::moe_route(logits, bias, p, ids, w);
    Tensor dids = poisoned(DType::I32, {c.T, KS}), dw = poisoned(DType::F32, {c.T, KS});
    gpu().moe_route(upload(logits, DType::F32), c.bias ? upload(bias, DType::F32) : Tensor(), p, dids, dw);
    auto gids = download_i32(dids);
    auto gw = download_f32(dw);
    for (int64_t i = 0; i < c.T * KS; ++i) ASSERT_EQ(gids[size_t(i)], ids.ptr<int32_t>()[i]) << "E " << c.E << " at " << i;
    EXPECT_LT(rel_err(gw, w.ptr<float>(), size_t(c.T * KS)), 1e-5);
    for (int64_t t = 0; t < c.T; ++t)  // the shared experts' columns
      for (int j = 0; j < c.S; ++j) {
        EXPECT_EQ(gids[size_t(t * KS + c.K + j)], c.E + j);
        EXPECT_EQ(gw[size_t(t * KS + c.K + j)], 1.f);
      }
  }
}

// NaN logits (an overflow upstream) rank last on both sides: the ids stay
// distinct real experts, since the experts kernel indexes weights by them,
// and match the CPU's. Row 0 is all NaN, row 1 half NaN, row 2 one NaN.
TEST(CudaMoeRoute, NanLogitsStillPickDistinctRealExperts) {
  SABLE_REQUIRE_GPU();
  std::mt19937_64 rng(fresh_seed());
  const int T = 3, E = 256, K = 8, S = 1, KS = K + S;
  Tensor logits = random_f32(rng, {T, E}, 2.f, DType::F32);
  float* lg = logits.ptr<float>();
  for (int e = 0; e < E; ++e) {
    lg[e] = NAN;
    if (e % 2) lg[E + e] = NAN;
  }
  lg[2 * E + 5] = NAN;
  Tensor bias = random_f32(rng, {E}, 0.1f, DType::F32);
  MoeRoutingParams p{E, K, 8, 4, true, 2.5f, S};
  Tensor ids = Tensor::empty(DType::I32, {T, KS}), w = Tensor::empty(DType::F32, {T, KS});
  cpu::moe_route(logits, bias, p, ids, w);
  Tensor dids = poisoned(DType::I32, {T, KS}), dw = poisoned(DType::F32, {T, KS});
  gpu().moe_route(upload(logits, DType::F32), upload(bias, DType::F32), p, dids, dw);
  auto gids = download_i32(dids);
  for (int t = 0; t < T; ++t) {
    std::set<int> seen;
    for (int k = 0; k < K; ++k) {
      const int id = gids[size_t(t * KS + k)];
      EXPECT_EQ(id, ids.ptr<int32_t>()[t * KS + k]) << "row " << t << " column " << k;
      EXPECT_TRUE(id >= 0 && id < E) << id;
      seen.insert(id);
    }
    EXPECT_EQ(seen.size(), size_t(K)) << "row " << t;
    EXPECT_EQ(gids[size_t(t * KS + K)], E);
  }
}

// Expert parallelism: each rank's ids are the same routing as one rank's,
// relative to its first expert, -1 where another rank holds the expert; the
// weights unchanged; the fused shared expert after the rank's own.
TEST(CudaMoeRoute, ExpertParallelIdsAreTheRanksOwn) {
  SABLE_REQUIRE_GPU();
  std::mt19937_64 rng(fresh_seed());
  const int T = 37, E = 256, K = 8, S = 1, KS = K + S, ranks = 8, local = E / ranks;
  Tensor logits = random_f32(rng, {T, E}, 2.f, DType::F32);
  Tensor bias = random_f32(rng, {E}, 0.1f, DType::F32);
  MoeRoutingParams all{E, K, 8, 4, true, 2.5f, S};
  Tensor ids = Tensor::empty(DType::I32, {T, KS}), w = Tensor::empty(DType::F32, {T, KS});
  cpu::moe_route(logits, bias, all, ids, w);
  for (int r : {0, 3, ranks - 1}) {
    MoeRoutingParams p = all;
    p.expert_begin = r * local;
    p.local_experts = local;
    Tensor cids = Tensor::empty(DType::I32, {T, KS}), cw = Tensor::empty(DType::F32, {T, KS});
    cpu::moe_route(logits, bias, p, cids, cw);
    Tensor dids = poisoned(DType::I32, {T, KS}), dw = poisoned(DType::F32, {T, KS});
    gpu().moe_route(upload(logits, DType::F32), upload(bias, DType::F32), p, dids, dw);
    auto gids = download_i32(dids);
    auto gw = download_f32(dw);
    for (int64_t i = 0; i < T * KS; ++i) {
      const int global = ids.ptr<int32_t>()[i];
      const int want = i % KS >= K                                                   ? local + int(i % KS - K)
                       : global >= p.expert_begin && global < p.expert_begin + local ? global - p.expert_begin
                                                                                     : -1;
      ASSERT_EQ(cids.ptr<int32_t>()[i], want) << "CPU, rank " << r << " at " << i;
      ASSERT_EQ(gids[size_t(i)], want) << "GPU, rank " << r << " at " << i;
    }
    EXPECT_EQ(std::memcmp(cw.data(), w.data(), w.nbytes()), 0);
    EXPECT_LT(rel_err(gw, w.ptr<float>(), size_t(T * KS)), 1e-5);
  }
}

}  // namespace
}  // namespace sable
