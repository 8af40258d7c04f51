// CUDA MLA prefill (expanded form), the cases that mla_expanded_test
// leaves out: the latent gather from every cache dtype the paged cache may
// hold (BF16, F16, F32, FP8 E4M3) into BF16 and F32, through the vectorised
// and the scalar path, bitwise against cpu::mla_read_kv; and the attention
// at positions past 100K with several 128-row blocks, causal limits that cut
// warps and key tiles at odd offsets, key chunks off the 64-key tiles,
// blocks in which no row sees the chunk (the kernel's early exit, both with
// and without accumulate), and chunks merged in reverse order (the stored
// state is "no key yet" when the visible chunk arrives).
//
// Bound 1e-2 norm-wise on out, 2e-2 absolute on lse: see
// mla_expanded_test.cpp (bf16-exact inputs, bf16 P and output).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/convert.h"
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

class CudaMlaExpandedEdges : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
    seed_ = fresh_seed();
    rng_.seed(seed_);
  }
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
};

Tensor host_i32(const std::vector<int32_t>& v) {
  Tensor t = Tensor::empty(DType::I32, {int64_t(v.size())});
  std::copy(v.begin(), v.end(), t.ptr<int32_t>());
  return t;
}

TEST_F(CudaMlaExpandedEdges, ReadKvEveryCacheDtypeBitwise) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  struct Case { int kv_lora, rope; };
  for (Case c : {Case{512, 64}, Case{20, 12}})  // vectorised; scalar (not multiples of 8)
    for (DType cdt : {DType::BF16, DType::F16, DType::F32, DType::F8_E4M3})
      for (DType odt : {DType::BF16, DType::F32}) {
        SCOPED_TRACE(::testing::Message() << "kv_lora " << c.kv_lora << " cache " << dtype_name(cdt) << " out "
                                          << dtype_name(odt));
        const int nb = 9, bs = 16, n = 77, L = c.kv_lora + c.rope;
        // Values exact in the cache dtype; the F32 cache holds values that
        // BF16 outputs must round (to nearest even on both sides).
        Tensor cache = random_f32(rng_, {nb, bs, L}, 1.f, cdt);
        std::vector<int32_t> slots(static_cast<size_t>(n));
        for (auto& s : slots) s = int32_t(rng_() % uint64_t(nb * bs));  // repeats allowed
        Tensor rc = Tensor::empty(odt, {n, c.kv_lora}), rp = Tensor::empty(odt, {n, c.rope});
        cpu::mla_read_kv(host_as(cache, cdt), host_i32(slots), rc, rp);
        Tensor dc = poisoned(odt, {n, c.kv_lora}), dp = poisoned(odt, {n, c.rope});
        cuda::mla_read_kv(upload(cache, cdt), upload_i32(slots), dc, dp, gpu().stream());
        const std::vector<float> gc = download_f32(dc), gp = download_f32(dp);
        std::vector<float> ec(gc.size()), ep(gp.size());
        cpu::to_f32(rc.data(), odt, rc.numel(), ec.data());
        cpu::to_f32(rp.data(), odt, rp.numel(), ep.data());
        EXPECT_EQ(std::memcmp(gc.data(), ec.data(), gc.size() * 4), 0);
        EXPECT_EQ(std::memcmp(gp.data(), ep.data(), gp.size() * 4), 0);
      }
}

// GPU chunks (in `order`) against one CPU call over all keys.
void check(std::mt19937_64& rng, int heads, int Tq, int n, int q_pos0, int k_pos0, std::vector<int> cuts,
           bool reverse, const char* what) {
  SCOPED_TRACE(::testing::Message() << what << ": Tq " << Tq << " n " << n << " q_pos0 " << q_pos0 << " k_pos0 "
                                    << k_pos0);
  const int nope = 128, rope = 64, v = 128;
  const float scale = 0.1352f;
  Tensor q = random_f32(rng, {Tq, heads, nope + rope}, 1.f);
  Tensor kv = random_f32(rng, {n, heads, nope + v}, 1.f);
  Tensor k_pe = random_f32(rng, {n, rope}, 1.f);
  Tensor ref = Tensor::empty(DType::F32, {Tq, heads, v}), ref_lse = Tensor::empty(DType::F32, {Tq, heads});
  cpu::mla_attention_expanded(q, kv, k_pe, q_pos0, k_pos0, scale, false, ref, ref_lse);

  Tensor dq = upload(q, DType::BF16), dkv = upload(kv, DType::BF16), dpe = upload(k_pe, DType::BF16);
  cuts.insert(cuts.begin(), 0);
  cuts.push_back(n);
  std::vector<std::pair<int, int>> chunks;
  for (size_t c = 0; c + 1 < cuts.size(); ++c) chunks.push_back({cuts[c], cuts[c + 1]});
  if (reverse) std::reverse(chunks.begin(), chunks.end());
  for (Kernel k : {Kernel::kWgmma, Kernel::kMma, Kernel::kGeneric}) {
    Tensor out = poisoned(DType::BF16, {Tq, heads, v}), lse = poisoned(DType::F32, {Tq, heads});
    bool first = true;
    for (auto [a, b] : chunks) {
      cuda::mla_attention_expanded_with(k, dq, dkv.rows(a, b), dpe.rows(a, b), q_pos0, k_pos0 + a, scale, !first, out,
                                        lse, gpu().stream());
      first = false;
    }
    const std::vector<float> got = download_f32(out), got_lse = download_f32(lse);
    const double err = rel_err(got, ref.ptr<float>(), size_t(ref.numel()));
    const char* kname = kernel_name(k);
    EXPECT_LT(err, 1e-2) << kname;
    double lse_err = 0;
    for (size_t i = 0; i < got_lse.size(); ++i) {
      const float r = ref_lse.ptr<float>()[i];
      if (std::isinf(r)) {
        EXPECT_TRUE(std::isinf(got_lse[i]) && got_lse[i] < 0) << kname << " row-head " << i;
        for (int c = 0; c < v; ++c) ASSERT_EQ(got[i * size_t(v) + size_t(c)], 0.f) << kname << " row-head " << i;
      } else {
        lse_err = std::max(lse_err, double(std::fabs(got_lse[i] - r)));
      }
    }
    EXPECT_LT(lse_err, 2e-2) << kname;
    std::printf("[ measured ] %-40s %-7s out rel err %.2e, lse max abs err %.2e\n", what, kname, err, lse_err);
  }
}

TEST_F(CudaMlaExpandedEdges, LargePositionsOddLimitsAndChunkOrders) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  // Own keys far into a sequence, 3 row blocks, key chunks off the tiles.
  check(rng_, 16, 300, 300, 123456, 123456, {100, 229}, false, "prompt chunk at 123456");
  // Context of 77 earlier keys: the diagonal sits 77 keys right of the tile grid.
  check(rng_, 16, 257, 334, 100077, 100000, {33, 200}, false, "257 rows after 77 cached");
  // delta 5: every warp's causal edge cuts a tile inside its 16 rows.
  check(rng_, 8, 200, 205, 5, 0, {}, false, "delta 5");
  // Chunks merged in reverse: the first call sees the later keys, whose
  // early rows see nothing (lse -inf, out 0), then the earlier keys arrive.
  check(rng_, 16, 150, 400, 250, 0, {260, 330}, true, "reverse chunk order");
  // No row sees any key (one call; the block's early exit writes 0 / -inf).
  check(rng_, 16, 40, 30, 0, 100, {}, false, "keys after every row");
  // Context keys plus keys past every row (early exit with accumulate).
  check(rng_, 16, 40, 200, 100, 0, {150}, false, "second chunk past every row");
}

}  // namespace
}  // namespace sable
