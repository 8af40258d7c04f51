#include "backend/cuda/smem_optin.h"

#include <cuda_runtime.h>

#include <map>
#include <mutex>
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

}  // namespace sable::cuda
