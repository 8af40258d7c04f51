// MLA prefill in the expanded form on the CPU: mla_attention_expanded against
// a double-precision reference (causal limits that cut a chunk anywhere,
// rows that see no key of the chunk), chunks merged by log-sum-exp equal one
// call over all keys, mla_read_kv is an exact gather, and the expanded form
// computes the same attention as the absorbed one (mla_absorb_q +
// mla_attention + head_matmul) over the same paged cache.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "backend/cpu/ops.h"
#include "cpu_kernels/kernel_util.h"

namespace sable {
namespace {

using testing::random_f32;

Tensor i32(const std::vector<int32_t>& v) {
  Tensor t = Tensor::empty(DType::I32, {int64_t(v.size())});
  std::copy(v.begin(), v.end(), t.ptr<int32_t>());
  return t;
}

double max_rel(const float* a, const float* b, int64_t n) {
  double d = 0, m = 0;
  for (int64_t i = 0; i < n; ++i) {
    d = std::max(d, std::fabs(double(a[i]) - double(b[i])));
    m = std::max(m, std::fabs(double(b[i])));
  }
  return d / m;
}

struct Dims {
  int64_t heads = 3, nope = 16, rope = 8, v = 12;
};

// out and lse of the expanded attention in double, the definition.
void reference(const Dims& d, const Tensor& q, const Tensor& kv, const Tensor& k_pe, int q_pos0, int k_pos0,
               float scale, std::vector<float>& out, std::vector<float>& lse) {
  const int64_t Tq = q.dim(0), n = kv.dim(0), qk = d.nope + d.rope;
  out.assign(size_t(Tq * d.heads * d.v), 0.f);
  lse.assign(size_t(Tq * d.heads), -INFINITY);
  for (int64_t i = 0; i < Tq; ++i)
    for (int64_t h = 0; h < d.heads; ++h) {
      std::vector<double> s;
      for (int64_t j = 0; j < n && k_pos0 + j <= q_pos0 + i; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < d.nope; ++c)
          dot += double(q.ptr<float>()[(i * d.heads + h) * qk + c]) * kv.ptr<float>()[(j * d.heads + h) * (d.nope + d.v) + c];
        for (int64_t c = 0; c < d.rope; ++c)
          dot += double(q.ptr<float>()[(i * d.heads + h) * qk + d.nope + c]) * k_pe.ptr<float>()[j * d.rope + c];
        s.push_back(dot * scale);
      }
      if (s.empty()) continue;
      const double mx = *std::max_element(s.begin(), s.end());
      double sum = 0;
      for (double x : s) sum += std::exp(x - mx);
      lse[size_t(i * d.heads + h)] = float(mx + std::log(sum));
      for (int64_t c = 0; c < d.v; ++c) {
        double o = 0;
        for (size_t j = 0; j < s.size(); ++j)
          o += std::exp(s[j] - mx) / sum * kv.ptr<float>()[(int64_t(j) * d.heads + h) * (d.nope + d.v) + d.nope + c];
        out[size_t((i * d.heads + h) * d.v + c)] = float(o);
      }
    }
}

TEST(MlaAttentionExpanded, MatchesReferenceAndMergesChunks) {
  const Dims d;
  const float scale = 0.2f;
  struct Case { int Tq, n, q_pos0, k_pos0; };
  // Own keys (the causal diagonal), earlier context (no masking), keys past
  // the first rows (rows 0..5 see nothing), and a single row.
  for (Case c : {Case{9, 9, 0, 0}, Case{7, 20, 30, 0}, Case{10, 12, 20, 26}, Case{1, 5, 4, 0}}) {
    SCOPED_TRACE(::testing::Message() << "Tq " << c.Tq << " n " << c.n << " q_pos0 " << c.q_pos0 << " k_pos0 " << c.k_pos0);
    Tensor q = random_f32({c.Tq, d.heads, d.nope + d.rope}, 1 + c.Tq);
    Tensor kv = random_f32({c.n, d.heads, d.nope + d.v}, 2 + c.n);
    Tensor k_pe = random_f32({c.n, d.rope}, 3 + c.n);
    Tensor out = Tensor::empty(DType::F32, {c.Tq, d.heads, d.v}), lse = Tensor::empty(DType::F32, {c.Tq, d.heads});
    std::fill(out.ptr<float>(), out.ptr<float>() + out.numel(), NAN);  // poisoned: every row must be written
    cpu::mla_attention_expanded(q, kv, k_pe, c.q_pos0, c.k_pos0, scale, false, out, lse);
    std::vector<float> ro, rl;
    reference(d, q, kv, k_pe, c.q_pos0, c.k_pos0, scale, ro, rl);
    EXPECT_LT(max_rel(out.ptr<float>(), ro.data(), out.numel()), 1e-5);
    for (int64_t i = 0; i < lse.numel(); ++i) {
      if (std::isinf(rl[size_t(i)])) {
        EXPECT_TRUE(std::isinf(lse.ptr<float>()[i]) && lse.ptr<float>()[i] < 0) << i;
        EXPECT_EQ(out.ptr<float>()[i * d.v], 0.f) << i;
      } else {
        EXPECT_NEAR(lse.ptr<float>()[i], rl[size_t(i)], 1e-4) << i;
      }
    }

    // The same keys in three chunks, merged, equal the one call.
    Tensor merged = Tensor::empty(DType::F32, out.shape()), mlse = Tensor::empty(DType::F32, lse.shape());
    const int cuts[] = {0, c.n / 3, 2 * c.n / 3, c.n};
    for (int k = 0; k < 3; ++k) {
      const int a = cuts[k], b = cuts[k + 1];
      if (a == b) continue;
      cpu::mla_attention_expanded(q, kv.rows(a, b), k_pe.rows(a, b), c.q_pos0, c.k_pos0 + a, scale, a > 0, merged, mlse);
    }
    EXPECT_LT(max_rel(merged.ptr<float>(), out.ptr<float>(), out.numel()), 1e-5);
  }
}

TEST(MlaAttentionExpanded, EqualsTheAbsorbedFormOverThePagedCache) {
  const Dims d;
  const int64_t kv_lora = 20, L = kv_lora + d.rope, block = 4;
  const int seq_len = 23, Tq = 9, q_pos0 = seq_len - Tq;
  const float scale = 0.15f;
  const int nblocks = (seq_len + int(block) - 1) / int(block) + 2;
  std::vector<int32_t> table(static_cast<size_t>(nblocks));
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), std::mt19937_64(5));
  Tensor cache = random_f32({nblocks, block, L}, 11);
  Tensor w_uk = random_f32({d.heads, d.nope, kv_lora}, 12, 0.3f);
  Tensor w_uv = random_f32({d.heads, d.v, kv_lora}, 13, 0.3f);
  Tensor q = random_f32({Tq, d.heads, d.nope + d.rope}, 14);

  // Absorbed: q_latent = [q_nope W_UK | q_pe] against the latents, W_UV out.
  std::vector<int32_t> pos, seq, slot;
  for (int i = 0; i < Tq; ++i) {
    pos.push_back(q_pos0 + i);
    seq.push_back(0);
    slot.push_back(0);
  }
  AttentionMetadata m;
  m.positions = i32(pos);
  m.token_seq = i32(seq);
  m.slot_mapping = i32(slot);
  m.seq_lens = i32({seq_len});
  m.block_tables = i32(table).view({1, nblocks});
  m.num_seqs = 1;
  m.max_blocks = nblocks;
  m.num_tokens = Tq;
  Tensor q_latent = Tensor::empty(DType::F32, {Tq, d.heads, L});
  cpu::mla_absorb_q(q, w_uk, q_latent);
  Tensor o_latent = Tensor::empty(DType::F32, {Tq, d.heads, kv_lora});
  cpu::mla_attention(q_latent, cache, m, scale, int(kv_lora), o_latent);
  Tensor absorbed = Tensor::empty(DType::F32, {Tq, d.heads, d.v});
  cpu::head_matmul(o_latent, w_uv, /*transposed=*/true, absorbed);

  // Expanded: gather the latents, up-project with kv_b = [W_UK; W_UV] per
  // head, attend in two chunks.
  std::vector<int32_t> slots;
  for (int j = 0; j < seq_len; ++j) slots.push_back(table[size_t(j / block)] * int32_t(block) + j % int32_t(block));
  Tensor c_kv = Tensor::empty(DType::F32, {seq_len, kv_lora}), k_pe = Tensor::empty(DType::F32, {seq_len, d.rope});
  cpu::mla_read_kv(cache, i32(slots), c_kv, k_pe);
  for (int j = 0; j < seq_len; ++j) {  // an exact gather
    const float* row = cache.ptr<float>() + int64_t(slots[size_t(j)]) * L;
    ASSERT_TRUE(std::equal(row, row + kv_lora, c_kv.ptr<float>() + j * kv_lora)) << j;
    ASSERT_TRUE(std::equal(row + kv_lora, row + L, k_pe.ptr<float>() + j * d.rope)) << j;
  }
  Tensor kv = Tensor::empty(DType::F32, {seq_len, d.heads, d.nope + d.v});
  for (int j = 0; j < seq_len; ++j)
    for (int64_t h = 0; h < d.heads; ++h)
      for (int64_t r = 0; r < d.nope + d.v; ++r) {
        const float* w = r < d.nope ? w_uk.ptr<float>() + (h * d.nope + r) * kv_lora
                                    : w_uv.ptr<float>() + (h * d.v + r - d.nope) * kv_lora;
        double s = 0;
        for (int64_t c = 0; c < kv_lora; ++c) s += double(c_kv.ptr<float>()[j * kv_lora + c]) * w[c];
        kv.ptr<float>()[(j * d.heads + h) * (d.nope + d.v) + r] = float(s);
      }
  Tensor expanded = Tensor::empty(DType::F32, {Tq, d.heads, d.v}), lse = Tensor::empty(DType::F32, {Tq, d.heads});
  const int cut = 10;
  cpu::mla_attention_expanded(q, kv.rows(0, cut), k_pe.rows(0, cut), q_pos0, 0, scale, false, expanded, lse);
  cpu::mla_attention_expanded(q, kv.rows(cut, seq_len), k_pe.rows(cut, seq_len), q_pos0, cut, scale, true, expanded, lse);
  EXPECT_LT(max_rel(expanded.ptr<float>(), absorbed.ptr<float>(), absorbed.numel()), 1e-4);
}

}  // namespace
}  // namespace sable
