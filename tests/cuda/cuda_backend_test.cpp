// The CUDA backend's plumbing: host round trips keep dtype and bytes, the
// caching allocator recycles blocks without going back to the driver,
// private pools keep graph memory apart, and fork()/join() order a side
// stream's work eagerly and inside a captured graph.
#include <cstring>
#include <stdexcept>

#include "backend/cuda/cuda_allocator.h"
#include "cuda_test_util.h"

namespace sable {
namespace {
using namespace cudatest;

TEST(CudaBackend, RoundTripKeepsDtypeAndBytes) {
  SABLE_REQUIRE_GPU();
  std::mt19937_64 rng(fresh_seed());
  for (DType dt : {DType::F32, DType::BF16, DType::F8_E4M3, DType::I32}) {
    Tensor h = Tensor::empty(dt, {3, 5, 7});
    for (size_t i = 0; i < h.nbytes(); ++i) h.ptr<uint8_t>()[i] = uint8_t(rng());
    Tensor d = gpu().to_device(h);
    EXPECT_EQ(d.device(), Device::kCUDA);
    EXPECT_EQ(d.dtype(), dt);
    EXPECT_EQ(d.shape(), h.shape());
    std::vector<uint8_t> back(h.nbytes());
    gpu().copy_to_host(d, back.data());
    EXPECT_EQ(std::memcmp(back.data(), h.data(), h.nbytes()), 0);
  }
  EXPECT_EQ(gpu().name(), "cuda");
  EXPECT_EQ(gpu().activation_dtype(), DType::BF16);
}

TEST(CudaAllocator, RecyclesBlocksAndSeparatesPools) {
  SABLE_REQUIRE_GPU();
  auto be = cuda::make_cuda_backend(0, {});
  cuda::CudaAllocator& a = be->cuda_allocator();
  void* p = a.allocate(1000);
  a.deallocate(p, 1000);
  const size_t mallocs = a.stats().driver_allocs;
  void* q = a.allocate(900);  // same 1024-byte granule: the same block
  EXPECT_EQ(q, p);
  EXPECT_EQ(a.stats().driver_allocs, mallocs);
  a.deallocate(q, 900);
  a.set_current_pool(7);
  void* g = a.allocate(1000);  // a private pool never takes the shared pool's blocks
  EXPECT_NE(g, p);
  a.deallocate(g, 1000);
  a.set_current_pool(0);
  void* r = a.allocate(1000);
  EXPECT_EQ(r, p);  // and the freed private block went back to its own pool
  a.deallocate(r, 1000);
  {  // zero fill: Tensor::zeros on the device is zero
    Tensor z = Tensor::zeros(DType::F32, {1000}, a);
    std::vector<float> h(1000, 1.f);
    be->copy_to_host(z, h.data());
    for (float v : h) ASSERT_EQ(v, 0.f);
  }
  EXPECT_EQ(cuda::CudaAllocator::round_size(1), 512u);
  EXPECT_EQ(cuda::CudaAllocator::round_size((3u << 20) + 1), 4u << 20);
}

Tensor filled(cuda::CudaBackend& be, int64_t n, float v) {
  Tensor h = Tensor::empty(DType::F32, {n});
  for (int64_t i = 0; i < n; ++i) h.ptr<float>()[i] = v;
  return be.to_device(h);
}

float value_at(cuda::CudaBackend& be, const Tensor& t, int64_t i) {
  std::vector<float> h(size_t(t.numel()));
  be.copy_to_host(t, h.data());
  return h[size_t(i)];
}

// The side stream adds b into a 20 times (~0.2 ms of work at 8M floats)
// while the main stream works on c; after join() the main stream reads a. A
// join that did not wait would read a before the side's last adds.
void branch_work(cuda::CudaBackend& be, Tensor& a, const Tensor& b, Tensor& c, Tensor& e) {
  be.fork([&] {
    for (int i = 0; i < 20; ++i) be.add_inplace(a, b);
  });
  be.add_inplace(c, b);  // beside the side work
  be.join();
  be.add_inplace(e, a);  // after it
}

TEST(CudaBackend, ForkRunsBesideAndJoinWaits) {
  SABLE_REQUIRE_GPU();
  auto be = cuda::make_cuda_backend(0, {});
  const int64_t n = int64_t(8) << 20;
  Tensor a = filled(*be, n, 1.f), b = filled(*be, n, 2.f), c = filled(*be, n, 0.f), e = filled(*be, n, 0.f);
  branch_work(*be, a, b, c, e);
  for (int64_t i : {int64_t(0), n / 2, n - 1}) {
    EXPECT_EQ(value_at(*be, a, i), 41.f);
    EXPECT_EQ(value_at(*be, c, i), 2.f);
    EXPECT_EQ(value_at(*be, e, i), 41.f);
  }
}

TEST(CudaBackend, ForkInsideGraphCaptureBecomesABranch) {
  SABLE_REQUIRE_GPU();
  auto be = cuda::make_cuda_backend(0, {});
  const int64_t n = int64_t(8) << 20;
  Tensor a = filled(*be, n, 1.f), b = filled(*be, n, 2.f), c = filled(*be, n, 0.f), e = filled(*be, n, 0.f);
  auto g = be->capture_graph([&] { branch_work(*be, a, b, c, e); });
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(be->graph_kernels(g.get()), 22);  // both streams' kernels
  be->replay_graph(g.get());
  be->replay_graph(g.get());
  // a: 1 + 2 * 40; e: a after the first replay (41) + a after the second (81).
  EXPECT_EQ(value_at(*be, a, n - 1), 81.f);
  EXPECT_EQ(value_at(*be, c, n - 1), 4.f);
  EXPECT_EQ(value_at(*be, e, n - 1), 122.f);
}

TEST(CudaBackend, SideWorkMayNotAllocate) {
  SABLE_REQUIRE_GPU();
  auto be = cuda::make_cuda_backend(0, {});
  try {
    be->fork([&] { (void)be->empty(DType::F32, {16}); });
    FAIL() << "allocation inside fork() was accepted";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("before fork()"), std::string::npos) << e.what();
  }
  // The backend is back on its main stream and allocates again.
  Tensor a = filled(*be, 16, 3.f), b = filled(*be, 16, 1.f);
  be->add_inplace(a, b);
  EXPECT_EQ(value_at(*be, a, 15), 4.f);
  EXPECT_THROW(be->fork([&] { be->fork([] {}); }), std::logic_error);  // no nesting
  Tensor c = filled(*be, 16, 0.f);
  be->add_inplace(c, b);
  EXPECT_EQ(value_at(*be, c, 0), 1.f);
}

}  // namespace
}  // namespace sable
