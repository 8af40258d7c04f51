// The CUDA backend's plumbing: host round trips keep dtype and bytes, the
// caching allocator recycles blocks without going back to the driver, and
// private pools keep graph memory apart.
#include <cstring>

#include "backend/cuda/cuda_allocator.h"
#include "backend/cuda/cuda_check.h"
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

// With the allocator's zero fill off (knob alloc-zero-fill 0), empty() hands
// a recycled block back as it was, and zeros() (the KV cache's) still
// clears it.
TEST(CudaAllocator, ZerosAreZeroWithoutTheZeroFill) {
  SABLE_REQUIRE_GPU();
  auto be = cuda::make_cuda_backend(0, {});
  struct Restore {
    ~Restore() { cuda::set_alloc_zero_fill(1); }
  } restore;
  ASSERT_TRUE(cuda::set_alloc_zero_fill(0));
  EXPECT_FALSE(cuda::set_alloc_zero_fill(2));
  void* p = nullptr;
  {
    Tensor t = be->empty(DType::I32, {4096});
    p = t.data();
    SABLE_CUDA_CHECK(cudaMemsetAsync(t.data(), 0xAB, t.nbytes(), be->stream()));
  }
  std::vector<int32_t> h(4096);
  {
    Tensor t = be->empty(DType::I32, {4096});
    ASSERT_EQ(t.data(), p);  // the same block, recycled
    be->copy_to_host(t, h.data());
    EXPECT_EQ(uint32_t(h[0]), 0xABABABABu);  // not cleared: the knob took effect
  }
  Tensor z = be->zeros(DType::I32, {4096});
  ASSERT_EQ(z.data(), p);
  be->copy_to_host(z, h.data());
  for (int32_t v : h) ASSERT_EQ(v, 0);
}

// A graph pool that a runner's graphs share serves a request from the
// smallest free block that holds it (graphs captured largest first reuse
// the earlier ones' memory); the eager pool keeps exact sizes.
TEST(CudaAllocator, GraphPoolsServeFromTheSmallestLargerBlock) {
  SABLE_REQUIRE_GPU();
  auto be = cuda::make_cuda_backend(0, {});
  cuda::CudaAllocator& a = be->cuda_allocator();
  const size_t MiB = size_t(1) << 20;
  a.set_current_pool(9);
  void* big = a.allocate(16 * MiB);
  void* mid = a.allocate(8 * MiB);
  a.deallocate(big, 16 * MiB);
  a.deallocate(mid, 8 * MiB);
  size_t mallocs = a.stats().driver_allocs;
  void* p = a.allocate(6 * MiB);  // the 8 MiB block, not the 16 MiB one
  EXPECT_EQ(p, mid);
  void* q = a.allocate(10 * MiB);  // then the 16 MiB one
  EXPECT_EQ(q, big);
  EXPECT_EQ(a.stats().driver_allocs, mallocs);
  void* r = a.allocate(20 * MiB);  // none holds it: a new block
  EXPECT_EQ(a.stats().driver_allocs, mallocs + 1);
  a.deallocate(p, 6 * MiB);  // back under its own size: the next 8 MiB request takes it
  EXPECT_EQ(a.allocate(8 * MiB), mid);
  a.deallocate(mid, 8 * MiB);
  a.deallocate(q, 10 * MiB);
  a.deallocate(r, 20 * MiB);
  // The eager pool: exact sizes only.
  a.set_current_pool(0);
  void* e = a.allocate(16 * MiB);
  a.deallocate(e, 16 * MiB);
  mallocs = a.stats().driver_allocs;
  void* f = a.allocate(6 * MiB);
  EXPECT_NE(f, e);
  EXPECT_EQ(a.stats().driver_allocs, mallocs + 1);
  a.deallocate(f, 6 * MiB);
}

}  // namespace
}  // namespace sable
