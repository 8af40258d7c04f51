// The single-process stand-in for NCCL: sums and gathers between rank
// threads, identical results on every rank, and abort() waking a rank that
// waits in a collective for one that failed.
#include "dist/local_group.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

#include "core/dtype.h"
#include "dist/rank_threads.h"

namespace sable {
namespace {

TEST(LocalGroup, AllReduceSumsF32AndBf16IdenticallyOnEveryRank) {
  const int n = 3;
  auto comms = make_local_group(n);
  RankThreads threads(n, {});
  std::vector<Tensor> f32, bf16;
  for (int r = 0; r < n; ++r) {
    Tensor a = Tensor::empty(DType::F32, {2, 5}), b = Tensor::empty(DType::BF16, {7});
    for (int i = 0; i < 10; ++i) a.ptr<float>()[i] = float(r * 100 + i) + 0.25f;
    for (int i = 0; i < 7; ++i) b.ptr<uint16_t>()[i] = f32_to_bf16(float(i) * (r + 1));
    f32.push_back(a);
    bf16.push_back(b);
  }
  for (int rep = 0; rep < 3; ++rep) {  // reused rendezvous
    for (int r = 0; r < n; ++r)
      for (int i = 0; i < 10; ++i) f32[size_t(r)].ptr<float>()[i] = float(r * 100 + i) + 0.25f;
    threads.run([&](int r) {
      comms[size_t(r)]->all_reduce_sum(f32[size_t(r)]);
      comms[size_t(r)]->all_reduce_sum(bf16[size_t(r)]);
    });
    for (int r = 0; r < n; ++r)
      for (int i = 0; i < 10; ++i) EXPECT_EQ(f32[size_t(r)].ptr<float>()[i], float(300 + 3 * i) + 0.75f);
  }
  // bf16 after three sums of (1 + 2 + 3) i, then 6 (6 i), then ...: all ranks agree.
  for (int r = 1; r < n; ++r)
    for (int i = 0; i < 7; ++i) EXPECT_EQ(bf16[size_t(r)].ptr<uint16_t>()[i], bf16[0].ptr<uint16_t>()[i]);
  EXPECT_EQ(bf16_to_f32(bf16[0].ptr<uint16_t>()[1]), 6.f * 3 * 3);
}

TEST(LocalGroup, AllGatherColumnsPlacesEachRankInItsColumns) {
  const int n = 2;
  auto comms = make_local_group(n);
  RankThreads threads(n, {});
  std::vector<Tensor> x, out;
  for (int r = 0; r < n; ++r) {
    Tensor t = Tensor::empty(DType::F32, {3, 4});
    for (int i = 0; i < 12; ++i) t.ptr<float>()[i] = float(r * 1000 + i);
    x.push_back(t);
    out.push_back(Tensor::empty(DType::F32, {3, 8}));
  }
  threads.run([&](int r) { comms[size_t(r)]->all_gather_columns(x[size_t(r)], out[size_t(r)]); });
  for (int r = 0; r < n; ++r)
    for (int row = 0; row < 3; ++row)
      for (int c = 0; c < 8; ++c)
        EXPECT_EQ(out[size_t(r)].ptr<float>()[row * 8 + c], float((c / 4) * 1000 + row * 4 + c % 4));
}

TEST(LocalGroup, AFailedRankWakesTheOthersInsteadOfHangingThem) {
  const int n = 3;
  auto comms = make_local_group(n);
  RankThreads threads(n, {}, [&] {
    for (auto& c : comms) c->abort();
  });
  std::atomic<int> woke{0};
  Tensor xs[3] = {Tensor::empty(DType::F32, {4}), Tensor::empty(DType::F32, {4}), Tensor::empty(DType::F32, {4})};
  try {
    threads.run([&](int r) {
      if (r == 1) throw std::runtime_error("rank 1 failed");
      try {
        comms[size_t(r)]->all_reduce_sum(xs[r]);
      } catch (const std::runtime_error&) {
        ++woke;
        throw;
      }
    });
    FAIL() << "run should rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "rank 1 failed");  // the failure, not the others' GroupAborted
  }
  EXPECT_EQ(woke.load(), 2);
}

TEST(RankThreads, ASetupThatThrowsFailsEveryRunWithItsError) {
  RankThreads threads(2, [](int r) {
    if (r == 1) throw std::runtime_error("no device 1");
  });
  for (int i = 0; i < 2; ++i) {
    std::atomic<int> ran{0};
    try {
      threads.run([&](int) { ++ran; });
      FAIL() << "run should rethrow the setup error";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "no device 1");
    }
    EXPECT_EQ(ran.load(), 1);  // rank 0 only
  }
}

TEST(LocalGroup, MismatchedShapesAreAnErrorNotACorruption) {
  auto comms = make_local_group(2);
  RankThreads threads(2, {}, [&] {
    for (auto& c : comms) c->abort();
  });
  Tensor a = Tensor::empty(DType::F32, {4}), b = Tensor::empty(DType::F32, {5});
  EXPECT_ANY_THROW(threads.run([&](int r) { comms[size_t(r)]->all_reduce_sum(r == 0 ? a : b); }));
}

}  // namespace
}  // namespace sable
