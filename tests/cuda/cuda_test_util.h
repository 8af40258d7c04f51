// Helpers for the CUDA op parity tests: fresh random inputs (a new seed each
// run, printed on failure), poisoned outputs (every byte 0xFF: NaN for float
// dtypes, -1 for I32, so an unwritten element fails the check), and the
// norm-wise relative error against the CPU reference.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "core/tensor.h"

namespace sable::cudatest {

// The process-wide CUDA backend; tests skip when no GPU is present.
cuda::CudaBackend& gpu();
bool have_gpu();
#define SABLE_REQUIRE_GPU() \
  do { if (!::sable::cudatest::have_gpu()) GTEST_SKIP() << "no CUDA device"; } while (0)

uint64_t fresh_seed();

// Host F32 tensor of N(0, scale^2) values, rounded to `exact_in` (e.g. BF16)
// so that the CPU reference and the GPU see the same numbers.
Tensor random_f32(std::mt19937_64& rng, Shape shape, float scale, DType exact_in = DType::BF16);
// Host tensor of dtype `dt` holding the (already representable) F32 values.
Tensor host_as(const Tensor& f32, DType dt);
// Device copy of a host tensor converted to `dt`.
Tensor upload(const Tensor& f32, DType dt);
Tensor upload_i32(const std::vector<int32_t>& v, Shape shape = {});
// Device tensor of every byte 0xFF.
Tensor poisoned(DType dt, Shape shape);
// Device tensor -> host F32 values.
std::vector<float> download_f32(const Tensor& dev);
std::vector<int32_t> download_i32(const Tensor& dev);

// ||a - b|| / ||b||; +inf when any a is not finite.
double rel_err(const std::vector<float>& a, const float* b, size_t n);
double rel_err(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace sable::cudatest
