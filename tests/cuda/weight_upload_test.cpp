// Weight uploads through two pinned chunks (backend/cuda/weight_upload.h):
// copy() returns once the source may be freed, so every copy must land with
// the bytes its source had at the call, across chunk boundaries and with the
// chunks reused while earlier DMAs are queued.
#include "backend/cuda/weight_upload.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "cuda_test_util.h"

namespace sable {
namespace {

TEST(CudaWeightUploader, CopiesLandWhateverTheSourceBecomesAfter) {
  SABLE_REQUIRE_GPU();
  cudaStream_t s;
  SABLE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  {
    cuda::WeightUploader up(size_t(1) << 20);  // 1 MiB chunks: most copies below span several
    ASSERT_TRUE(up.pinned());
    // Sizes below, at and across the chunk, odd byte counts included.
    const std::vector<size_t> sizes = {(size_t(11) << 19) + 3, size_t(1) << 20, 7, (size_t(5) << 20) + 1, 4096};
    std::vector<void*> dst;
    std::vector<uint8_t> src;
    for (size_t i = 0; i < sizes.size(); ++i) {
      src.assign(sizes[i], 0);
      for (size_t j = 0; j < sizes[i]; ++j) src[j] = uint8_t(j * 131 + i * 7 + (j >> 20));
      void* d = nullptr;
      SABLE_CUDA_CHECK(cudaMalloc(&d, sizes[i]));
      dst.push_back(d);
      up.copy(d, src.data(), sizes[i], s);
      std::fill(src.begin(), src.end(), uint8_t(0xee));  // the caller frees or reuses its buffer at once
    }
    SABLE_CUDA_CHECK(cudaStreamSynchronize(s));
    for (size_t i = 0; i < sizes.size(); ++i) {
      std::vector<uint8_t> back(sizes[i]);
      SABLE_CUDA_CHECK(cudaMemcpy(back.data(), dst[i], sizes[i], cudaMemcpyDeviceToHost));
      size_t bad = 0;
      for (size_t j = 0; j < sizes[i]; ++j) bad += back[j] != uint8_t(j * 131 + i * 7 + (j >> 20));
      EXPECT_EQ(bad, 0u) << "copy " << i << " of " << sizes[i] << " bytes";
      cudaFree(dst[i]);
    }
  }
  cudaStreamDestroy(s);
}

}  // namespace
}  // namespace sable
