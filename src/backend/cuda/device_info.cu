#include <cuda_runtime.h>

#include <cstdio>

#include "backend/cuda/device_info.h"

namespace sable::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

std::string device_description(int device) {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, device) != cudaSuccess) return "unknown CUDA device";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s, %.0f GiB, sm_%d%d, %d SMs", p.name,
                double(p.totalGlobalMem) / (1ull << 30), p.major, p.minor, p.multiProcessorCount);
  return buf;
}

bool device_memory(int device, size_t* free_bytes, size_t* total_bytes) {
  int prev = 0;
  cudaGetDevice(&prev);
  if (cudaSetDevice(device) != cudaSuccess) return false;
  bool ok = cudaMemGetInfo(free_bytes, total_bytes) == cudaSuccess;
  cudaSetDevice(prev);
  return ok;
}

int sm_count() {
  static int cached[64] = {};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) {
    cudaGetLastError();
    return 132;
  }
  int& n = cached[dev & 63];
  if (n == 0 && cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
    cudaGetLastError();
    n = 132;
  }
  return n;
}

}  // namespace sable::cuda
