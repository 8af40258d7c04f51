// CUDA MoE routing (noaux_tc) against cpu::moe_route: the same experts in
// the same order, and weights within 1e-5 relative (fp32 on both sides; the
// sigmoid's expf may differ by an ulp). Random normal logits have no exact
// ties, so the choices must agree exactly.
//
// The fused gate (expert_gate.cu: router logits and routing in one launch)
// against a float64 router on the host (logits within 1e-5 relative) and
// cpu::moe_route of the GPU's own logits (the same experts exactly); a second
// launch and a graph replay give the same bits (the arrival counter resets).
#include "backend/cpu/ops.h"
#include "backend/cuda/ops.h"
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

TEST(CudaExpertGate, MatchesRouterThenRoute) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  struct Case { int T, E, K, G, TG, S; int64_t H; bool bias; };
  // T = 2: not fused (linear + moe_route), held to the same checks.
  for (Case c : {Case{1, 256, 8, 8, 4, 1, 7168, true}, Case{1, 256, 8, 8, 4, 0, 7168, true},
                 Case{1, 64, 6, 1, 1, 0, 1024, false}, Case{1, 160, 6, 8, 3, 2, 2048, true},
                 Case{2, 256, 8, 8, 4, 1, 7168, true}}) {
    SCOPED_TRACE("T " + std::to_string(c.T) + " E " + std::to_string(c.E) + " H " + std::to_string(c.H));
    const int KS = c.K + c.S;
    Tensor x = random_f32(rng, {c.T, c.H}, 1.f), wf = random_f32(rng, {c.E, c.H}, 0.05f);
    Tensor bias = c.bias ? random_f32(rng, {c.E}, 0.1f, DType::F32) : Tensor();
    LinearWeight gate;
    gate.weight = host_as(wf, DType::BF16);
    gate.keep_precision = true;
    gpu().prepare_linear(gate);
    Tensor dx = upload(x, DType::BF16), dbias = c.bias ? upload(bias, DType::F32) : Tensor();
    MoeRoutingParams p{c.E, c.K, c.G, c.TG, true, 2.5f, c.S};
    ASSERT_EQ(cuda::expert_gate_supported(dx, gate.weight, p), c.T == 1);
    auto run = [&](std::vector<float>& logits, std::vector<int32_t>& ids, std::vector<float>& w) {
      Tensor dl = poisoned(DType::F32, {c.T, c.E}), di = poisoned(DType::I32, {c.T, KS}), dw = poisoned(DType::F32, {c.T, KS});
      gpu().moe_gate(dx, gate, dbias, p, dl, di, dw);
      logits = download_f32(dl);
      ids = download_i32(di);
      w = download_f32(dw);
    };
    std::vector<float> gl, gw, gl2, gw2;
    std::vector<int32_t> gi, gi2;
    run(gl, gi, gw);
    // Logits against float64.
    std::vector<float> ref(size_t(c.T * c.E));
    for (int t = 0; t < c.T; ++t)
      for (int e = 0; e < c.E; ++e) {
        double acc = 0;
        for (int64_t k = 0; k < c.H; ++k) acc += double(x.ptr<float>()[t * c.H + k]) * wf.ptr<float>()[e * c.H + k];
        ref[size_t(t * c.E + e)] = float(acc);
      }
    EXPECT_LT(rel_err(gl, ref), 1e-5);
    // Routing of those logits, exactly as the CPU routes them.
    Tensor hl = Tensor::empty(DType::F32, {c.T, c.E});
    std::copy(gl.begin(), gl.end(), hl.ptr<float>());
    Tensor ids = Tensor::empty(DType::I32, {c.T, KS}), w = Tensor::empty(DType::F32, {c.T, KS});
    cpu::moe_route(hl, bias, p, ids, w);
    for (int64_t i = 0; i < c.T * KS; ++i) ASSERT_EQ(gi[size_t(i)], ids.ptr<int32_t>()[i]) << "at " << i;
    EXPECT_LT(rel_err(gw, w.ptr<float>(), size_t(c.T * KS)), 1e-5);
    // Again, and replayed from a graph: the same bits.
    run(gl2, gi2, gw2);
    EXPECT_TRUE(gl2 == gl && gi2 == gi && gw2 == gw);
    Tensor dl = poisoned(DType::F32, {c.T, c.E}), di = poisoned(DType::I32, {c.T, KS}), dw = poisoned(DType::F32, {c.T, KS});
    auto graph = gpu().capture_graph([&] { gpu().moe_gate(dx, gate, dbias, p, dl, di, dw); });
    ASSERT_TRUE(graph);
    for (int rep = 0; rep < 2; ++rep) {
      gpu().replay_graph(graph.get());
      EXPECT_TRUE(download_f32(dl) == gl && download_i32(di) == gi && download_f32(dw) == gw) << "replay " << rep;
    }
  }
}

}  // namespace
}  // namespace sable
