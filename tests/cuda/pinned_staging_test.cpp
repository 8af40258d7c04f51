// CudaBackend::copy_from_host stages small copies in a pinned ring and
// returns before they run (backend/cuda/pinned_staging.h): every copy must
// still land with the bytes its source had at the call, across the ring's
// wrap-arounds and behind queued work, and large copies take the waiting path.
#include "backend/cuda/pinned_staging.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/ops.h"
#include "cuda_test_util.h"

namespace sable {
namespace {

// Staging on for one test (knob "pinned-staging"), restored after.
struct StagingOn {
  bool was = cuda::pinned_staging_enabled();
  StagingOn() { cuda::set_pinned_staging(1); }
  ~StagingOn() { cuda::set_pinned_staging(was ? 1 : 0); }
};

TEST(CudaPinnedStaging, QueuedCopiesKeepTheirSourcesAcrossWrapArounds) {
  SABLE_REQUIRE_GPU();
  StagingOn on;
  auto be = cuda::make_cuda_backend(0, {});
  // 3 MiB copies through the 16 MiB ring: it wraps every five, and waits for
  // the oldest copies before reusing their bytes. One 6 MiB copy (over a
  // quarter of the ring) goes the waiting way.
  const std::vector<int64_t> sizes = {3 << 18, 3 << 18, 3 << 18, 3 << 18, 3 << 18, 3 << 18, 6 << 18,
                                      3 << 18, 3 << 18, 3 << 18, 3 << 18, 3 << 18, 1,       7};
  std::vector<Tensor> dst;
  std::vector<int32_t> src;
  for (size_t i = 0; i < sizes.size(); ++i) {
    src.resize(size_t(sizes[i]));
    std::iota(src.begin(), src.end(), int32_t(i * 1000003));
    dst.push_back(be->empty(DType::I32, {sizes[i]}));
    be->copy_from_host(src.data(), dst.back());
    std::fill(src.begin(), src.end(), -1);  // the caller reuses its buffer at once
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::vector<int32_t> back(size_t(sizes[i]));
    be->copy_to_host(dst[i], back.data());
    std::vector<int32_t> want(size_t(sizes[i]));
    std::iota(want.begin(), want.end(), int32_t(i * 1000003));
    EXPECT_EQ(back, want) << "copy " << i;
  }
}

TEST(CudaPinnedStaging, RefusesCapturedAndOversizedCopies) {
  SABLE_REQUIRE_GPU();
  StagingOn on;
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  void* d = nullptr;
  ASSERT_EQ(cudaMalloc(&d, 8 << 20), cudaSuccess);
  std::vector<char> host(8 << 20, 1);
  {
    cuda::PinnedStaging staging(16 << 20);
    EXPECT_FALSE(staging.copy_to_device(d, host.data(), (4 << 20) + 1, s));
    EXPECT_TRUE(staging.copy_to_device(d, host.data(), 4 << 20, s));
    // Under capture a staged copy would replay from reused ring bytes.
    ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
    EXPECT_FALSE(staging.copy_to_device(d, host.data(), 64, s));
    cudaGraph_t g = nullptr;
    ASSERT_EQ(cudaStreamEndCapture(s, &g), cudaSuccess);
    if (g) cudaGraphDestroy(g);
    ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  }
  cudaFree(d);
  cudaStreamDestroy(s);
}

}  // namespace
}  // namespace sable
