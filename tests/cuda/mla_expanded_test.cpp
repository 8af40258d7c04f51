// CUDA MLA prefill in the expanded form against the CPU reference
// (cpu::mla_attention_expanded, cpu::mla_read_kv) on fresh random data:
// both kernels (tensor-core at DeepSeek-V3's dims, generic at any dims and
// F32), query and key counts off the tile sizes, the causal diagonal, an
// earlier context (no masking), keys past some rows (rows that see nothing),
// chunks merged by log-sum-exp against one call over all keys, and the
// latent gather (exact).
//
// Bound 1e-2 (norm-wise), as for the absorbed kernels: inputs are bf16-exact
// on both sides; the GPU rounds the softmax weights to bf16 before P V and
// the output to bf16 (2^-9 relative each), and each merge of a chunk reads
// the bf16 output back (another 2^-9 per chunk).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "backend/cpu/ops.h"
#include "backend/cuda/ops.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;
using Kernel = cuda::MlaExpandedKernel;

const char* kernel_name(Kernel k) {
  return k == Kernel::kWgmma ? "wgmma" : k == Kernel::kMma ? "mma" : k == Kernel::kGeneric ? "generic" : "auto";
}

struct Dims {
  int heads, nope, rope, v;
};
constexpr Dims kDsv3{128, 128, 64, 128};

class CudaMlaExpanded : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
    seed_ = fresh_seed();
    rng_.seed(seed_);
  }

  // One call per chunk (cuts split the n keys) on the GPU, one call over all
  // keys on the CPU; out and lse compared (lse only where finite).
  void check(Dims d, int Tq, int n, int q_pos0, int k_pos0, Kernel k, DType dt, std::vector<int> cuts,
             const char* what) {
    SCOPED_TRACE(::testing::Message() << what << " seed " << seed_ << " Tq " << Tq << " n " << n << " q_pos0 " << q_pos0
                                      << " k_pos0 " << k_pos0);
    const float scale = 1.f / std::sqrt(float(d.nope + d.rope));
    Tensor q = random_f32(rng_, {Tq, d.heads, d.nope + d.rope}, 1.f);
    Tensor kv = random_f32(rng_, {n, d.heads, d.nope + d.v}, 1.f);
    Tensor k_pe = random_f32(rng_, {n, d.rope}, 1.f);
    Tensor ref = Tensor::empty(DType::F32, {Tq, d.heads, d.v}), ref_lse = Tensor::empty(DType::F32, {Tq, d.heads});
    cpu::mla_attention_expanded(q, kv, k_pe, q_pos0, k_pos0, scale, false, ref, ref_lse);

    Tensor dq = upload(q, dt), dkv = upload(kv, dt), dpe = upload(k_pe, dt);
    Tensor out = poisoned(dt, {Tq, d.heads, d.v}), lse = poisoned(DType::F32, {Tq, d.heads});
    cuts.insert(cuts.begin(), 0);
    cuts.push_back(n);
    for (size_t c = 0; c + 1 < cuts.size(); ++c) {
      const int a = cuts[c], b = cuts[c + 1];
      if (a >= b) continue;
      cuda::mla_attention_expanded_with(k, dq, dkv.rows(a, b), dpe.rows(a, b), q_pos0, k_pos0 + a, scale, a > 0, out,
                                        lse, gpu().stream());
    }
    const std::vector<float> got = download_f32(out), got_lse = download_f32(lse);
    const double err = rel_err(got, ref.ptr<float>(), size_t(ref.numel()));
    EXPECT_LT(err, 1e-2) << (kernel_name(k));
    double lse_err = 0;
    for (size_t i = 0; i < got_lse.size(); ++i) {
      const float r = ref_lse.ptr<float>()[i];
      if (std::isinf(r)) {
        EXPECT_TRUE(std::isinf(got_lse[i]) && got_lse[i] < 0) << "row-head " << i;
      } else {
        lse_err = std::max(lse_err, double(std::fabs(got_lse[i] - r)));
      }
    }
    EXPECT_LT(lse_err, 2e-2);
    std::printf("[ measured ] %-36s %-7s out rel err %.2e, lse max abs err %.2e\n", what, kernel_name(k), err, lse_err);
  }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
};

TEST_F(CudaMlaExpanded, CausalPromptChunks) {
  for (Kernel k : {Kernel::kWgmma, Kernel::kMma, Kernel::kGeneric}) {
    check(kDsv3, 1, 1, 0, 0, k, DType::BF16, {}, "first token of a prompt");
    check(kDsv3, 200, 200, 0, 0, k, DType::BF16, {}, "prompt of 200 over its own keys");
    check(kDsv3, 37, 37 + 300, 300, 0, k, DType::BF16, {}, "chunk of 37 after 300 cached");
    check({16, 128, 64, 128}, 130, 130, 1000, 1000, k, DType::BF16, {}, "16 heads, chunk at 1000");
    // 11 key tiles per call: the wgmma kernel's four-stage ring wraps.
    check({8, 128, 64, 128}, 700, 700, 0, 0, k, DType::BF16, {}, "8 heads, prompt of 700");
  }
}

TEST_F(CudaMlaExpanded, ContextChunksMergeByLse) {
  for (Kernel k : {Kernel::kWgmma, Kernel::kMma, Kernel::kGeneric}) {
    check(kDsv3, 70, 300, 230, 0, k, DType::BF16, {64, 150}, "3 key chunks, causal tail");
    check(kDsv3, 65, 5000, 5000, 0, k, DType::BF16, {1000, 4000}, "earlier context only, 3 chunks");
    check(kDsv3, 100, 150, 20, 50, k, DType::BF16, {70}, "rows before the keys see none");
  }
}

TEST_F(CudaMlaExpanded, GenericAnyDimsAndF32) {
  const Dims tiny{4, 32, 16, 32};
  check(tiny, 45, 45, 0, 0, Kernel::kGeneric, DType::BF16, {}, "tiny dims bf16");
  check(tiny, 45, 90, 45, 0, Kernel::kGeneric, DType::F32, {16, 40}, "tiny dims f32, 3 chunks");
  check({3, 16, 8, 200}, 9, 300, 291, 0, Kernel::kGeneric, DType::F32, {129}, "v 200");
  check(kDsv3, 20, 20, 0, 0, Kernel::kAuto, DType::F32, {}, "dsv3 dims in f32 (auto: generic)");
}

TEST_F(CudaMlaExpanded, ReadKvIsAnExactGather) {
  const int nb = 40, bs = 16, kv_lora = 512, rope = 64, n = 333;
  for (DType dt : {DType::BF16, DType::F32}) {
    Tensor cache = random_f32(rng_, {nb, bs, kv_lora + rope}, 1.f);
    std::vector<int32_t> slots(n);
    for (auto& s : slots) s = int32_t(rng_() % (nb * bs));
    Tensor dcache = upload(cache, DType::BF16);
    Tensor c_kv = poisoned(dt, {n, kv_lora}), k_pe = poisoned(dt, {n, rope});
    cuda::mla_read_kv(dcache, upload_i32(slots, {n}), c_kv, k_pe, gpu().stream());
    const auto a = download_f32(c_kv), b = download_f32(k_pe);
    for (int j = 0; j < n; ++j) {
      const float* row = cache.ptr<float>() + int64_t(slots[size_t(j)]) * (kv_lora + rope);
      ASSERT_TRUE(std::equal(row, row + kv_lora, a.begin() + int64_t(j) * kv_lora)) << "key " << j;
      ASSERT_TRUE(std::equal(row + kv_lora, row + kv_lora + rope, b.begin() + int64_t(j) * rope)) << "key " << j;
    }
  }
}

}  // namespace
}  // namespace sable
