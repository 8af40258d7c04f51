// The backend ops at the tiny fixture model's shapes (hidden 256, 4 heads,
// q_lora 192, latent 64 + 16, experts 96 wide, vocab 1024), through the
// CudaBackend interface as the model calls them, against the CPU ops, at
// 1, 17, 100 and 300 tokens. A failure here localizes a fixture mismatch to
// one op. Bound 1e-2 (norm-wise) for bf16 outputs: bf16-exact operands, fp32
// accumulation, one bf16 rounding (2^-9).
#include "backend/cpu/ops.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

TEST(CudaTinyShapes, LinearMatchesCpu) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  struct Shape2 { int out, in; DType od; };
  for (Shape2 sh : {Shape2{192, 256, DType::BF16}, Shape2{192, 192, DType::BF16}, Shape2{80, 256, DType::BF16},
                    Shape2{256, 128, DType::BF16}, Shape2{384, 256, DType::BF16}, Shape2{256, 384, DType::BF16},
                    Shape2{96, 256, DType::BF16}, Shape2{256, 96, DType::BF16}, Shape2{16, 256, DType::F32},
                    Shape2{1024, 256, DType::F32}}) {
    Tensor wf = random_f32(rng, {sh.out, sh.in}, 0.05f);
    for (int T : {1, 17, 100, 300}) {
      Tensor x = random_f32(rng, {T, sh.in}, 1.f);
      LinearWeight hw;
      hw.weight = wf;
      Tensor ref = Tensor::empty(DType::F32, {T, sh.out});
      cpu::linear(x, hw, ref);
      LinearWeight dw;
      dw.weight = host_as(wf, DType::BF16);
      gpu().prepare_linear(dw);
      Tensor out = poisoned(sh.od, {T, sh.out});
      gpu().linear(upload(x, DType::BF16), dw, out);
      const double err = rel_err(download_f32(out), ref.ptr<float>(), size_t(T) * size_t(sh.out));
      EXPECT_LT(err, 1e-2) << "linear " << sh.in << " -> " << sh.out << " (" << dtype_name(sh.od) << ") at T=" << T;
    }
  }
}

}  // namespace
}  // namespace sable
