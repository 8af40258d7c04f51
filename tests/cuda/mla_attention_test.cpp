// CUDA paged MLA attention against cpu::mla_attention on random data: random
// block tables (blocks drawn from a shuffled pool, unused table entries -1,
// unused cache slots NaN so that any read past a sequence shows), decode
// batches of several sizes and contexts, prefill chunks (causal within the
// chunk), and mixed prefill + decode metadata; both kernels (tensor-core and
// generic), forced split-K counts, block sizes 16 and 64, and the tiny
// model's shape (L 80, v 64, 4 heads).
//
// Bound 1e-2 (norm-wise): q and the cache are bf16-exact on both sides; the
// GPU accumulates in fp32 but rounds the softmax weights to bf16 before P V
// (relative 2^-9 each, independent, so the output error is a fraction of
// that) and rounds the output to bf16 (2^-9); measured errors sit near 3e-3.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include "backend/cpu/ops.h"
#include "backend/cuda/batch_invariant.h"
#include "backend/cuda/ops.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

// The 16-head kernel on an FP8 cache (operands widened in registers) against the
// BF16 cache's output: a few bf16 roundings apart (P rounded to f16 instead of
// bf16, products summed in another k order), where a wrong operand order or
// key mask would be off by O(1).
constexpr double kRegisterFormBound = 4e-3;

struct SeqSpec { int ctx, fresh; };  // keys already cached, new tokens in this batch

struct PagedCase {
  AttentionMetadata host, dev;
  Tensor cache_f32;  // [num_blocks, bs, L]
  int T = 0;
};

PagedCase make_case(std::mt19937_64& rng, const std::vector<SeqSpec>& seqs, int bs, int L) {
  PagedCase c;
  int max_blocks = 0, total_blocks = 0;
  for (auto s : seqs) {
    const int nb = (s.ctx + s.fresh + bs - 1) / bs;
    max_blocks = std::max(max_blocks, nb);
    total_blocks += nb;
  }
  max_blocks += 1;  // trailing unused entries
  const int num_blocks = total_blocks + 3;
  std::vector<int32_t> pool(static_cast<size_t>(num_blocks));
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), rng);
  c.cache_f32 = Tensor::empty(DType::F32, {num_blocks, bs, L});
  std::fill(c.cache_f32.ptr<float>(), c.cache_f32.ptr<float>() + c.cache_f32.numel(), NAN);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<int32_t> tables(size_t(seqs.size()) * max_blocks, -1), positions, token_seq, slots, seq_lens;
  size_t next = 0;
  int max_len = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const int len = seqs[s].ctx + seqs[s].fresh;
    max_len = std::max(max_len, len);
    seq_lens.push_back(len);
    for (int b = 0; b < (len + bs - 1) / bs; ++b) tables[s * max_blocks + size_t(b)] = pool[next++];
    for (int j = 0; j < len; ++j) {
      const int64_t slot = int64_t(tables[s * max_blocks + size_t(j / bs)]) * bs + j % bs;
      float* row = c.cache_f32.ptr<float>() + slot * L;
      for (int i = 0; i < L; ++i) row[i] = bf16_to_f32(f32_to_bf16(nd(rng)));
    }
    for (int j = seqs[s].ctx; j < len; ++j) {
      positions.push_back(j);
      token_seq.push_back(int32_t(s));
      slots.push_back(tables[s * max_blocks + size_t(j / bs)] * bs + j % bs);
    }
  }
  c.T = int(positions.size());
  auto host_i32 = [](const std::vector<int32_t>& v, Shape sh) {
    Tensor t = Tensor::empty(DType::I32, sh);
    std::copy(v.begin(), v.end(), t.ptr<int32_t>());
    return t;
  };
  const int S = int(seqs.size());
  c.host.positions = host_i32(positions, {c.T});
  c.host.token_seq = host_i32(token_seq, {c.T});
  c.host.slot_mapping = host_i32(slots, {c.T});
  c.host.seq_lens = host_i32(seq_lens, {S});
  c.host.block_tables = host_i32(tables, {S, max_blocks});
  c.host.num_seqs = S;
  c.host.max_blocks = max_blocks;
  c.host.max_seq_len = max_len;
  c.host.num_tokens = c.T;
  c.host.all_decode = c.T == S;
  c.dev = c.host;
  c.dev.positions = gpu().to_device(c.host.positions);
  c.dev.token_seq = gpu().to_device(c.host.token_seq);
  c.dev.slot_mapping = gpu().to_device(c.host.slot_mapping);
  c.dev.seq_lens = gpu().to_device(c.host.seq_lens);
  c.dev.block_tables = gpu().to_device(c.host.block_tables);
  return c;
}

const std::vector<cuda::MlaKernel> kBoth = {cuda::MlaKernel::kMma, cuda::MlaKernel::kWgmma, cuda::MlaKernel::kWs,
                                            cuda::MlaKernel::kSmall, cuda::MlaKernel::kGeneric};
const char* kernel_name(cuda::MlaKernel k) {
  switch (k) {
    case cuda::MlaKernel::kMma: return "mma";
    case cuda::MlaKernel::kWgmma: return "wgmma";
    case cuda::MlaKernel::kWs: return "ws";
    case cuda::MlaKernel::kSmall: return "small";
    case cuda::MlaKernel::kGeneric: return "generic";
    default: return "auto";
  }
}

void check_case(std::mt19937_64& rng, const std::vector<SeqSpec>& seqs, int bs, int heads, int L, int Dv,
                const std::vector<cuda::MlaKernel>& kernels, const std::vector<int>& splits, const char* what) {
  SCOPED_TRACE(what);
  PagedCase c = make_case(rng, seqs, bs, L);
  Tensor q = random_f32(rng, {c.T, heads, L}, 1.5f);
  const float scale = 1.f / std::sqrt(192.f);
  Tensor ref = Tensor::empty(DType::F32, {c.T, heads, Dv});
  cpu::mla_attention(q, c.cache_f32, c.host, scale, Dv, ref);
  Tensor dq = upload(q, DType::BF16), dcache = upload(c.cache_f32, DType::BF16);
  for (auto k : kernels)
    for (int s : splits) {
      Tensor out = poisoned(DType::BF16, {c.T, heads, Dv});
      cuda::mla_attention_with(k, s, dq, dcache, c.dev, scale, Dv, out, gpu().allocator(), gpu().stream());
      const double err = rel_err(download_f32(out), ref.ptr<float>(), size_t(ref.numel()));
      EXPECT_LT(err, 1e-2) << kernel_name(k) << " splits " << s;
      if (s == 0) std::printf("[ measured ] %-34s %-8s rel err %.2e\n", what, kernel_name(k), err);
    }
}

class CudaMlaAttention : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
    seed_ = fresh_seed();
    rng_.seed(seed_);
  }
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
};

TEST_F(CudaMlaAttention, DecodeBatches) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  check_case(rng_, {{0, 1}}, 64, 128, 576, 512, kBoth, {0, 1}, "first token");
  check_case(rng_, {{4095, 1}}, 64, 128, 576, 512, kBoth, {0, 1, 3, 64}, "B=1 ctx 4096");
  std::vector<SeqSpec> five;
  for (int i = 0; i < 5; ++i) five.push_back({int(rng_() % 3000), 1});
  check_case(rng_, five, 16, 128, 576, 512, kBoth, {0, 1, 7}, "B=5 random contexts, block 16");
  std::vector<SeqSpec> many;
  for (int i = 0; i < 64; ++i) many.push_back({int(rng_() % 700), 1});
  check_case(rng_, many, 64, 128, 576, 512,
             {cuda::MlaKernel::kMma, cuda::MlaKernel::kWgmma, cuda::MlaKernel::kWs, cuda::MlaKernel::kSmall}, {0, 2},
             "B=64 random contexts");
  // Long splits: many tiles through the two-stage ring (the producer's
  // mbarrier phases wrap many times) at the 128-head decode shape.
  check_case(rng_, {{8191, 1}, {5000, 1}}, 64, 128, 576, 512, {cuda::MlaKernel::kWs, cuda::MlaKernel::kSmall}, {0, 1},
             "B=2 ctx 8192/5001");
}

// Head counts of tensor parallelism (128 / TP): 64 at TP 2 takes either
// kernel; 32 and 16 (TP 4, 8) only the 16-head one, which kAuto then picks
// at every batch size instead of the CUDA-core kernel.
TEST_F(CudaMlaAttention, HeadsPerGpuOfTensorParallelism) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  std::vector<SeqSpec> five;
  for (int i = 0; i < 5; ++i) five.push_back({int(rng_() % 2000), 1});
  for (int heads : {64, 32, 16}) {
    SCOPED_TRACE("heads " + std::to_string(heads));
    check_case(rng_, {{4095, 1}}, 64, heads, 576, 512, {cuda::MlaKernel::kSmall, cuda::MlaKernel::kAuto}, {0, 1, 5},
               "B=1 ctx 4096");
    check_case(rng_, five, 16, heads, 576, 512, {cuda::MlaKernel::kSmall, cuda::MlaKernel::kAuto}, {0, 3}, "B=5");
    check_case(rng_, {{40, 90}, {0, 1}}, 64, heads, 576, 512, {cuda::MlaKernel::kAuto}, {0}, "prefill rows");
  }
}

// kAuto at 128 heads: the 16-head kernel up to set_mla_small_units units
// (default 0: never), the 64-head one above; both right, and the knob's
// edges take effect.
TEST_F(CudaMlaAttention, SmallUnitsKnobPicksEitherKernel) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  EXPECT_FALSE(cuda::set_mla_small_units(-1));
  EXPECT_FALSE(cuda::set_mla_small_units(4097));
  std::vector<SeqSpec> eight;
  for (int i = 0; i < 8; ++i) eight.push_back({int(rng_() % 1500), 1});
  for (int units : {0, 16, 4096}) {
    SCOPED_TRACE("units " + std::to_string(units));
    ASSERT_TRUE(cuda::set_mla_small_units(units));
    check_case(rng_, {{511, 1}}, 64, 128, 576, 512, {cuda::MlaKernel::kAuto}, {0}, "B=1 ctx 512");
    check_case(rng_, eight, 64, 128, 576, 512, {cuda::MlaKernel::kAuto}, {0}, "B=8");
  }
  ASSERT_TRUE(cuda::set_mla_small_units(0));
}

// A floor on tiles per split (set_mla_split_tiles): the splits past a
// token's keys are empty and the combine must skip them, at any split count.
TEST_F(CudaMlaAttention, MinSplitTilesLeaveLaterSplitsEmpty) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  const std::vector<cuda::MlaKernel> tc = {cuda::MlaKernel::kMma, cuda::MlaKernel::kWgmma, cuda::MlaKernel::kWs,
                                           cuda::MlaKernel::kSmall};
  for (int tiles : {2, 3, 5}) {
    SCOPED_TRACE("min tiles per split " + std::to_string(tiles));
    cuda::set_mla_split_tiles(tiles);
    check_case(rng_, {{512, 1}}, 64, 128, 576, 512, tc, {0, 3, 32}, "B=1 ctx 513");
    std::vector<SeqSpec> five;
    for (int i = 0; i < 5; ++i) five.push_back({int(rng_() % 1500), 1});
    check_case(rng_, five, 16, 128, 576, 512, tc, {0, 7, 32}, "B=5 random contexts, block 16");
  }
  cuda::set_mla_split_tiles(0);
}

TEST_F(CudaMlaAttention, PrefillChunks) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  check_case(rng_, {{0, 200}}, 64, 128, 576, 512, kBoth, {0, 1, 3}, "prompt of 200");
  check_case(rng_, {{150, 77}}, 16, 128, 576, 512, kBoth, {0, 1}, "chunk 150+77");
}

TEST_F(CudaMlaAttention, MixedPrefillAndDecode) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  check_case(rng_, {{1000, 1}, {40, 90}, {3, 1}, {0, 17}}, 16, 128, 576, 512, kBoth, {0, 1, 5}, "mixed");
  check_case(rng_, {{63, 2}, {64, 1}, {127, 1}}, 64, 128, 576, 512, kBoth, {0, 1, 2}, "tile edges");
}

// The FP8-cache kernels' widening of e4m3 to bf16, against the host
// decoder: every code, the NaNs in groups of eight and apart, and random
// bytes.
TEST_F(CudaMlaAttention, E4m3WideningMatchesHostDecoderForEveryCode) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  std::vector<uint8_t> bytes;
  for (int b = 0; b < 256; ++b) bytes.push_back(uint8_t(b));  // groups 15 and 31 hold the NaNs
  for (int b = 0; b < 256; ++b)
    if ((b & 0x7f) != 0x7f) bytes.push_back(uint8_t(b));  // no NaN in any group
  bytes.push_back(0x80);
  bytes.push_back(0x00);
  for (int i = 0; i < 1 << 16; ++i) bytes.push_back(uint8_t(rng_()));
  ASSERT_EQ(bytes.size() % 8, 0u);
  const int64_t n = int64_t(bytes.size());
  Tensor host = Tensor::empty(DType::F8_E4M3, {n});
  std::memcpy(host.data(), bytes.data(), bytes.size());
  const Tensor din = gpu().to_device(host);
  Tensor dout = poisoned(DType::BF16, {n});
  cuda::mla_widen_e4m3(din.ptr<uint8_t>(), dout.ptr<uint16_t>(), n, gpu().stream());
  const std::vector<float> out = download_f32(dout);  // bf16 -> f32 is exact
  int bad = 0;
  for (int64_t i = 0; i < n && bad < 8; ++i) {
    const float want = fp8_e4m3_to_f32(bytes[size_t(i)]), got = out[size_t(i)];
    const bool ok = std::isnan(want) ? std::isnan(got) : f32_to_bits(got) == f32_to_bits(want);  // -0 too
    if (!ok) {
      ++bad;
      ADD_FAILURE() << "byte 0x" << std::hex << int(bytes[size_t(i)]) << std::dec << " at " << i << ": " << got
                    << ", want " << want;
    }
  }
}

// The split rule's slots for the 16-head kernel come from its occupancy:
// on Hopper (227 KB of shared memory, 64 K registers an SM) two CTAs of the
// BF16 cache's kernel (98 KB each), three of the FP8 cache's (59 KB, 165
// registers x 128 threads). A change of registers or shared memory that
// costs a CTA shows here first. Asked while a graph captures, too.
TEST_F(CudaMlaAttention, SmallKernelSlotsAreItsOccupancy) {
  int major = 0;
  ASSERT_EQ(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0), cudaSuccess);
  if (major != 9) GTEST_SKIP() << "counts measured for sm_90";
  EXPECT_EQ(cuda::mla_small_ctas_per_sm(false), 2);
  EXPECT_EQ(cuda::mla_small_ctas_per_sm(true), 3);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(gpu().stream(), cudaStreamCaptureModeGlobal), cudaSuccess);
  const int in_capture = cuda::mla_small_ctas_per_sm(true);
  ASSERT_EQ(cudaStreamEndCapture(gpu().stream(), &graph), cudaSuccess);
  cudaGraphDestroy(graph);
  EXPECT_EQ(in_capture, 3);
}

// FP8 latent cache (--kv-cache-dtype fp8): the 64-head tensor-core kernels
// stage e4m3 key tiles and widen them to bf16 exactly, so on a cache of
// e4m3-representable values they give the bits they give on a BF16 cache of
// the same values (any split count, decode and prefill rows, block sizes 16
// and 64), and match the reference within the usual bound. The 16-head
// kernel (also at 32 heads) widens its operands in registers, in a permuted
// k order, in f16 (mla_attention_small_regs.cu): held to the BF16 cache's
// output within kRegisterFormBound instead.
TEST_F(CudaMlaAttention, Fp8CacheMatchesBf16CacheBitwise) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  std::vector<SeqSpec> five;
  for (int i = 0; i < 5; ++i) five.push_back({int(rng_() % 3000), 1});
  const std::vector<std::pair<std::vector<SeqSpec>, int>> cases = {
      {{{0, 1}}, 64}, {{{4095, 1}}, 64}, {five, 16}, {{{150, 77}}, 16}, {{{1000, 1}, {40, 90}, {63, 2}}, 64}};
  for (const auto& [seqs, bs] : cases) {
    PagedCase c = make_case(rng_, seqs, bs, 576);
    float* v = c.cache_f32.ptr<float>();
    for (int64_t i = 0; i < c.cache_f32.numel(); ++i)
      if (!std::isnan(v[i])) v[i] = fp8_e4m3_to_f32(f32_to_fp8_e4m3(v[i]));
    Tensor q = random_f32(rng_, {c.T, 128, 576}, 1.5f);
    const float scale = 1.f / std::sqrt(192.f);
    Tensor ref = Tensor::empty(DType::F32, {c.T, 128, 512});
    cpu::mla_attention(q, c.cache_f32, c.host, scale, 512, ref);
    Tensor dq = upload(q, DType::BF16), d8 = upload(c.cache_f32, DType::F8_E4M3),
           d16 = upload(c.cache_f32, DType::BF16);
    // The 64-head kernels widen each tile into a BF16 stage: the BF16 cache's bits. The 16-head
    // kernel widens its operands in registers (f16 products): within kRegisterFormBound of them.
    for (auto k : {cuda::MlaKernel::kMma, cuda::MlaKernel::kWgmma, cuda::MlaKernel::kWs, cuda::MlaKernel::kSmall})
      for (int s : {0, 1, 3}) {
        SCOPED_TRACE(std::string(kernel_name(k)) + " splits " + std::to_string(s) + " T " + std::to_string(c.T));
        Tensor o8 = poisoned(DType::BF16, {c.T, 128, 512}), o16 = poisoned(DType::BF16, {c.T, 128, 512});
        cuda::mla_attention_with(k, s, dq, d8, c.dev, scale, 512, o8, gpu().allocator(), gpu().stream());
        cuda::mla_attention_with(k, s, dq, d16, c.dev, scale, 512, o16, gpu().allocator(), gpu().stream());
        const auto a8 = download_f32(o8), a16 = download_f32(o16);
        if (k != cuda::MlaKernel::kSmall)
          ASSERT_EQ(std::memcmp(a8.data(), a16.data(), a8.size() * sizeof(float)), 0);
        else
          ASSERT_LT(rel_err(a8, a16), kRegisterFormBound);
        EXPECT_LT(rel_err(a8, ref.ptr<float>(), size_t(ref.numel())), 1e-2);
      }
    // kAuto takes a 64-head kernel for an FP8 cache at one token, by the
    // knob mla-fp8-ws either one.
    const int fp8_ws = cuda::mla_fp8_ws();
    for (int ws : {0, 1}) {
      ASSERT_TRUE(cuda::set_mla_fp8_ws(ws));
      Tensor oa = poisoned(DType::BF16, {c.T, 128, 512});
      cuda::mla_attention_with(cuda::MlaKernel::kAuto, 0, dq, d8, c.dev, scale, 512, oa, gpu().allocator(),
                               gpu().stream());
      EXPECT_LT(rel_err(download_f32(oa), ref.ptr<float>(), size_t(ref.numel())), 1e-2) << "mla-fp8-ws " << ws;
    }
    ASSERT_TRUE(cuda::set_mla_fp8_ws(fp8_ws));
    // Heads per GPU of tensor parallelism (32 at TP 4): kAuto's 16-head
    // kernel on the FP8 cache, within kRegisterFormBound of the BF16 cache's output.
    Tensor q32 = random_f32(rng_, {c.T, 32, 576}, 1.5f);
    Tensor ref32 = Tensor::empty(DType::F32, {c.T, 32, 512});
    cpu::mla_attention(q32, c.cache_f32, c.host, scale, 512, ref32);
    Tensor dq32 = upload(q32, DType::BF16);
    Tensor o16s = poisoned(DType::BF16, {c.T, 32, 512});
    cuda::mla_attention_with(cuda::MlaKernel::kAuto, 0, dq32, d16, c.dev, scale, 512, o16s, gpu().allocator(),
                             gpu().stream());
    const auto s16 = download_f32(o16s);
    Tensor o8s = poisoned(DType::BF16, {c.T, 32, 512});
    cuda::mla_attention_with(cuda::MlaKernel::kAuto, 0, dq32, d8, c.dev, scale, 512, o8s, gpu().allocator(),
                             gpu().stream());
    const auto s8 = download_f32(o8s);
    ASSERT_LT(rel_err(s8, s16), kRegisterFormBound) << "32 heads, T " << c.T;
    EXPECT_LT(rel_err(s8, ref32.ptr<float>(), size_t(ref32.numel())), 1e-2) << "32 heads, T " << c.T;
  }
  // Every finite e4m3 value in the keys (subnormals, -0, +-448): the
  // warp-specialized kernel's producer widens them (mla_attention_ws.cu) and
  // must give the BF16 cache's bits.
  std::vector<uint8_t> finite;
  for (int b = 0; b < 256; ++b)
    if ((b & 0x7F) != 0x7F) finite.push_back(uint8_t(b));
  PagedCase c = make_case(rng_, {{700, 1}, {63, 1}, {0, 40}}, 64, 576);
  float* v = c.cache_f32.ptr<float>();
  size_t k = 0;
  for (int64_t i = 0; i < c.cache_f32.numel(); ++i)
    if (!std::isnan(v[i])) v[i] = fp8_e4m3_to_f32(finite[k++ % finite.size()]);
  Tensor q = random_f32(rng_, {c.T, 128, 576}, 0.01f);
  Tensor dq = upload(q, DType::BF16), d8 = upload(c.cache_f32, DType::F8_E4M3), d16 = upload(c.cache_f32, DType::BF16);
  for (int s : {0, 2}) {
    Tensor o8 = poisoned(DType::BF16, {c.T, 128, 512}), o16 = poisoned(DType::BF16, {c.T, 128, 512});
    cuda::mla_attention_with(cuda::MlaKernel::kWs, s, dq, d8, c.dev, 0.1f, 512, o8, gpu().allocator(), gpu().stream());
    cuda::mla_attention_with(cuda::MlaKernel::kWs, s, dq, d16, c.dev, 0.1f, 512, o16, gpu().allocator(),
                             gpu().stream());
    const auto a8 = download_f32(o8), a16 = download_f32(o16);
    ASSERT_EQ(std::memcmp(a8.data(), a16.data(), a8.size() * sizeof(float)), 0) << "every e4m3 value, splits " << s;
  }
}

// The split-K combine with its splits walked by 1, 2, 4 or 8 thread groups
// (or as many as the split count picks), and a row's value dims over 1 or 4
// blocks: the same outputs within the bound, also with empty splits (short
// contexts under many splits), 16 heads (a TP 8 GPU's share, where batch 1
// runs up to 64 splits) and a value width of 64 (fewer value dims than a
// group's threads cover).
TEST_F(CudaMlaAttention, CombineGroupsAgree) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  EXPECT_FALSE(cuda::set_mla_combine_groups(3));
  EXPECT_FALSE(cuda::set_mla_combine_groups(-1));
  EXPECT_FALSE(cuda::set_mla_combine_blocks(3));
  EXPECT_FALSE(cuda::set_mla_combine_blocks(-1));
  std::vector<SeqSpec> five;
  for (int i = 0; i < 5; ++i) five.push_back({int(rng_() % 2000), 1});
  for (int blocks : {1, 4, 0})
    for (int groups : {1, 2, 4, 8, 0}) {
      SCOPED_TRACE("groups " + std::to_string(groups) + ", blocks " + std::to_string(blocks));
      ASSERT_TRUE(cuda::set_mla_combine_groups(groups));
      ASSERT_TRUE(cuda::set_mla_combine_blocks(blocks));
      check_case(rng_, {{4095, 1}}, 64, 16, 576, 512, {cuda::MlaKernel::kSmall}, {3, 33, 64, 128}, "B=1 ctx 4096");
      check_case(rng_, five, 16, 16, 576, 512, {cuda::MlaKernel::kSmall}, {7, 64}, "B=5 random contexts");
      check_case(rng_, {{4095, 1}}, 64, 128, 576, 512, {cuda::MlaKernel::kWs}, {5, 64}, "128 heads");
      check_case(rng_, {{30, 1}, {7, 5}}, 16, 4, 80, 64, {cuda::MlaKernel::kGeneric}, {3, 9}, "tiny");
    }
  ASSERT_TRUE(cuda::set_mla_combine_groups(0));  // the defaults
  ASSERT_TRUE(cuda::set_mla_combine_blocks(0));
}

// The combine's blocks a row split its value dims only: each output's sum is
// the same additions in the same order, so the bits equal one block's.
TEST_F(CudaMlaAttention, CombineBlocksKeepTheBits) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  PagedCase c = make_case(rng_, {{4095, 1}, {1500, 1}}, 64, 576);
  Tensor dq = upload(random_f32(rng_, {c.T, 16, 576}, 1.5f), DType::BF16), dcache = upload(c.cache_f32, DType::BF16);
  for (int groups : {1, 4, 8})
    for (int S : {5, 64}) {
      ASSERT_TRUE(cuda::set_mla_combine_groups(groups));
      std::vector<float> one;
      for (int blocks : {1, 2, 4}) {
        ASSERT_TRUE(cuda::set_mla_combine_blocks(blocks));
        Tensor out = poisoned(DType::BF16, {c.T, 16, 512});
        cuda::mla_attention_with(cuda::MlaKernel::kSmall, S, dq, dcache, c.dev, 0.07f, 512, out, gpu().allocator(),
                                 gpu().stream());
        const std::vector<float> got = download_f32(out);  // bf16 -> f32 is exact
        if (blocks == 1)
          one = got;
        else
          EXPECT_EQ(std::memcmp(got.data(), one.data(), got.size() * sizeof(float)), 0)
              << "groups " << groups << ", splits " << S << ", blocks " << blocks;
      }
    }
  ASSERT_TRUE(cuda::set_mla_combine_groups(0));
  ASSERT_TRUE(cuda::set_mla_combine_blocks(0));
}

// mla_plan names what mla_attention_with launches: a forced kernel and split
// count as given, kAuto resolved to a kernel the shapes fit, the rule's split
// count (>= 1) at S = 0, and 1 split in batch-invariant mode.
TEST_F(CudaMlaAttention, PlanNamesTheKernelAndSplits) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  PagedCase c = make_case(rng_, {{4095, 1}}, 64, 576);
  Tensor q = upload(random_f32(rng_, {c.T, 16, 576}, 1.5f), DType::BF16);
  Tensor cache = upload(c.cache_f32, DType::BF16), out = poisoned(DType::BF16, {c.T, 16, 512});
  const cuda::MlaPlan forced = cuda::mla_plan(cuda::MlaKernel::kSmall, 12, q, cache, c.dev, 512, out);
  EXPECT_EQ(forced.kernel, cuda::MlaKernel::kSmall);
  EXPECT_EQ(forced.splits, 12);
  const cuda::MlaPlan rule = cuda::mla_plan(cuda::MlaKernel::kAuto, 0, q, cache, c.dev, 512, out);
  EXPECT_EQ(rule.kernel, cuda::MlaKernel::kSmall);  // 16 heads: the only tensor-core kernel that fits
  EXPECT_GT(rule.splits, 1);                        // one token over 4,096 keys is split
  const bool was = cuda::batch_invariant();
  cuda::set_batch_invariant(true);
  EXPECT_EQ(cuda::mla_plan(cuda::MlaKernel::kAuto, 0, q, cache, c.dev, 512, out).splits, 1);
  cuda::set_batch_invariant(was);
  EXPECT_THROW(cuda::mla_plan(cuda::MlaKernel::kWs, 0, q, cache, c.dev, 512, out), std::runtime_error);  // 16 heads
}

TEST_F(CudaMlaAttention, TinyModelShapeGeneric) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  check_case(rng_, {{0, 13}, {30, 1}, {7, 5}}, 16, 4, 80, 64, {cuda::MlaKernel::kGeneric}, {0, 1, 3}, "tiny");
  check_case(rng_, {{500, 1}}, 16, 4, 80, 64, {cuda::MlaKernel::kAuto}, {0}, "tiny auto");
  check_case(rng_, {{0, 100}}, 16, 4, 80, 64, {cuda::MlaKernel::kAuto}, {0}, "tiny prompt 100");
  check_case(rng_, {{0, 300}}, 16, 4, 80, 64, {cuda::MlaKernel::kAuto}, {0}, "tiny prompt 300");
}

}  // namespace
}  // namespace sable
