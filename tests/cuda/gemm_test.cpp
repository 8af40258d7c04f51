// Parity of the CUDA GEMM family against the CPU reference ops on random
// data (fresh seed per run, printed on failure).
//
// Tolerances (norm-wise ||out - ref|| / ||ref||):
// - bf16 weights: 1e-2. Inputs are exact in both; the GPU accumulates in fp32
//   and rounds the output to bf16 (relative 2^-9), far inside the bound.
// - FP8 GEMM proper: 1e-2 against the CPU reference fed the GPU's own
//   quantized activations (q * scale): the GEMM itself adds only fp32
//   accumulation and the bf16 output rounding.
// - FP8 end to end: 8e-2 against the reference on the unquantized
//   activations. e4m3 keeps 3 mantissa bits: each quantized activation is off
//   by up to 2^-4 of its value (about 2.5% rms over uniform mantissas), and
//   the errors of a dot product's terms are independent, so the output's
//   relative error is about that rms; 8e-2 leaves room for the groups whose
//   small values sit far below the group amax.
// - --quantization fp8 (bf16 weights quantized at load): 1.2e-1 end to end, the
//   weight's own rounding (same 2.5% rms) added to the activations'.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/ops.h"
#include "backend/cuda/gemm.h"
#include "core/dtype.h"

namespace sable {
namespace {

#define CK(expr) ASSERT_EQ((expr), cudaSuccess) << #expr << ": " << cudaGetErrorString(expr)

struct Dev {
  void* p = nullptr;
  explicit Dev(size_t bytes) { EXPECT_EQ(cudaMalloc(&p, bytes), cudaSuccess); }
  ~Dev() { cudaFree(p); }
};

uint32_t fresh_seed() { return std::random_device{}(); }

Tensor host_bf16(std::mt19937& rng, int64_t r, int64_t c, float scale) {
  Tensor t = Tensor::empty(DType::BF16, {r, c});
  std::normal_distribution<float> nd(0.f, scale);
  for (int64_t i = 0; i < r * c; ++i) t.ptr<uint16_t>()[i] = f32_to_bf16(nd(rng));
  return t;
}

// Random finite e4m3 bytes (both signs, normals and subnormals) and scales.
void host_fp8_weight(std::mt19937& rng, int64_t r, int64_t c, LinearWeight& w) {
  w.weight = Tensor::empty(DType::F8_E4M3, {r, c});
  std::normal_distribution<float> nd(0.f, 100.f);
  for (int64_t i = 0; i < r * c; ++i) w.weight.ptr<uint8_t>()[i] = f32_to_fp8_e4m3(nd(rng));
  const int64_t rb = (r + 127) / 128, cb = (c + 127) / 128;
  w.scale_inv = Tensor::empty(DType::F32, {rb, cb});
  std::uniform_real_distribution<float> ud(0.5e-4f, 2e-4f);
  for (int64_t i = 0; i < rb * cb; ++i) w.scale_inv.ptr<float>()[i] = ud(rng);
}

Tensor to_f32_tensor(const Tensor& bf) {
  Tensor f = Tensor::empty(DType::F32, bf.shape());
  for (int64_t i = 0; i < bf.numel(); ++i) f.ptr<float>()[i] = bf16_to_f32(bf.ptr<uint16_t>()[i]);
  return f;
}

Tensor upload(const Tensor& h, Dev& d) {
  EXPECT_EQ(cudaMemcpy(d.p, h.data(), h.nbytes(), cudaMemcpyHostToDevice), cudaSuccess);
  return Tensor(d.p, h.dtype(), h.shape(), Device::kCUDA);
}

std::vector<float> download_f32(const Tensor& d) {
  std::vector<float> out(size_t(d.numel()));
  if (d.dtype() == DType::F32) {
    EXPECT_EQ(cudaMemcpy(out.data(), d.data(), d.nbytes(), cudaMemcpyDeviceToHost), cudaSuccess);
  } else {
    std::vector<uint16_t> raw(size_t(d.numel()));
    EXPECT_EQ(cudaMemcpy(raw.data(), d.data(), d.nbytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    for (size_t i = 0; i < raw.size(); ++i) out[i] = bf16_to_f32(raw[i]);
  }
  return out;
}

// ||a - b|| / ||b||; NaN/Inf anywhere gives +inf.
double rel_err(const std::vector<float>& a, const float* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

// A host copy of a LinearWeight (prepare_linear replaces its tensors).
LinearWeight clone_host(const LinearWeight& w) {
  LinearWeight c;
  c.weight = Tensor::empty(w.weight.dtype(), w.weight.shape());
  std::memcpy(c.weight.data(), w.weight.data(), w.weight.nbytes());
  if (w.scale_inv.data()) {
    c.scale_inv = Tensor::empty(DType::F32, w.scale_inv.shape());
    std::memcpy(c.scale_inv.data(), w.scale_inv.data(), w.scale_inv.nbytes());
  }
  return c;
}

// Dequantizes the GPU's own quantized activations into float [T, K].
Tensor gpu_quantized_x(const Tensor& dx, int64_t T, int64_t K, cudaStream_t s) {
  const int64_t G = (K + 127) / 128, ld = (T + 3) / 4 * 4;
  Dev dq(size_t(T * K)), ds(size_t(G * ld) * 4);
  Tensor q(dq.p, DType::F8_E4M3, {T, K}, Device::kCUDA), sc(ds.p, DType::F32, {G, ld}, Device::kCUDA);
  cuda::quantize_activations_fp8(dx, q, sc, s);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  std::vector<uint8_t> hq(size_t(T * K));
  std::vector<float> hs(size_t(G * ld));
  EXPECT_EQ(cudaMemcpy(hq.data(), dq.p, hq.size(), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(hs.data(), ds.p, hs.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  Tensor f = Tensor::empty(DType::F32, {T, K});
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k)
      f.ptr<float>()[t * K + k] = fp8_e4m3_to_f32(hq[size_t(t * K + k)]) * hs[size_t((k / 128) * ld + t)];
  return f;
}

class GemmTest : public ::testing::Test {
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

struct Shape3 { int64_t T, N, K; };

// Runs linear on one path and returns the output as floats (poisoned first).
std::vector<float> run_linear(const Tensor& dx, const LinearWeight& w, int64_t T, int64_t N,
                              bool out_f32, cuda::GemmPath path, cudaStream_t s) {
  Dev dout(size_t(T * N) * (out_f32 ? 4 : 2));
  EXPECT_EQ(cudaMemset(dout.p, 0xff, size_t(T * N) * (out_f32 ? 4 : 2)), cudaSuccess);  // NaN poison
  Tensor out(dout.p, out_f32 ? DType::F32 : DType::BF16, {T, N}, Device::kCUDA);
  cuda::linear_on(dx, w, out, s, path);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  return download_f32(out);
}

TEST_F(GemmTest, Bf16MatchesReference) {
  const uint32_t seed = fresh_seed();
  std::mt19937 rng(seed);
  const Shape3 shapes[] = {{1, 320, 512}, {3, 200, 264}, {7, 129, 136}, {17, 256, 1024},
                           {33, 130, 256}, {100, 96, 512}, {257, 64, 128}, {5, 70, 100}};
  for (const auto& sh : shapes) {
    LinearWeight w;
    w.weight = host_bf16(rng, sh.N, sh.K, 0.05f);
    LinearWeight ref_w = clone_host(w);
    Tensor x = host_bf16(rng, sh.T, sh.K, 1.f);
    Tensor xf = to_f32_tensor(x);
    Tensor ref = Tensor::empty(DType::F32, {sh.T, sh.N});
    cpu::linear_reference(xf, ref_w, ref);
    cuda::prepare_linear(w, false, s_);
    Dev dxm(x.nbytes());
    Tensor dx = upload(x, dxm);
    for (int variant : {1, 0})
      for (auto path : {cuda::GemmPath::kAuto, cuda::GemmPath::kStream, cuda::GemmPath::kLibrary})
        for (bool f32 : {false, true}) {
          cuda::set_stream_gemm_variant(variant);
          const auto out = run_linear(dx, w, sh.T, sh.N, f32, path, s_);
          const double e = rel_err(out, ref.ptr<float>(), out.size());
          EXPECT_LT(e, 1e-2) << "seed " << seed << " T=" << sh.T << " N=" << sh.N << " K=" << sh.K
                             << " path " << int(path) << " f32 " << f32 << " variant " << variant;
        }
    cuda::set_stream_gemm_variant(-1);
  }
}

TEST_F(GemmTest, Fp8BlockScaledMatchesReference) {
  const uint32_t seed = fresh_seed();
  std::mt19937 rng(seed);
  const cuda::Fp8BlockInfo info = cuda::fp8_block_info();
  std::printf("cuBLASLt FP8 block scaling: supported %d, act scales %s, weight scale rows padded %d\n",
              info.supported, info.act_kmajor ? "[t][g]" : "[g][t]", info.w_kb_pad4);
  // (1, 2112, 7168) and (8, 256, 4096): split-K with 64- and 128-row CTAs.
  const Shape3 shapes[] = {{1, 576, 1024}, {2, 300, 256},  {5, 256, 400},   {16, 384, 512},  {32, 130, 272},
                           {64, 256, 512}, {100, 256, 1024}, {130, 200, 384}, {1, 2112, 7168}, {8, 256, 4096}};
  for (const auto& sh : shapes) {
    LinearWeight w;
    host_fp8_weight(rng, sh.N, sh.K, w);
    LinearWeight ref_w = clone_host(w);
    Tensor x = host_bf16(rng, sh.T, sh.K, 1.f);
    Tensor xf = to_f32_tensor(x);
    Tensor ref = Tensor::empty(DType::F32, {sh.T, sh.N}), refq = Tensor::empty(DType::F32, {sh.T, sh.N});
    cpu::linear_reference(xf, ref_w, ref);
    cuda::prepare_linear(w, false, s_);
    Dev dxm(x.nbytes());
    Tensor dx = upload(x, dxm);
    Tensor xq = gpu_quantized_x(dx, sh.T, sh.K, s_);
    cpu::linear_reference(xq, ref_w, refq);
    // variant 1 (the ring) reads the tiled copy, with 4 or 2 K-warps per CTA.
    for (int variant : {1, 0})
      for (int kw : {4, 2})
        for (auto path : {cuda::GemmPath::kAuto, cuda::GemmPath::kStream, cuda::GemmPath::kLibrary})
          for (bool f32 : {false, true}) {
            if (variant == 0 && kw == 2) continue;
            cuda::set_stream_gemm_variant(variant);
            cuda::set_dense_kwarps(kw);
            const auto out = run_linear(dx, w, sh.T, sh.N, f32, path, s_);
            const double eq = rel_err(out, refq.ptr<float>(), out.size());
            const double e = rel_err(out, ref.ptr<float>(), out.size());
            EXPECT_LT(eq, 1e-2) << "seed " << seed << " T=" << sh.T << " N=" << sh.N << " K=" << sh.K << " path "
                                << int(path) << " f32 " << f32 << " variant " << variant << " kwarps " << kw;
            EXPECT_LT(e, 8e-2) << "seed " << seed << " T=" << sh.T << " N=" << sh.N << " K=" << sh.K;
          }
    cuda::set_stream_gemm_variant(-1);
    cuda::set_dense_kwarps(0);
  }
}

TEST_F(GemmTest, ActivationQuantizationMatchesHost) {
  const uint32_t seed = fresh_seed();
  std::mt19937 rng(seed);
  // The warp-per-block kernel: K = 520 (a partial last group) and 37 tokens
  // (below 256); the half-warp kernel from 256 tokens with K % 128 == 0, at
  // 4,100 x 2,048 with more items than its grid (the grid-stride loop).
  struct Shape {
    int64_t T, K;
  };
  for (const Shape sh : {Shape{37, 520}, Shape{37, 1024}, Shape{300, 1024}, Shape{4100, 2048}}) {
    const int64_t T = sh.T, K = sh.K;
    Tensor x = host_bf16(rng, T, K, 3.f);
    Dev dxm(x.nbytes());
    Tensor dx = upload(x, dxm);
    const int64_t G = (K + 127) / 128, ld = (T + 3) / 4 * 4;
    Dev dq(size_t(T * K)), ds(size_t(G * ld) * 4);
    Tensor q(dq.p, DType::F8_E4M3, {T, K}, Device::kCUDA), sc(ds.p, DType::F32, {G, ld}, Device::kCUDA);
    cuda::quantize_activations_fp8(dx, q, sc, s_);
    CK(cudaStreamSynchronize(s_));
    std::vector<uint8_t> hq(size_t(T * K));
    std::vector<float> hs(size_t(G * ld));
    CK(cudaMemcpy(hq.data(), dq.p, hq.size(), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hs.data(), ds.p, hs.size() * 4, cudaMemcpyDeviceToHost));
    int64_t mismatched = 0;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t g = 0; g < G; ++g) {
        float amax = 0;
        for (int64_t k = g * 128; k < std::min(K, g * 128 + 128); ++k)
          amax = std::max(amax, std::fabs(bf16_to_f32(x.ptr<uint16_t>()[t * K + k])));
        const float scale = std::max(amax, 1e-10f) / 448.f;
        ASSERT_NEAR(hs[size_t(g * ld + t)], scale, scale * 1e-6) << "seed " << seed << " K=" << K << " t=" << t;
        for (int64_t k = g * 128; k < std::min(K, g * 128 + 128); ++k) {
          const uint8_t want = f32_to_fp8_e4m3(bf16_to_f32(x.ptr<uint16_t>()[t * K + k]) / scale);
          mismatched += hq[size_t(t * K + k)] != want;
        }
      }
    EXPECT_LE(mismatched, T * K / 1000) << "seed " << seed << " T=" << T << " K=" << K;
  }
}

TEST_F(GemmTest, QuantizeAtLoadMatchesReference) {
  const uint32_t seed = fresh_seed();
  std::mt19937 rng(seed);
  const int64_t N = 300, K = 384;
  LinearWeight w;
  w.weight = host_bf16(rng, N, K, 0.05f);
  LinearWeight ref_w = clone_host(w);
  cuda::prepare_linear(w, true, s_);
  ASSERT_EQ(w.weight.dtype(), DType::F8_E4M3);
  // The device weight dequantizes to the original within e4m3's rounding.
  std::vector<uint8_t> q(size_t(N * K));
  const int64_t rb = w.scale_inv.dim(0), ld = w.scale_inv.dim(1);
  std::vector<float> sc(size_t(rb * ld));
  CK(cudaMemcpy(q.data(), w.weight.data(), q.size(), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(sc.data(), w.scale_inv.data(), sc.size() * 4, cudaMemcpyDeviceToHost));
  double num = 0, den = 0;
  for (int64_t r = 0; r < N; ++r)
    for (int64_t c = 0; c < K; ++c) {
      const double orig = bf16_to_f32(ref_w.weight.ptr<uint16_t>()[r * K + c]);
      const double deq = fp8_e4m3_to_f32(q[size_t(r * K + c)]) * sc[size_t((r / 128) * ld + c / 128)];
      num += (deq - orig) * (deq - orig);
      den += orig * orig;
    }
  EXPECT_LT(std::sqrt(num / den), 5e-2) << "seed " << seed;
  for (int64_t T : {1, 9, 64}) {
    Tensor x = host_bf16(rng, T, K, 1.f);
    Tensor ref = Tensor::empty(DType::F32, {T, N});
    cpu::linear_reference(to_f32_tensor(x), ref_w, ref);
    Dev dxm(x.nbytes());
    Tensor dx = upload(x, dxm);
    const auto out = run_linear(dx, w, T, N, false, cuda::GemmPath::kAuto, s_);
    EXPECT_LT(rel_err(out, ref.ptr<float>(), out.size()), 1.2e-1) << "seed " << seed << " T=" << T;
  }
}

// The streaming kernel reads FP8 weights from their tiled copy (gemm.h:
// set_stream_tiles_read): the same values in the same k order, so the same
// bits as reading the natural rows, split-K and partial tiles included
// (K = 400: a tile of 16 bytes of K; N = 300: a partial row tile).
TEST_F(GemmTest, Fp8StreamTilesMatchNaturalRowsBitwise) {
  const uint32_t seed = fresh_seed();
  std::mt19937 rng(seed);
  const Shape3 shapes[] = {{1, 300, 400}, {1, 2112, 7168}, {1, 7168, 2048}, {4, 576, 1536},
                           {8, 1536, 7168}, {40, 256, 1024}};
  if (cuda::stream_tiles_bytes(256, 256) == 0) GTEST_SKIP() << "SABLE_STREAM_TILES=0: no tiled copies";
  for (const auto& sh : shapes) {
    LinearWeight w;
    host_fp8_weight(rng, sh.N, sh.K, w);
    cuda::prepare_linear(w, false, s_);
    Tensor x = host_bf16(rng, sh.T, sh.K, 1.f);
    Dev dxm(x.nbytes());
    Tensor dx = upload(x, dxm);
    for (int variant : {1, 0}) {
      cuda::set_stream_gemm_variant(variant);
      cuda::set_stream_tiles_read(true);
      const auto tiled = run_linear(dx, w, sh.T, sh.N, false, cuda::GemmPath::kStream, s_);
      cuda::set_stream_tiles_read(false);
      const auto rows = run_linear(dx, w, sh.T, sh.N, false, cuda::GemmPath::kStream, s_);
      EXPECT_EQ(std::memcmp(tiled.data(), rows.data(), tiled.size() * sizeof(float)), 0)
          << "seed " << seed << " T=" << sh.T << " N=" << sh.N << " K=" << sh.K << " variant " << variant;
    }
    cuda::set_stream_tiles_read(true);
    cuda::set_stream_gemm_variant(-1);
  }
}

// linear() must be capturable in a CUDA graph and replay to the same bits.
TEST_F(GemmTest, GraphCaptureReplaysBitExact) {
  std::mt19937 rng(fresh_seed());
  for (bool fp8 : {false, true})
    for (int64_t T : {1, 8, 200}) {
      const int64_t N = 256, K = 512;
      LinearWeight w;
      if (fp8) host_fp8_weight(rng, N, K, w); else w.weight = host_bf16(rng, N, K, 0.05f);
      cuda::prepare_linear(w, false, s_);
      Tensor x = host_bf16(rng, T, K, 1.f);
      Dev dxm(x.nbytes()), d1(size_t(T * N) * 2), d2(size_t(T * N) * 2);
      Tensor dx = upload(x, dxm);
      Tensor o1(d1.p, DType::BF16, {T, N}, Device::kCUDA), o2(d2.p, DType::BF16, {T, N}, Device::kCUDA);
      cuda::reserve_gemm_workspace(s_, 256, 1024, nullptr);
      cuda::linear(dx, w, o1, s_);
      CK(cudaStreamSynchronize(s_));
      cudaGraph_t g;
      cudaGraphExec_t ge;
      CK(cudaStreamBeginCapture(s_, cudaStreamCaptureModeThreadLocal));
      cuda::linear(dx, w, o2, s_);
      CK(cudaStreamEndCapture(s_, &g));
      CK(cudaGraphInstantiate(&ge, g, 0));
      CK(cudaMemset(d2.p, 0, size_t(T * N) * 2));
      CK(cudaGraphLaunch(ge, s_));
      CK(cudaStreamSynchronize(s_));
      std::vector<uint16_t> a(size_t(T * N)), b(size_t(T * N));
      CK(cudaMemcpy(a.data(), d1.p, a.size() * 2, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(b.data(), d2.p, b.size() * 2, cudaMemcpyDeviceToHost));
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 2), 0) << "fp8 " << fp8 << " T=" << T;
      cudaGraphExecDestroy(ge);
      cudaGraphDestroy(g);
    }
}

}  // namespace
}  // namespace sable
