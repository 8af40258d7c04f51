// moe_experts, mla_attention, head_matmul and mla_absorb_q on the CPU: each
// against a plain double-precision (or linear_reference-built) reference on
// random data, and batch invariance: a token's outputs are bitwise the same
// computed alone as inside a batch.
#include "backend/cpu/ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/convert.h"
#include "cpu_kernels/kernel_util.h"

namespace sable {
namespace {

using testing::bitwise_equal;
using testing::random_f32;
using testing::random_weight;

Tensor i32(const std::vector<int32_t>& v, Shape s) {
  Tensor t = Tensor::empty(DType::I32, s);
  std::copy(v.begin(), v.end(), t.ptr<int32_t>());
  return t;
}

double max_rel(const Tensor& a, const std::vector<double>& ref) {
  double d = 0, m = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    d = std::max(d, std::fabs(double(a.ptr<float>()[i]) - ref[i]));
    m = std::max(m, std::fabs(ref[i]));
  }
  return d / m;
}

// ---- moe_experts ----

struct Moe {
  MoeExperts w;
  int64_t H, I;
  int E, K;
};

Moe make_moe(DType dt, int E, int K, int64_t H, int64_t I, uint64_t seed) {
  Moe m{{}, H, I, E, K};
  for (int e = 0; e < E; ++e) {
    m.w.gate.push_back(random_weight(dt, I, H, seed++));
    m.w.up.push_back(random_weight(dt, I, H, seed++));
    m.w.down.push_back(random_weight(dt, H, I, seed++));
  }
  return m;
}

void routes(int64_t T, int E, int K, uint64_t seed, Tensor& ids, Tensor& wts) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> all(static_cast<size_t>(E)), v;
  std::vector<float> w;
  std::iota(all.begin(), all.end(), 0);
  for (int64_t t = 0; t < T; ++t) {
    std::shuffle(all.begin(), all.end(), rng);
    for (int k = 0; k < K; ++k) {
      v.push_back(all[size_t(k)]);
      w.push_back(0.1f + float(rng() % 1000) / 1000.f);
    }
  }
  ids = i32(v, {T, K});
  wts = Tensor::empty(DType::F32, {T, K});
  std::copy(w.begin(), w.end(), wts.ptr<float>());
}

TEST(MoeExperts, MatchesReferenceAndIsBatchInvariant) {
  for (DType dt : {DType::BF16, DType::F8_E4M3}) {
    const int64_t T = 21, H = 200, I = 72;
    const int E = 9, K = 3;
    Moe m = make_moe(dt, E, K, H, I, 10);
    Tensor x = random_f32({T, H}, 3), ids, wts;
    routes(T, E, K, 4, ids, wts);
    Tensor out = Tensor::empty(DType::F32, {T, H});
    cpu::moe_experts(x, ids, wts, m.w, out);

    // Reference: per token, per chosen expert, with linear_reference.
    std::vector<double> ref(size_t(T * H), 0.0);
    for (int64_t t = 0; t < T; ++t)
      for (int k = 0; k < K; ++k) {
        const int e = ids.ptr<int32_t>()[t * K + k];
        Tensor xt = x.rows(t, t + 1), g = Tensor::empty(DType::F32, {1, I}), u = Tensor::empty(DType::F32, {1, I});
        cpu::linear_reference(xt, m.w.gate[size_t(e)], g);
        cpu::linear_reference(xt, m.w.up[size_t(e)], u);
        for (int64_t i = 0; i < I; ++i) {
          const double gv = g.ptr<float>()[i];
          g.ptr<float>()[i] = float(gv / (1 + std::exp(-gv)) * u.ptr<float>()[i]);
        }
        Tensor y = Tensor::empty(DType::F32, {1, H});
        cpu::linear_reference(g, m.w.down[size_t(e)], y);
        for (int64_t j = 0; j < H; ++j) ref[size_t(t * H + j)] += double(wts.ptr<float>()[t * K + k]) * y.ptr<float>()[j];
      }
    EXPECT_LT(max_rel(out, ref), 1e-5) << dtype_name(dt);

    // Each token alone, and a few sub-batches.
    for (int64_t t = 0; t < T; ++t) {
      Tensor one = Tensor::empty(DType::F32, {1, H});
      Tensor id1 = ids.rows(t, t + 1), w1 = wts.rows(t, t + 1);
      cpu::moe_experts(x.rows(t, t + 1), id1, w1, m.w, one);
      ASSERT_TRUE(bitwise_equal(one.ptr<float>(), out.ptr<float>() + t * H, H)) << dtype_name(dt) << " token " << t;
    }
    for (int64_t t0 : {0, 5, 13}) {
      const int64_t n = 7;
      Tensor part = Tensor::empty(DType::F32, {n, H});
      cpu::moe_experts(x.rows(t0, t0 + n), ids.rows(t0, t0 + n), wts.rows(t0, t0 + n), m.w, part);
      ASSERT_TRUE(bitwise_equal(part.ptr<float>(), out.ptr<float>() + t0 * H, n * H)) << dtype_name(dt);
    }
  }
}

TEST(MoeExperts, LargeBatchesAreChunkedInvariantly) {
  // More tokens than one pass of the op takes (512): tokens in every chunk
  // equal their results alone.
  const int64_t T = 1100, H = 40, I = 24;
  const int E = 9, K = 3;
  Moe m = make_moe(DType::BF16, E, K, H, I, 30);
  Tensor x = random_f32({T, H}, 31), ids, wts;
  routes(T, E, K, 32, ids, wts);
  Tensor out = Tensor::empty(DType::F32, {T, H});
  cpu::moe_experts(x, ids, wts, m.w, out);
  for (int64_t t : {0, 511, 512, 700, 1023, 1024, 1099}) {
    Tensor one = Tensor::empty(DType::F32, {1, H});
    Tensor id1 = ids.rows(t, t + 1), w1 = wts.rows(t, t + 1);
    cpu::moe_experts(x.rows(t, t + 1), id1, w1, m.w, one);
    ASSERT_TRUE(bitwise_equal(one.ptr<float>(), out.ptr<float>() + t * H, H)) << "token " << t;
  }
}

// ---- mla_attention ----

// Two sequences in a shuffled paged cache; the batch holds the last `q_len`
// tokens of each.
struct AttnCase {
  int64_t heads = 5, L = 72, v_dim = 64, block = 4;
  std::vector<int> seq_len = {19, 11};
  int q_len = 6;
  Tensor cache, q;
  std::vector<int32_t> table;  // [S, max_blocks]
  int max_blocks = 0;
};

AttnCase make_attn(uint64_t seed) {
  AttnCase c;
  c.max_blocks = int((*std::max_element(c.seq_len.begin(), c.seq_len.end()) + c.block - 1) / c.block);
  const int nblocks = c.max_blocks * int(c.seq_len.size());
  std::vector<int32_t> perm(static_cast<size_t>(nblocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937_64(seed));
  c.table = perm;
  c.cache = random_f32({nblocks, c.block, c.L}, seed + 1);
  c.q = random_f32({int64_t(c.seq_len.size()) * c.q_len, c.heads, c.L}, seed + 2, 0.5f);
  return c;
}

// Metadata for batch tokens [b0, b1) of the case (token i: sequence i /
// q_len, position seq_len - q_len + i % q_len).
AttentionMetadata meta(const AttnCase& c, int b0, int b1) {
  std::vector<int32_t> pos, seq, slot;
  for (int i = b0; i < b1; ++i) {
    const int s = i / c.q_len;
    pos.push_back(c.seq_len[size_t(s)] - c.q_len + i % c.q_len);
    seq.push_back(s);
    slot.push_back(0);
  }
  AttentionMetadata m;
  m.positions = i32(pos, {int64_t(pos.size())});
  m.token_seq = i32(seq, {int64_t(seq.size())});
  m.slot_mapping = i32(slot, {int64_t(slot.size())});
  std::vector<int32_t> lens(c.seq_len.begin(), c.seq_len.end());
  m.seq_lens = i32(lens, {int64_t(lens.size())});
  m.block_tables = i32(c.table, {int64_t(c.seq_len.size()), c.max_blocks});
  m.num_seqs = int(c.seq_len.size());
  m.max_blocks = c.max_blocks;
  m.num_tokens = b1 - b0;
  return m;
}

TEST(MlaAttention, MatchesReferenceAndIsBatchInvariant) {
  AttnCase c = make_attn(77);
  const int T = int(c.q.dim(0));
  const float scale = 0.125f;
  Tensor out = Tensor::empty(DType::F32, {T, c.heads, c.v_dim});
  cpu::mla_attention(c.q, c.cache, meta(c, 0, T), scale, int(c.v_dim), out);

  std::vector<double> ref(size_t(out.numel()));
  AttentionMetadata m = meta(c, 0, T);
  for (int t = 0; t < T; ++t) {
    const int s = m.token_seq.ptr<int32_t>()[t], n = m.positions.ptr<int32_t>()[t] + 1;
    for (int64_t h = 0; h < c.heads; ++h) {
      const float* q = c.q.ptr<float>() + (t * c.heads + h) * c.L;
      std::vector<double> sc(static_cast<size_t>(n));
      double mx = -1e300, sum = 0;
      for (int j = 0; j < n; ++j) {
        const int64_t slot = int64_t(c.table[size_t(s * c.max_blocks + j / c.block)]) * c.block + j % c.block;
        const float* k = c.cache.ptr<float>() + slot * c.L;
        double d = 0;
        for (int64_t i = 0; i < c.L; ++i) d += double(q[i]) * k[i];
        sc[size_t(j)] = d * scale;
        mx = std::max(mx, sc[size_t(j)]);
      }
      for (auto& v : sc) sum += (v = std::exp(v - mx));
      for (int64_t i = 0; i < c.v_dim; ++i) {
        double o = 0;
        for (int j = 0; j < n; ++j) {
          const int64_t slot = int64_t(c.table[size_t(s * c.max_blocks + j / c.block)]) * c.block + j % c.block;
          o += sc[size_t(j)] / sum * c.cache.ptr<float>()[slot * c.L + i];
        }
        ref[size_t((t * c.heads + h) * c.v_dim + i)] = o;
      }
    }
  }
  EXPECT_LT(max_rel(out, ref), 1e-5);

  const int64_t per = c.heads * c.v_dim;
  for (int t = 0; t < T; ++t) {
    Tensor one = Tensor::empty(DType::F32, {1, c.heads, c.v_dim});
    cpu::mla_attention(c.q.rows(t, t + 1), c.cache, meta(c, t, t + 1), scale, int(c.v_dim), one);
    ASSERT_TRUE(bitwise_equal(one.ptr<float>(), out.ptr<float>() + t * per, per)) << "token " << t;
  }
}

// ---- head_matmul, mla_absorb_q ----

TEST(HeadMatmul, BothLayoutsMatchReferenceAndAreBatchInvariant) {
  const int64_t T = 9, heads = 3, K = 40, N = 50;
  for (DType dt : {DType::F32, DType::BF16})
    for (bool transposed : {false, true}) {
      Tensor x = random_f32({T, heads, K}, 5);
      LinearWeight wl = random_weight(dt, heads * (transposed ? N : K), transposed ? K : N, 6);
      Tensor w = wl.weight.view({heads, transposed ? N : K, transposed ? K : N});
      Tensor wf = Tensor::empty(DType::F32, w.shape());
      cpu::to_f32(w.data(), dt, w.numel(), wf.ptr<float>());
      Tensor out = Tensor::empty(DType::F32, {T, heads, N});
      cpu::head_matmul(x, w, transposed, out);
      std::vector<double> ref(size_t(out.numel()));
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t n = 0; n < N; ++n) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k)
              s += double(x.ptr<float>()[(t * heads + h) * K + k]) *
                   wf.ptr<float>()[h * K * N + (transposed ? n * K + k : k * N + n)];
            ref[size_t((t * heads + h) * N + n)] = s;
          }
      EXPECT_LT(max_rel(out, ref), 1e-5) << dtype_name(dt) << " transposed=" << transposed;
      for (int64_t t = 0; t < T; ++t) {
        Tensor one = Tensor::empty(DType::F32, {1, heads, N});
        cpu::head_matmul(x.rows(t, t + 1), w, transposed, one);
        ASSERT_TRUE(bitwise_equal(one.ptr<float>(), out.ptr<float>() + t * heads * N, heads * N));
      }
    }
}

TEST(MlaAbsorbQ, MatchesReferenceAndIsBatchInvariant) {
  const int64_t T = 7, heads = 3, nope = 24, rope = 8, kv_lora = 40;
  Tensor q = random_f32({T, heads, nope + rope}, 8);
  LinearWeight wl = random_weight(DType::BF16, heads * nope, kv_lora, 9);
  Tensor w = wl.weight.view({heads, nope, kv_lora});
  Tensor out = Tensor::empty(DType::F32, {T, heads, kv_lora + rope});
  cpu::mla_absorb_q(q, w, out);
  std::vector<double> ref(size_t(out.numel()));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < heads; ++h) {
      const float* qh = q.ptr<float>() + (t * heads + h) * (nope + rope);
      double* r = ref.data() + (t * heads + h) * (kv_lora + rope);
      for (int64_t n = 0; n < kv_lora; ++n) {
        double s = 0;
        for (int64_t k = 0; k < nope; ++k) s += double(qh[k]) * bf16_to_f32(w.ptr<uint16_t>()[(h * nope + k) * kv_lora + n]);
        r[n] = s;
      }
      for (int64_t i = 0; i < rope; ++i) r[kv_lora + i] = qh[nope + i];
    }
  EXPECT_LT(max_rel(out, ref), 1e-5);
  for (int64_t t = 0; t < T; ++t) {
    Tensor one = Tensor::empty(DType::F32, {1, heads, kv_lora + rope});
    cpu::mla_absorb_q(q.rows(t, t + 1), w, one);
    ASSERT_TRUE(bitwise_equal(one.ptr<float>(), out.ptr<float>() + t * heads * (kv_lora + rope), heads * (kv_lora + rope)));
  }
}

// RoPE on the way (rope_positions): the bits of cpu::rope on q first.
TEST(MlaAbsorbQ, RopeOnTheWayEqualsRopeFirst) {
  const int64_t T = 5, heads = 3, nope = 24, rope = 8, kv_lora = 40;
  Tensor q = random_f32({T, heads, nope + rope}, 10);
  LinearWeight wl = random_weight(DType::BF16, heads * nope, kv_lora, 11);
  Tensor w = wl.weight.view({heads, nope, kv_lora});
  RopeParams rp;
  rp.inv_freq = Tensor::empty(DType::F32, {rope / 2});
  for (int64_t i = 0; i < rope / 2; ++i) rp.inv_freq.ptr<float>()[i] = std::pow(10000.f, -2.f * float(i) / float(rope));
  rp.attention_factor = 1.3f;
  Tensor pos = i32({0, 7, 4095, 65537, 3}, {T});
  for (bool interleaved : {true, false}) {
    rp.interleaved = interleaved;
    Tensor fused = Tensor::empty(DType::F32, {T, heads, kv_lora + rope});
    cpu::mla_absorb_q(q, w, fused, &pos, &rp);
    Tensor q2 = Tensor::empty(DType::F32, {T, heads, nope + rope});
    std::copy_n(q.ptr<float>(), q.numel(), q2.ptr<float>());
    cpu::rope(q2, int(nope), int(rope), pos, rp);
    Tensor first = Tensor::empty(DType::F32, {T, heads, kv_lora + rope});
    cpu::mla_absorb_q(q2, w, first);
    EXPECT_TRUE(bitwise_equal(fused.ptr<float>(), first.ptr<float>(), fused.numel())) << "interleaved " << interleaved;
  }
}

// A NaN logit ranks last: routing still returns K distinct real experts (the
// experts kernels index weights by them), the finite ones first.
TEST(MoeRoute, NanLogitsRankLast) {
  const int E = 16, K = 4;
  Tensor logits = Tensor::empty(DType::F32, {2, E});
  for (int e = 0; e < E; ++e) {
    logits.ptr<float>()[e] = NAN;                                  // row 0: all NaN
    logits.ptr<float>()[E + e] = e < 2 ? float(e) : NAN;  // row 1: experts 0 and 1 finite
  }
  MoeRoutingParams p{E, K, 4, 4, true, 1.f, 0};
  Tensor ids = Tensor::empty(DType::I32, {2, K}), w = Tensor::empty(DType::F32, {2, K});
  cpu::moe_route(logits, Tensor(), p, ids, w);
  const int32_t* id = ids.ptr<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(id, id + K), (std::vector<int32_t>{0, 1, 2, 3}));  // ties: lower index
  EXPECT_EQ(std::vector<int32_t>(id + K, id + 2 * K), (std::vector<int32_t>{1, 0, 2, 3}));
}

}  // namespace
}  // namespace sable

namespace sable {
namespace {

// Backend::copy_from_host_2d: a block of columns of a 2-D array, as a decode
// graph uploads the block-table columns a step uses (runner/decode_graph.h).
TEST(CpuBackend, CopyFromHost2dWritesOnlyTheBlock) {
  Backend& be = cpu_backend();
  Tensor dst = Tensor::empty(DType::I32, {3, 5});  // 3 rows of 5 entries
  std::fill(dst.ptr<int32_t>(), dst.ptr<int32_t>() + 15, -1);
  const std::vector<int32_t> src = {1, 2, 9, 9, 3, 4, 9, 9, 5, 6, 9, 9};  // 3 rows of 4, 2 used
  // Rows 1 and 2, columns 0 and 1, from the first two source rows.
  be.copy_from_host_2d(src.data(), 4 * sizeof(int32_t), dst, 5 * sizeof(int32_t), 5 * sizeof(int32_t),
                       2 * sizeof(int32_t), 2);
  const std::vector<int32_t> got(dst.ptr<int32_t>(), dst.ptr<int32_t>() + 15);
  EXPECT_EQ(got, (std::vector<int32_t>{-1, -1, -1, -1, -1, 1, 2, -1, -1, -1, 3, 4, -1, -1, -1}));
  // A block past the tensor's end is refused, not written.
  EXPECT_THROW(be.copy_from_host_2d(src.data(), 16, dst, 40, 20, 8, 2), std::invalid_argument);
}

}  // namespace
}  // namespace sable
