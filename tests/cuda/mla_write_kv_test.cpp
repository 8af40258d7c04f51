// CUDA mla_write_kv (rms_norm of c_kv + rope of k_pe + paged write, fused)
// against the CPU reference. Random distinct slots, a padding token (slot -1)
// that must write nothing, and every other cache slot left untouched.
// Bound 8e-3 on the written rows: bf16-exact inputs, fp32 norm and rotation,
// one bf16 rounding.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "backend/cpu/ops.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

TEST(CudaMlaWriteKv, MatchesCpu) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (auto [T, kv_lora, rope_dim, num_blocks, bs] : {std::tuple{37, 512, 64, 16, 16}, std::tuple{5, 64, 16, 4, 4},
                                                      std::tuple{64, 512, 64, 3, 64}}) {
    const int L = kv_lora + rope_dim;
    Tensor kv = random_f32(rng, {T, L}, 1.f), nw = random_f32(rng, {kv_lora}, 1.f);
    std::vector<int32_t> all(size_t(num_blocks * bs));
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), rng);
    std::vector<int32_t> slots(all.begin(), all.begin() + T), pos(static_cast<size_t>(T));
    for (auto& p : pos) p = int32_t(rng() % 100000);
    slots[size_t(T / 2)] = -1;  // padding token
    std::vector<float> inv(size_t(rope_dim / 2));
    for (int i = 0; i < rope_dim / 2; ++i) inv[size_t(i)] = std::pow(10000.f, -2.f * i / float(rope_dim));
    RopeParams hp;
    hp.inv_freq = Tensor::empty(DType::F32, {rope_dim / 2});
    std::copy(inv.begin(), inv.end(), hp.inv_freq.ptr<float>());
    hp.attention_factor = 1.07f;
    RopeParams dp = hp;
    dp.inv_freq = gpu().to_device(hp.inv_freq);

    // CPU reference: the padding token is skipped (the CPU asserts on it).
    std::vector<int32_t> cslots, cpos;
    std::vector<float> ckv;
    for (int t = 0; t < T; ++t)
      if (slots[size_t(t)] >= 0) {
        cslots.push_back(slots[size_t(t)]);
        cpos.push_back(pos[size_t(t)]);
        ckv.insert(ckv.end(), kv.ptr<float>() + t * L, kv.ptr<float>() + (t + 1) * L);
      }
    const int64_t Tc = int64_t(cslots.size());
    Tensor hkv = Tensor::empty(DType::F32, {Tc, L});
    std::copy(ckv.begin(), ckv.end(), hkv.ptr<float>());
    AttentionMetadata hm;
    hm.slot_mapping = Tensor::empty(DType::I32, {Tc});
    hm.positions = Tensor::empty(DType::I32, {Tc});
    std::copy(cslots.begin(), cslots.end(), hm.slot_mapping.ptr<int32_t>());
    std::copy(cpos.begin(), cpos.end(), hm.positions.ptr<int32_t>());
    Tensor ref = Tensor::empty(DType::F32, {num_blocks, bs, L});
    std::fill(ref.ptr<float>(), ref.ptr<float>() + ref.numel(), NAN);
    cpu::mla_write_kv(hkv, nw, 1e-6f, hp, hm, ref);

    AttentionMetadata dm;
    dm.slot_mapping = upload_i32(slots);
    dm.positions = upload_i32(pos);
    Tensor cache = poisoned(DType::BF16, {num_blocks, bs, L});
    gpu().mla_write_kv(upload(kv, DType::BF16), upload(nw, DType::BF16), 1e-6f, dp, dm, cache);
    auto got = download_f32(cache);
    std::vector<float> g, r;
    for (int64_t s = 0; s < int64_t(num_blocks) * bs; ++s) {
      const bool written = std::find(cslots.begin(), cslots.end(), int32_t(s)) != cslots.end();
      for (int i = 0; i < L; ++i) {
        const float v = got[size_t(s * L + i)];
        if (written) { g.push_back(v); r.push_back(ref.ptr<float>()[s * L + i]); }
        else ASSERT_TRUE(std::isnan(v)) << "slot " << s << " was written";
      }
    }
    EXPECT_LT(rel_err(g, r), 8e-3);
  }
}

}  // namespace
}  // namespace sable
