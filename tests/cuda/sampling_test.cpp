// GPU sampling (backend/cuda/sampling.h): argmax against the host; greedy
// rows; batch invariance (same seed + step + logits => same token in any
// batch, at any row); the sampled distribution against softmax with each
// filter (tolerance 0.015 absolute on frequencies from 20000 draws: 4 sigma
// of a binomial), within one chunk of the split kernels and across chunks;
// the host's kernel-skipping hints against none; penalties against a host
// implementation of vLLM's rules.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "backend/cuda/sampling.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

template <typename T>
Tensor dev_vec(const std::vector<T>& v) {
  DType dt = sizeof(T) == 8 ? DType::U64 : (std::is_floating_point_v<T> ? DType::F32 : DType::I32);
  Tensor h = Tensor::empty(dt, {int64_t(v.size())});
  std::memcpy(h.data(), v.data(), v.size() * sizeof(T));
  return gpu().to_device(h);
}

std::vector<int32_t> run_sample(const std::vector<float>& logits, int V, const std::vector<float>& temp,
                                const std::vector<int32_t>& topk, const std::vector<float>& topp,
                                const std::vector<float>& minp, const std::vector<uint64_t>& seed,
                                const std::vector<int64_t>& step, const std::vector<int32_t>& draft = {},
                                bool hints = false) {
  const int64_t N = int64_t(temp.size());
  Tensor hl = Tensor::empty(DType::F32, {N, V});
  std::copy(logits.begin(), logits.end(), hl.ptr<float>());
  Tensor dl = gpu().to_device(hl);
  Tensor dt = dev_vec(temp), dk = dev_vec(topk), dp = dev_vec(topp), dm = dev_vec(minp), ds = dev_vec(seed),
         dst = dev_vec(step);
  cuda::SamplingParams p;
  p.temperature = dt.ptr<float>();
  p.top_k = dk.ptr<int32_t>();
  p.top_p = dp.ptr<float>();
  p.min_p = dm.ptr<float>();
  p.seed = ds.ptr<uint64_t>();
  p.step = dst.ptr<int64_t>();
  Tensor dd = draft.empty() ? Tensor() : dev_vec(draft);
  if (!draft.empty()) p.draft = dd.ptr<int32_t>();
  if (hints) {  // what CudaBackend::sample_tokens promises for these rows
    p.any_random = p.any_top_k = p.any_top_p = false;
    for (int64_t i = 0; i < N; ++i) {
      if (!(temp[size_t(i)] > 0.f) || topk[size_t(i)] == 1) continue;
      p.any_random = true;
      p.any_top_k = p.any_top_k || (topk[size_t(i)] > 0 && topk[size_t(i)] < V);
      p.any_top_p = p.any_top_p || topp[size_t(i)] < 1.f;
    }
  }
  // Scratch and output start as garbage: the kernels may rely on nothing.
  Tensor scratch = poisoned(DType::U8, {cuda::sample_scratch_bytes(N, V)});
  Tensor out = poisoned(DType::I32, {N});
  cuda::sample(dl, p, scratch, out, gpu().stream());
  return download_i32(out);
}

// Every sampling test runs against both samplers: rows split over blocks
// (knob sampling-split 2) and one block a row (0).
class CudaSampling : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    was_ = cuda::sampling_split();
    ASSERT_TRUE(cuda::set_sampling_split(GetParam()));
  }
  void TearDown() override { cuda::set_sampling_split(was_); }

 private:
  int was_ = 0;
};
INSTANTIATE_TEST_SUITE_P(Samplers, CudaSampling, ::testing::Values(2, 0),
                         [](const ::testing::TestParamInfo<int>& i) { return i.param ? "split" : "block_a_row"; });

// sampling-split 1 picks the sampler by row count (split up to 64 rows):
// a row's token must not depend on which, so every row of a 100-row batch
// (one block a row) equals the row drawn alone (split), drafts included.
TEST(CudaSamplingSplitAuto, ARowsTokenDoesNotDependOnTheSamplerItsBatchPicks) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  struct Restore {
    int was = cuda::sampling_split();
    ~Restore() { cuda::set_sampling_split(was); }
  } restore;
  ASSERT_TRUE(cuda::set_sampling_split(1));
  std::mt19937_64 rng(seed);
  const int N = 100, V = 129280;
  Tensor l = random_f32(rng, {N, V}, 2.f, DType::F32);
  std::vector<float> lv(l.ptr<float>(), l.ptr<float>() + int64_t(N) * V);
  std::vector<float> temp(N), topp(N), minp(N);
  std::vector<int32_t> topk(N), draft(N);
  std::vector<uint64_t> seeds(N);
  std::vector<int64_t> steps(N);
  for (int i = 0; i < N; ++i) {
    temp[size_t(i)] = i % 10 == 0 ? 0.f : 0.5f + 0.1f * float(i % 7);
    topk[size_t(i)] = i % 3 == 0 ? 0 : 20 + i;
    topp[size_t(i)] = i % 4 == 0 ? 1.f : 0.9f;
    minp[size_t(i)] = i % 5 == 0 ? 0.05f : 0.f;
    seeds[size_t(i)] = rng();
    steps[size_t(i)] = int64_t(rng() % 1000);
    // Half the rows verify a draft: the row's argmax (likely: the verdict
    // turns on the acceptance mass) or any token (likely rejected).
    const float* r = lv.data() + int64_t(i) * V;
    const int32_t best = int32_t(std::max_element(r, r + V) - r);
    draft[size_t(i)] = i % 2 == 0 ? -1 : i % 4 == 1 ? best : int32_t(rng() % V);
  }
  auto all = run_sample(lv, V, temp, topk, topp, minp, seeds, steps, draft);
  for (int i = 0; i < N; i += 7) {
    std::vector<float> row(lv.begin() + int64_t(i) * V, lv.begin() + int64_t(i + 1) * V);
    auto one = run_sample(row, V, {temp[size_t(i)]}, {topk[size_t(i)]}, {topp[size_t(i)]}, {minp[size_t(i)]},
                          {seeds[size_t(i)]}, {steps[size_t(i)]}, {draft[size_t(i)]});
    EXPECT_EQ(one[0], all[size_t(i)]) << "row " << i;
  }
}

TEST_P(CudaSampling, ArgmaxMatchesHostWithLowestIndexTies) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int N = 9, V = 129280;
  Tensor l = random_f32(rng, {N, V}, 3.f, DType::F32);
  l.ptr<float>()[2 * V + 7] = 100.f;  // a planted tie: index 7 wins over 70000
  l.ptr<float>()[2 * V + 70000] = 100.f;
  l.ptr<float>()[3 * V + 5] = NAN;    // NaN never wins
  l.ptr<float>()[3 * V + 6] = 50.f;
  Tensor out = poisoned(DType::I32, {N});
  Tensor scratch = poisoned(DType::U8, {cuda::sample_scratch_bytes(N, V)});
  cuda::argmax(gpu().to_device(l), scratch, out, gpu().stream());
  auto got = download_i32(out);
  for (int r = 0; r < N; ++r) {
    const float* row = l.ptr<float>() + int64_t(r) * V;
    int best = 0;
    for (int i = 1; i < V; ++i)
      if (row[i] > row[best] || std::isnan(row[best])) best = i;
    EXPECT_EQ(got[size_t(r)], best) << "row " << r;
  }
  // Greedy rows of sample(): temperature 0, or top_k 1, are the argmax.
  std::vector<float> lv(l.ptr<float>(), l.ptr<float>() + int64_t(N) * V);
  std::vector<float> temp(N, 0.f);
  std::vector<int32_t> topk(N, 0);
  temp[1] = 0.7f;
  topk[1] = 1;
  auto s = run_sample(lv, V, temp, topk, std::vector<float>(N, 1.f), std::vector<float>(N, 0.f),
                      std::vector<uint64_t>(N, 1), std::vector<int64_t>(N, 0));
  EXPECT_EQ(s, got);
}

TEST_P(CudaSampling, SameSeedAndStepGiveSameTokenInAnyBatch) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int N = 16, V = 129280;
  Tensor l = random_f32(rng, {N, V}, 2.f, DType::F32);
  std::vector<float> lv(l.ptr<float>(), l.ptr<float>() + int64_t(N) * V);
  std::vector<float> temp(N), topp(N), minp(N);
  std::vector<int32_t> topk(N);
  std::vector<uint64_t> seeds(N);
  std::vector<int64_t> steps(N);
  for (int i = 0; i < N; ++i) {
    temp[size_t(i)] = 0.5f + 0.1f * float(i % 7);
    topk[size_t(i)] = i % 3 == 0 ? 0 : 20 + i;
    topp[size_t(i)] = i % 4 == 0 ? 1.f : 0.9f;
    minp[size_t(i)] = i % 5 == 0 ? 0.05f : 0.f;
    seeds[size_t(i)] = rng();
    steps[size_t(i)] = int64_t(rng() % 1000);
  }
  auto all = run_sample(lv, V, temp, topk, topp, minp, seeds, steps);
  auto again = run_sample(lv, V, temp, topk, topp, minp, seeds, steps);
  EXPECT_EQ(all, again);
  // The backend's hints skip kernels, never change a token.
  EXPECT_EQ(run_sample(lv, V, temp, topk, topp, minp, seeds, steps, {}, /*hints=*/true), all);
  // Each row alone, and the batch reversed.
  for (int i = 0; i < N; i += 5) {
    std::vector<float> row(lv.begin() + int64_t(i) * V, lv.begin() + int64_t(i + 1) * V);
    auto one = run_sample(row, V, {temp[size_t(i)]}, {topk[size_t(i)]}, {topp[size_t(i)]}, {minp[size_t(i)]},
                          {seeds[size_t(i)]}, {steps[size_t(i)]});
    EXPECT_EQ(one[0], all[size_t(i)]) << "row " << i;
  }
  std::vector<float> rl;
  for (int i = N - 1; i >= 0; --i) rl.insert(rl.end(), lv.begin() + int64_t(i) * V, lv.begin() + int64_t(i + 1) * V);
  auto rev = [](auto v) { std::reverse(v.begin(), v.end()); return v; };
  auto r = run_sample(rl, V, rev(temp), rev(topk), rev(topp), rev(minp), rev(seeds), rev(steps));
  EXPECT_EQ(rev(r), all);
  // A different step draws anew (not always the same token).
  std::vector<int64_t> steps2 = steps;
  for (auto& s : steps2) s += 1;
  EXPECT_NE(run_sample(lv, V, temp, topk, topp, minp, seeds, steps2), all);
}

// where[i]: the index of row[i] in a row of V logits whose others are
// -1e4 (no mass); empty: the row as it is. Frequencies by row's index.
std::vector<double> frequencies(const std::vector<float>& row, float temp, int topk, float topp, float minp, int N,
                                int32_t draft = -1, const std::vector<int>& where = {}, int wide = 0) {
  const int V = where.empty() ? int(row.size()) : wide;
  std::vector<float> full(row);
  if (!where.empty()) {
    full.assign(size_t(V), -1e4f);
    for (size_t i = 0; i < row.size(); ++i) full[size_t(where[i])] = row[i];
    if (draft >= 0) draft = where[size_t(draft)];
  }
  std::vector<float> lv;
  for (int i = 0; i < N; ++i) lv.insert(lv.end(), full.begin(), full.end());
  std::vector<uint64_t> seeds(static_cast<size_t>(N));
  std::iota(seeds.begin(), seeds.end(), 12345);
  auto tok = run_sample(lv, V, std::vector<float>(N, temp), std::vector<int32_t>(N, topk), std::vector<float>(N, topp),
                        std::vector<float>(N, minp), seeds, std::vector<int64_t>(N, 3), std::vector<int32_t>(N, draft));
  std::vector<double> f(size_t(V), 0.0);
  for (int t : tok) {
    EXPECT_TRUE(t >= 0 && t < V);
    if (t >= 0 && t < V) f[size_t(t)] += 1.0 / N;
  }
  if (where.empty()) return f;
  std::vector<double> g(row.size());
  double rest = 1.0;
  for (size_t i = 0; i < row.size(); ++i) rest -= (g[i] = f[size_t(where[i])]);
  EXPECT_LT(rest, 1e-9) << "a token without mass was drawn";
  return g;
}

std::vector<double> expected(const std::vector<float>& row, float temp, const std::vector<int>& keep) {
  std::vector<double> p(row.size(), 0.0);
  double z = 0;
  for (int i : keep) { p[size_t(i)] = std::exp(double(row[size_t(i)]) / temp); z += p[size_t(i)]; }
  for (auto& v : p) v /= z;
  return p;
}

TEST_P(CudaSampling, DistributionFollowsSoftmaxAndFilters) {
  SABLE_REQUIRE_GPU();
  const std::vector<float> row = {2.f, 1.f, 0.5f, 0.f, -1.f, 1.5f, -3.f, 0.25f};  // order: 0 5 1 2 7 3 4 6
  const int N = 20000;
  auto near = [](const std::vector<double>& a, const std::vector<double>& b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
  };
  EXPECT_LT(near(frequencies(row, 1.f, 0, 1.f, 0.f, N), expected(row, 1.f, {0, 1, 2, 3, 4, 5, 6, 7})), 0.015);
  EXPECT_LT(near(frequencies(row, 0.7f, 0, 1.f, 0.f, N), expected(row, 0.7f, {0, 1, 2, 3, 4, 5, 6, 7})), 0.015);
  EXPECT_LT(near(frequencies(row, 1.f, 3, 1.f, 0.f, N), expected(row, 1.f, {0, 5, 1})), 0.015);
  // top-p 0.6 at T=1: p = .390 .144 .087 .053 .019 .237 .003 .068 -> cumulative .390 (0), .627 (5): keep {0, 5}.
  EXPECT_LT(near(frequencies(row, 1.f, 0, 0.6f, 0.f, N), expected(row, 1.f, {0, 5})), 0.015);
  // top-p 0.7: .627 < .7 <= .771 (1): keep {0, 5, 1}.
  EXPECT_LT(near(frequencies(row, 1.f, 0, 0.7f, 0.f, N), expected(row, 1.f, {0, 5, 1})), 0.015);
  // min-p 0.3: keep p_i >= 0.3 p_max, i.e. logit >= 2 + ln 0.3 = 0.796: {0, 5, 1}.
  EXPECT_LT(near(frequencies(row, 1.f, 0, 1.f, 0.3f, N), expected(row, 1.f, {0, 5, 1})), 0.015);
  // top-k 4 then top-p 0.8 of what is left: renormalized .42 .26 .15 .09 -> keep {0, 5, 1}.
  EXPECT_LT(near(frequencies(row, 1.f, 4, 0.8f, 0.f, N), expected(row, 1.f, {0, 5, 1})), 0.015);
}

// The same distributions with the row's 8 logits spread over the chunks of
// the split kernels (4,096 logits each; V = 8,201 is not a multiple of 4):
// the per-chunk maxima, histograms, argmaxes and draft masses fold into the
// row's. 10,000 draws: tolerance 0.022 (4.4 sigma at p = 0.5).
TEST_P(CudaSampling, DistributionAcrossChunks) {
  SABLE_REQUIRE_GPU();
  const std::vector<float> row = {2.f, 1.f, 0.5f, 0.f, -1.f, 1.5f, -3.f, 0.25f};
  const std::vector<int> where = {4096, 3, 8200, 4095, 17, 8192, 2048, 0};
  const int V = 8201, N = 10000;
  auto near = [](const std::vector<double>& a, const std::vector<double>& b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
  };
  auto f = [&](float temp, int topk, float topp, float minp, int32_t draft = -1) {
    return frequencies(row, temp, topk, topp, minp, N, draft, where, V);
  };
  const std::vector<int> all = {0, 1, 2, 3, 4, 5, 6, 7};
  EXPECT_LT(near(f(1.f, 0, 1.f, 0.f), expected(row, 1.f, all)), 0.022);
  EXPECT_LT(near(f(1.f, 3, 1.f, 0.f), expected(row, 1.f, {0, 5, 1})), 0.022);
  EXPECT_LT(near(f(1.f, 0, 0.6f, 0.f), expected(row, 1.f, {0, 5})), 0.022);
  EXPECT_LT(near(f(1.f, 0, 1.f, 0.3f), expected(row, 1.f, {0, 5, 1})), 0.022);
  EXPECT_LT(near(f(1.f, 4, 0.8f, 0.f), expected(row, 1.f, {0, 5, 1})), 0.022);
  // A draft in another chunk than the row's best (5 at 8192; p = .237).
  const auto d = f(1.f, 0, 1.f, 0.f, 5);
  EXPECT_LT(near(d, expected(row, 1.f, all)), 0.022);
  EXPECT_NEAR(d[5], expected(row, 1.f, all)[5], 0.022);
  // Greedy: the argmax, whichever chunk holds it.
  EXPECT_NEAR(f(0.f, 0, 1.f, 0.f)[0], 1.0, 1e-9);
}

// Speculative decoding's verification (SamplingParams::draft): the row
// gives the draft d with probability p(d) (accepted) and otherwise draws
// from p without d, so every token's frequency is exactly p's (lossless),
// and d's frequency is the acceptance rate p(d). A residual that kept d, or
// an acceptance of p(d)^2, moves d's frequency off p(d).
TEST_P(CudaSampling, DraftVerificationKeepsTheDistribution) {
  SABLE_REQUIRE_GPU();
  const std::vector<float> row = {2.f, 1.f, 0.5f, 0.f, -1.f, 1.5f, -3.f, 0.25f};
  const int N = 20000;
  auto near = [](const std::vector<double>& a, const std::vector<double>& b) {
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
  };
  const std::vector<int> all = {0, 1, 2, 3, 4, 5, 6, 7};
  for (int32_t d : {0, 5, 3, 6}) {  // p(d) = .39, .24, .05, .003
    const auto want = expected(row, 1.f, all);
    const auto got = frequencies(row, 1.f, 0, 1.f, 0.f, N, d);
    EXPECT_LT(near(got, want), 0.015) << "draft " << d;
    EXPECT_NEAR(got[size_t(d)], want[size_t(d)], 0.015) << "draft " << d;
  }
  // Temperature 0.7 with top-k 3: the draft is verified under the filtered distribution.
  EXPECT_LT(near(frequencies(row, 0.7f, 3, 1.f, 0.f, N, 5), expected(row, 0.7f, {0, 5, 1})), 0.015);
  // A draft the filters removed is never given: p(d) = 0.
  const auto filtered = frequencies(row, 1.f, 3, 1.f, 0.f, N, 7);
  EXPECT_EQ(filtered[7], 0.0);
  EXPECT_LT(near(filtered, expected(row, 1.f, {0, 5, 1})), 0.015);
  // A draft holding all the mass (one survivor) is always accepted.
  const auto only = frequencies(row, 1.f, 0, 0.3f, 0.f, N, 0);  // top-p 0.3 keeps {0}
  EXPECT_NEAR(only[0], 1.0, 1e-9);                              // frequencies are sums of 1/N
  // Greedy rows ignore the draft: the argmax.
  const auto greedy = frequencies(row, 0.f, 0, 1.f, 0.f, 100, 5);
  EXPECT_NEAR(greedy[0], 1.0, 1e-9);
  // Same seed + step => same verdict, and a different step a different draw.
  std::vector<float> lv;
  for (int i = 0; i < 64; ++i) lv.insert(lv.end(), row.begin(), row.end());
  std::vector<uint64_t> seeds(64);
  std::iota(seeds.begin(), seeds.end(), 7);
  auto once = [&](int64_t step) {
    return run_sample(lv, 8, std::vector<float>(64, 1.f), std::vector<int32_t>(64, 0), std::vector<float>(64, 1.f),
                      std::vector<float>(64, 0.f), seeds, std::vector<int64_t>(64, step), std::vector<int32_t>(64, 5));
  };
  EXPECT_EQ(once(4), once(4));
  EXPECT_NE(once(4), once(5));
}

TEST(CudaSamplingPenalties, FollowVllmRules) {
  SABLE_REQUIRE_GPU();
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const int N = 4, V = 1000;
  Tensor l = random_f32(rng, {N, V}, 2.f, DType::F32);
  std::vector<float> rep = {1.3f, 1.f, 0.8f, 1.f}, pres = {0.5f, 0.f, 0.2f, 0.f}, freq = {0.25f, 0.f, 0.1f, 0.f};
  std::vector<int32_t> po = {0}, pi, oo = {0}, oi;
  for (int r = 0; r < N; ++r) {
    for (int j = 0; j < 50; ++j) pi.push_back(int32_t(rng() % 60));
    for (int j = 0; j < 30; ++j) oi.push_back(int32_t(rng() % 80));
    po.push_back(int32_t(pi.size()));
    oo.push_back(int32_t(oi.size()));
  }
  // Host reference.
  std::vector<float> ref(l.ptr<float>(), l.ptr<float>() + N * V);
  for (int r = 0; r < N; ++r) {
    std::vector<int> count(V, 0);
    std::vector<char> seen(V, 0);
    for (int j = po[size_t(r)]; j < po[size_t(r) + 1]; ++j) seen[size_t(pi[size_t(j)])] = 1;
    for (int j = oo[size_t(r)]; j < oo[size_t(r) + 1]; ++j) { seen[size_t(oi[size_t(j)])] = 1; ++count[size_t(oi[size_t(j)])]; }
    for (int i = 0; i < V; ++i) {
      float& x = ref[size_t(r * V + i)];
      if (seen[size_t(i)] && rep[size_t(r)] != 1.f) x = x > 0 ? x / rep[size_t(r)] : x * rep[size_t(r)];
      if (count[size_t(i)] > 0) x -= freq[size_t(r)] * float(count[size_t(i)]) + pres[size_t(r)];
    }
  }
  Tensor dl = gpu().to_device(l);
  Tensor drep = dev_vec(rep), dpres = dev_vec(pres), dfreq = dev_vec(freq), dpo = dev_vec(po), dpi = dev_vec(pi),
         doo = dev_vec(oo), doi = dev_vec(oi);
  cuda::SamplingWorkspace ws(gpu().allocator(), 8, V, gpu().stream());
  cuda::PenaltyParams p;
  p.repetition = drep.ptr<float>();
  p.presence = dpres.ptr<float>();
  p.frequency = dfreq.ptr<float>();
  p.prompt_offsets = dpo.ptr<int32_t>();
  p.prompt_ids = dpi.ptr<int32_t>();
  p.output_offsets = doo.ptr<int32_t>();
  p.output_ids = doi.ptr<int32_t>();
  cuda::apply_penalties(dl, p, ws, gpu().stream());
  auto got = download_f32(dl);
  for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(got[i], ref[i], 1e-5f * (1.f + std::abs(ref[i]))) << i;
  // The workspace is back to zero, so a second call applies the same again.
  std::vector<int32_t> counts(size_t(8 * V));
  gpu().copy_to_host(Tensor(ws.counts(), DType::I32, {8, V}, Device::kCUDA), counts.data());
  EXPECT_TRUE(std::all_of(counts.begin(), counts.end(), [](int32_t c) { return c == 0; }));
}

}  // namespace
}  // namespace sable
