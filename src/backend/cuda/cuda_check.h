// Return-code checks for CUDA runtime and cuBLAS calls. Every call is
// checked; a failure throws std::runtime_error naming the call, the file and
// the error, so that a test or the engine can report it instead of running on
// with a poisoned context.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace sable::cuda {

[[noreturn]] void cuda_fail(const char* error, const char* expr, const char* file, int line);
const char* cublas_status_name(cublasStatus_t s);

}  // namespace sable::cuda

#define SABLE_CUDA_CHECK(expr)                                                       \
  do {                                                                               \
    cudaError_t _sable_e = (expr);                                                   \
    if (_sable_e != cudaSuccess)                                                     \
      ::sable::cuda::cuda_fail(cudaGetErrorString(_sable_e), #expr, __FILE__, __LINE__); \
  } while (0)

#define SABLE_CUBLAS_CHECK(expr)                                                     \
  do {                                                                               \
    cublasStatus_t _sable_s = (expr);                                                \
    if (_sable_s != CUBLAS_STATUS_SUCCESS)                                           \
      ::sable::cuda::cuda_fail(::sable::cuda::cublas_status_name(_sable_s), #expr,   \
                               __FILE__, __LINE__);                                  \
  } while (0)

// After every kernel launch: catches bad launch configurations at once.
#define SABLE_CUDA_LAUNCH_CHECK() SABLE_CUDA_CHECK(cudaGetLastError())
