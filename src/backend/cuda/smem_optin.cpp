#include "backend/cuda/smem_optin.h"

#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "backend/cuda/cuda_check.h"

namespace sable::cuda {

void allow_dynamic_smem(const void* kernel, size_t bytes) {
  if (bytes <= 48 * 1024) return;  // no opt-in needed
  int dev = 0;
  SABLE_CUDA_CHECK(cudaGetDevice(&dev));
  static std::mutex mu;
  static std::map<std::pair<int, const void*>, size_t> granted;
  std::lock_guard<std::mutex> lock(mu);
  size_t& g = granted[{dev, kernel}];
  if (g >= bytes) return;
  SABLE_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
  g = bytes;
}

int ctas_per_sm(const void* kernel, int threads, size_t smem) {
  int dev = 0;
  SABLE_CUDA_CHECK(cudaGetDevice(&dev));
  static std::mutex mu;
  static std::map<std::tuple<int, const void*, int, size_t>, int> known;
  std::lock_guard<std::mutex> lock(mu);
  auto it = known.find({dev, kernel, threads, smem});
  if (it != known.end()) return it->second;
  allow_dynamic_smem(kernel, smem);  // once per device and kernel, as its entry here
  // Launchers ask while a CUDA graph may be capturing on this thread: the
  // relaxed mode keeps the query legal there whatever CUDA counts as unsafe.
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  SABLE_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
  int n = 0;
  const cudaError_t err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, threads, smem);
  SABLE_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
  SABLE_CUDA_CHECK(err);
  known[{dev, kernel, threads, smem}] = n;
  return n;
}

}  // namespace sable::cuda
