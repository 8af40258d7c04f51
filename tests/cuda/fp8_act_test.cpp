// Producer-written FP8 activations (backend/cuda/fp8_act.h).
// 1. rms_norm, add_rms_norm and silu_and_mul given an Fp8Act write bitwise
//    the bytes and scales that quantize_activations_fp8 writes from their
//    BF16 output (the FP8 GEMMs then read the same numbers either way).
// 2. CudaBackend hands that form to the FP8 linear reading the same tensor,
//    which then gives bitwise the output of a fresh quantization, and forgets
//    it once anything writes the tensor again (a stale form would give the
//    old output).
#include <cuda_runtime.h>

#include <cstring>

#include "backend/cuda/gemm.h"
#include "backend/cuda/ops.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

// (The backends' streams do not synchronize with cudaMemcpy's legacy stream.)
std::vector<uint8_t> raw(const Tensor& d) {
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<uint8_t> h(d.nbytes());
  EXPECT_EQ(cudaMemcpy(h.data(), d.data(), h.size(), cudaMemcpyDeviceToHost), cudaSuccess);
  return h;
}

// The FP8 form of out [T, K] two ways: written by the producer (run(q8)) and
// by quantize_activations_fp8 from out afterwards. Scales of rows >= T are
// padding neither writes, so only rows < T are compared.
void expect_same_form(int64_t T, int64_t K, const std::function<void(const cuda::Fp8Act*)>& run, const Tensor& out,
                      const std::string& what) {
  const int64_t G = K / 128, ld = (T + 3) / 4 * 4;
  Tensor q = poisoned(DType::F8_E4M3, {T, K}), s = poisoned(DType::F32, {G, ld});
  Tensor qr = poisoned(DType::F8_E4M3, {T, K}), sr = poisoned(DType::F32, {G, ld});
  cuda::Fp8Act act{q.ptr<uint8_t>(), s.ptr<float>(), ld};
  run(&act);
  cuda::quantize_activations_fp8(out, qr, sr, gpu().stream());
  ASSERT_EQ(cudaStreamSynchronize(gpu().stream()), cudaSuccess);
  EXPECT_TRUE(raw(q) == raw(qr)) << what << " T=" << T << " K=" << K << ": FP8 bytes differ";
  const std::vector<uint8_t> a = raw(s), b = raw(sr);
  for (int64_t g = 0; g < G; ++g)
    EXPECT_EQ(std::memcmp(a.data() + (g * ld) * 4, b.data() + (g * ld) * 4, size_t(T) * 4), 0)
        << what << " T=" << T << " K=" << K << ": scales of group " << g << " differ";
}

TEST(CudaFp8Act, ProducersWriteTheQuantizedFormBitwise) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int64_t T : {1, 5, 32}) {
    for (int64_t D : {7168, 1536}) {
      Tensor x = upload(random_f32(rng, {T, D}, 2.f), DType::BF16), w = upload(random_f32(rng, {D}, 1.f), DType::BF16);
      Tensor out = poisoned(DType::BF16, {T, D});
      expect_same_form(T, D, [&](const cuda::Fp8Act* q8) { cuda::rms_norm(x, w, 1e-6f, out, gpu().stream(), q8); },
                       out, "rms_norm");
      Tensor r = upload(random_f32(rng, {T, D}, 3.f), DType::F32);
      expect_same_form(
          T, D, [&](const cuda::Fp8Act* q8) { cuda::add_rms_norm(r, x, w, 1e-6f, out, gpu().stream(), q8); }, out,
          "add_rms_norm");
    }
    for (int64_t I : {18432, 2048}) {
      Tensor g = upload(random_f32(rng, {T, I}, 2.f), DType::BF16), u = upload(random_f32(rng, {T, I}, 2.f), DType::BF16);
      Tensor out = poisoned(DType::BF16, {T, I});
      expect_same_form(T, I, [&](const cuda::Fp8Act* q8) { cuda::silu_and_mul(g, u, out, gpu().stream(), q8); }, out,
                       "silu_and_mul");
    }
  }
}

// A host FP8 weight [N, K]: finite e4m3 bytes (no NaN encodings) and 128x128
// block scales around 1e-2.
LinearWeight host_fp8_weight(std::mt19937_64& rng, int64_t N, int64_t K) {
  LinearWeight w;
  w.weight = Tensor::empty(DType::F8_E4M3, {N, K});
  auto* b = w.weight.ptr<uint8_t>();
  for (int64_t i = 0; i < N * K; ++i) b[i] = uint8_t(rng() % 0x7e) | uint8_t(rng() & 0x80);
  w.scale_inv = Tensor::empty(DType::F32, {(N + 127) / 128, (K + 127) / 128});
  std::uniform_real_distribution<float> ud(0.5e-2f, 1.5e-2f);
  for (int64_t i = 0; i < w.scale_inv.numel(); ++i) w.scale_inv.ptr<float>()[i] = ud(rng);
  return w;
}

TEST(CudaFp8Act, BackendUsesTheProducersFormUntilTheTensorIsWritten) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto be = cuda::make_cuda_backend(0);
  const int64_t K = 7168;
  {
    // Not before an FP8 weight is prepared: BF16 models never pay for it.
    Tensor x = be->to_device(host_as(random_f32(rng, {1, K}, 1.f), DType::BF16));
    Tensor g = be->to_device(host_as(random_f32(rng, {K}, 1.f), DType::BF16));
    Tensor h = Tensor::empty(DType::BF16, {1, K}, be->allocator());
    be->rms_norm(x, g, 1e-6f, h);
    EXPECT_FALSE(be->has_fp8_act(h));
  }
  // 2048 x 7168 (14.7M elements) takes the streaming kernel at T <= 8 and
  // cuBLASLt above (T = 13: padded rows, so a fresh quantization; T = 16: the
  // producer's form); 256 x 7168 streams up to T = 32.
  LinearWeight w1 = host_fp8_weight(rng, 2048, K), w2 = host_fp8_weight(rng, 256, K);
  be->prepare_linear(w1);
  be->prepare_linear(w2);
  for (int64_t T : {1, 5, 13, 16, 32}) {
    SCOPED_TRACE("T " + std::to_string(T));
    Tensor x = be->to_device(host_as(random_f32(rng, {T, K}, 1.f), DType::BF16));
    Tensor y = be->to_device(host_as(random_f32(rng, {T, K}, 1.f), DType::BF16));
    Tensor g = be->to_device(host_as(random_f32(rng, {K}, 1.f), DType::BF16));
    Tensor h = Tensor::empty(DType::BF16, {T, K}, be->allocator());
    auto out = [&](const LinearWeight& w) { return Tensor::empty(DType::BF16, {T, w.weight.dim(0)}, be->allocator()); };
    auto fresh = [&](const LinearWeight& w) {  // quantizes h itself
      Tensor o = out(w);
      cuda::linear(h, w, o, be->stream());
      return raw(o);
    };
    be->rms_norm(x, g, 1e-6f, h);
    EXPECT_TRUE(be->has_fp8_act(h));
    // Two consumers of one producer (a dense MLP's gate and up).
    Tensor a1 = out(w1), a2 = out(w2);
    be->linear(h, w1, a1);
    be->linear(h, w2, a2);
    EXPECT_TRUE(be->has_fp8_act(h)) << "writing other tensors keeps the form";
    EXPECT_TRUE(raw(a1) == fresh(w1));
    EXPECT_TRUE(raw(a2) == fresh(w2));
    // h written again: the old form must not be used.
    be->add_inplace(h, y);
    EXPECT_FALSE(be->has_fp8_act(h));
    Tensor b1 = out(w1);
    be->linear(h, w1, b1);
    const std::vector<uint8_t> after = raw(b1);
    EXPECT_TRUE(after == fresh(w1));
    EXPECT_FALSE(after == raw(a1)) << "the input changed, so must the output";
    // A write to part of h ends the record too.
    be->rms_norm(x, g, 1e-6f, h);
    ASSERT_TRUE(be->has_fp8_act(h));
    Tensor part = h.view({T * K / 128, 128}).rows(0, 1);
    be->convert(be->to_device(host_as(random_f32(rng, {1, 128}, 1.f), DType::BF16)), part);
    EXPECT_FALSE(be->has_fp8_act(h));
  }
}

}  // namespace
}  // namespace sable
