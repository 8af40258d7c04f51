// Parity of the CUDA MoE experts (grouped GEMMs over tokens sorted by expert)
// against sable::cpu::moe_experts on random data, also with pairs that name
// another expert-parallel rank's expert (-1, skipped).
//
// Tolerances (norm-wise relative): bf16 2e-2 (the SiLU product h and each
// expert's weighted output are rounded to bf16 between the GEMMs, 2^-9 each);
// FP8 1e-1: both x and h are quantized per token per 128 channels to e4m3
// (about 2.5% rms each, see gemm_test.cpp) and the reference quantizes
// neither; --quantization fp8 adds the weights' own e4m3 rounding (1.5e-1).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "backend/cpu/ops.h"
#include "backend/cuda/gemm.h"
#include "core/dtype.h"

namespace sable {
namespace {

#define CK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

struct Dev {
  void* p = nullptr;
  explicit Dev(size_t bytes) { EXPECT_EQ(cudaMalloc(&p, bytes ? bytes : 1), cudaSuccess); }
  ~Dev() { cudaFree(p); }
};

Tensor rand_bf16(std::mt19937& rng, int64_t r, int64_t c, float scale) {
  Tensor t = Tensor::empty(DType::BF16, {r, c});
  std::normal_distribution<float> nd(0.f, scale);
  for (int64_t i = 0; i < r * c; ++i) t.ptr<uint16_t>()[i] = f32_to_bf16(nd(rng));
  return t;
}

LinearWeight rand_weight(std::mt19937& rng, int64_t r, int64_t c, bool fp8) {
  LinearWeight w;
  if (!fp8) {
    w.weight = rand_bf16(rng, r, c, 0.05f);
    return w;
  }
  w.weight = Tensor::empty(DType::F8_E4M3, {r, c});
  std::normal_distribution<float> nd(0.f, 100.f);
  for (int64_t i = 0; i < r * c; ++i) w.weight.ptr<uint8_t>()[i] = f32_to_fp8_e4m3(nd(rng));
  const int64_t rb = (r + 127) / 128, cb = (c + 127) / 128;
  w.scale_inv = Tensor::empty(DType::F32, {rb, cb});
  std::uniform_real_distribution<float> ud(2.5e-4f, 7.5e-4f);
  for (int64_t i = 0; i < rb * cb; ++i) w.scale_inv.ptr<float>()[i] = ud(rng);
  return w;
}

LinearWeight clone(const LinearWeight& w) {
  LinearWeight c;
  c.weight = Tensor::empty(w.weight.dtype(), w.weight.shape());
  std::memcpy(c.weight.data(), w.weight.data(), w.weight.nbytes());
  if (w.scale_inv.data()) {
    c.scale_inv = Tensor::empty(DType::F32, w.scale_inv.shape());
    std::memcpy(c.scale_inv.data(), w.scale_inv.data(), w.scale_inv.nbytes());
  }
  return c;
}

struct Case {
  int E, K;
  int64_t H, I, T;
  bool fp8_weights, quantize;
  // Expert parallelism: this percentage of the pairs name another rank's
  // expert (id -1), and token 0 has no expert here at all.
  int other_rank_pct = 0;
};

class MoeExpertsTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) GTEST_SKIP() << "no CUDA device";
    ASSERT_EQ(cudaStreamCreate(&s_), cudaSuccess);
  }
  void TearDown() override {
    if (s_) cudaStreamDestroy(s_);
  }
  cudaStream_t s_ = nullptr;
};

TEST_P(MoeExpertsTest, MatchesReference) {
  const Case c = GetParam();
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  MoeExperts w, ref;
  for (int e = 0; e < c.E; ++e) {
    w.gate.push_back(rand_weight(rng, c.I, c.H, c.fp8_weights));
    w.up.push_back(rand_weight(rng, c.I, c.H, c.fp8_weights));
    w.down.push_back(rand_weight(rng, c.H, c.I, c.fp8_weights));
    ref.gate.push_back(clone(w.gate.back()));
    ref.up.push_back(clone(w.up.back()));
    ref.down.push_back(clone(w.down.back()));
  }
  Tensor x = rand_bf16(rng, c.T, c.H, 1.f);
  Tensor ids = Tensor::empty(DType::I32, {c.T, c.K}), wts = Tensor::empty(DType::F32, {c.T, c.K});
  std::vector<int> perm(size_t(c.E));
  std::iota(perm.begin(), perm.end(), 0);
  std::uniform_real_distribution<float> ud(0.05f, 1.f);
  std::uniform_int_distribution<int> pct(0, 99);
  for (int64_t t = 0; t < c.T; ++t) {
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int k = 0; k < c.K; ++k) {
      const bool other = c.other_rank_pct > 0 && (t == 0 || pct(rng) < c.other_rank_pct);
      ids.ptr<int32_t>()[t * c.K + k] = other ? -1 : perm[size_t(k)];
      wts.ptr<float>()[t * c.K + k] = ud(rng);
    }
  }
  Tensor xf = Tensor::empty(DType::F32, {c.T, c.H}), reff = Tensor::empty(DType::F32, {c.T, c.H});
  for (int64_t i = 0; i < x.numel(); ++i) xf.ptr<float>()[i] = bf16_to_f32(x.ptr<uint16_t>()[i]);
  cpu::moe_experts(xf, ids, wts, ref, reff);

  cuda::prepare_experts(w, c.quantize, s_);
  Dev dx(x.nbytes()), di(ids.nbytes()), dw(wts.nbytes()), dout(size_t(c.T * c.H) * 2);
  CK(cudaMemcpy(dx.p, x.data(), x.nbytes(), cudaMemcpyHostToDevice));
  CK(cudaMemcpy(di.p, ids.data(), ids.nbytes(), cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dw.p, wts.data(), wts.nbytes(), cudaMemcpyHostToDevice));
  CK(cudaMemset(dout.p, 0xff, size_t(c.T * c.H) * 2));
  Tensor tx(dx.p, DType::BF16, {c.T, c.H}, Device::kCUDA), ti(di.p, DType::I32, {c.T, c.K}, Device::kCUDA),
      tw(dw.p, DType::F32, {c.T, c.K}, Device::kCUDA), to(dout.p, DType::BF16, {c.T, c.H}, Device::kCUDA);
  std::vector<uint16_t> raw(size_t(c.T * c.H)), raw_wgmma;
  // The streaming kernel's shared-memory ring (1) and register pipeline (0),
  // then the grouped wgmma kernels (H and 2I multiples of 128, I of 128 in
  // FP8): the original (2), the warp-specialized one (4) and the
  // warp-specialized one with 256-row tiles (5; each GEMM whose N, 2I or H,
  // is a multiple of 256; an expert's tiles paired into 128-row CTAs: 2-3
  // tiles per expert in the 1,000 / 700 / 1,100-token cases) and its persistent
  // form with TMA stores for the down GEMM (6; gate/up as 5; 7: the same on
  // 3 CTAs, each walking many items through one ring and one staging tile),
  // which must all give the same bits (same k order per output and FP8
  // promotion order), then the automatic choice (3), which the graph check
  // below uses.
  const bool fp8 = c.fp8_weights || c.quantize;
  const bool wgmma_ok = c.H % 128 == 0 && (2 * c.I) % 128 == 0 && c.I % (fp8 ? 128 : 64) == 0;
  for (int variant : {1, 0, 2, 4, 5, 6, 7, 3}) {
    const bool wgmma = variant == 2 || variant >= 4;
    if (wgmma && !wgmma_ok) continue;
    cuda::set_stream_gemm_variant(variant == 1 ? 1 : variant == 0 ? 0 : -1);
    cuda::set_moe_kernel(wgmma ? cuda::MoeKernel::kWgmma
                         : variant == 3 ? cuda::MoeKernel::kAuto
                                        : cuda::MoeKernel::kStream);
    cuda::set_grouped_wgmma_variant(variant == 2 ? 0 : variant == 7 ? 3 : variant >= 4 ? variant - 3 : -1);
    cuda::set_grouped_wgmma_max_ctas(variant == 7 ? 3 : 0);
    CK(cudaMemset(dout.p, 0xff, size_t(c.T * c.H) * 2));
    cuda::moe_experts(tx, ti, tw, w, to, s_);
    CK(cudaStreamSynchronize(s_));
    CK(cudaGetLastError());
    CK(cudaMemcpy(raw.data(), dout.p, raw.size() * 2, cudaMemcpyDeviceToHost));
    double num = 0, den = 0;
    bool finite = true;
    for (size_t i = 0; i < raw.size(); ++i) {
      const double a = bf16_to_f32(raw[i]), b = reff.ptr<float>()[i];
      finite = finite && std::isfinite(a);
      num += (a - b) * (a - b);
      den += b * b;
    }
    // A token whose experts are all on another rank has a zero reference:
    // then the error is absolute (0/0 would be NaN).
    const double rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
    const double tol = c.quantize ? 1.5e-1 : c.fp8_weights ? 1e-1 : 2e-2;
    EXPECT_TRUE(finite) << "seed " << seed << " variant " << variant;
    EXPECT_LT(rel, tol) << "seed " << seed << " T=" << c.T << " variant " << variant;
    std::printf("moe E=%d K=%d H=%lld I=%lld T=%lld fp8=%d quantize=%d variant=%d: rel err %.3g\n", c.E,
                c.K, (long long)c.H, (long long)c.I, (long long)c.T, c.fp8_weights, c.quantize, variant, rel);
    if (variant == 2) raw_wgmma = raw;
    if (variant >= 4) {
      size_t diff = 0, first = raw.size();
      for (size_t i = 0; i < raw.size(); ++i)
        if (raw[i] != raw_wgmma[i]) {
          ++diff;
          first = std::min(first, i);
        }
      EXPECT_EQ(std::memcmp(raw.data(), raw_wgmma.data(), raw.size() * 2), 0)
          << "seed " << seed << " T=" << c.T << ": the warp-specialized wgmma kernel (variant " << variant
          << ") differs from the original in " << diff << " of " << raw.size() << " outputs (first at " << first
          << ")";
    }
  }
  cuda::set_grouped_wgmma_variant(-1);
  cuda::set_grouped_wgmma_max_ctas(0);

  // Replaying a captured graph gives the same bits.
  cuda::reserve_gemm_workspace(s_, c.T, std::max(c.H, c.I), &w, c.K);
  Dev d2(size_t(c.T * c.H) * 2);
  Tensor o2(d2.p, DType::BF16, {c.T, c.H}, Device::kCUDA);
  cudaGraph_t g;
  cudaGraphExec_t ge;
  CK(cudaStreamBeginCapture(s_, cudaStreamCaptureModeThreadLocal));
  cuda::moe_experts(tx, ti, tw, w, o2, s_);
  CK(cudaStreamEndCapture(s_, &g));
  CK(cudaGraphInstantiate(&ge, g, 0));
  CK(cudaGraphLaunch(ge, s_));
  CK(cudaStreamSynchronize(s_));
  std::vector<uint16_t> raw2(raw.size());
  CK(cudaMemcpy(raw2.data(), d2.p, raw2.size() * 2, cudaMemcpyDeviceToHost));
  EXPECT_EQ(std::memcmp(raw.data(), raw2.data(), raw.size() * 2), 0) << "graph replay differs";
  cudaGraphExecDestroy(ge);
  cudaGraphDestroy(g);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MoeExpertsTest,
    ::testing::Values(Case{16, 4, 256, 128, 1, false, false}, Case{16, 4, 256, 128, 5, false, false},
                      Case{16, 4, 256, 128, 33, false, false}, Case{16, 4, 256, 128, 200, false, false},
                      Case{8, 2, 1024, 512, 64, false, false}, Case{32, 8, 512, 256, 300, false, false},
                      Case{16, 4, 256, 128, 1, true, false}, Case{16, 4, 256, 128, 7, true, false},
                      Case{16, 4, 384, 256, 100, true, false}, Case{32, 8, 512, 256, 300, true, false},
                      Case{16, 4, 256, 128, 9, false, true}, Case{16, 4, 256, 144, 40, false, false},
                      // Many tokens per expert: several (and partial) 128-token tiles
                      // per expert, for the grouped wgmma kernel (auto from 8 per expert);
                      // H = 2I = 1024 takes the 256-row tiles in both GEMMs (variant 5),
                      // H = 384 only in gate/up (2I = 512).
                      Case{16, 4, 384, 256, 1000, false, false}, Case{8, 2, 1024, 512, 700, false, false},
                      Case{16, 4, 384, 256, 1000, true, false}, Case{8, 2, 1024, 512, 700, false, true},
                      // ~150 tokens per expert: two tiles, mostly <= 160 tokens in all
                      // (gate/up's wide items), some more (paired) or fewer (one tile).
                      Case{16, 4, 384, 256, 600, false, false}, Case{16, 4, 384, 256, 600, true, false},
                      // The same with the persistent down GEMM (H = 512: N % 256 == 0): paired
                      // items of 129-170 tokens beside single tiles (520: ~130 per expert).
                      Case{16, 4, 512, 384, 600, false, false}, Case{16, 4, 512, 384, 600, true, false},
                      Case{16, 4, 512, 384, 520, true, false},
                      // Over 4,096 pairs: the three-pass sort over chunks of 256 pairs
                      // (fewer: one CTA per expert, counting in shared memory); 18, 63
                      // and 32 chunks, the last one partial.
                      Case{16, 4, 256, 128, 1100, false, false}, Case{16, 4, 256, 128, 1100, true, false},
                      Case{32, 8, 256, 128, 2001, false, false}, Case{16, 4, 256, 128, 2001, true, false},
                      // Expert parallelism: pairs of another rank's experts (-1) left out, in
                      // the one-CTA-per-expert sort (decode), the chunked sort, and the
                      // wgmma kernels' gathers over every sorted position.
                      Case{16, 4, 256, 128, 1, false, false, 50}, Case{16, 4, 256, 128, 33, true, false, 60},
                      Case{16, 4, 384, 256, 1000, false, false, 40}, Case{16, 4, 384, 256, 1000, true, false, 75},
                      Case{16, 4, 256, 128, 2001, true, false, 50}, Case{32, 8, 256, 128, 2001, false, false, 90}));

}  // namespace
}  // namespace sable
