// Shared helpers for the CPU kernel tests: random activations and weights
// in every stored dtype, the ISAs this machine can run, bitwise comparison.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/cpu/gemm.h"
#include "backend/linear_weight.h"
#include "core/tensor.h"

namespace sable::testing {

// F32 tensor of uniform values in [-scale, scale).
Tensor random_f32(Shape shape, uint64_t seed, float scale = 1.f);

// A [out, in] weight in `dtype`: F32/BF16/F16 hold random values rounded to
// the dtype; F8_E4M3 holds random fp8 codes (no NaN) with random block
// scales of about `fp8_scale` (block sizes bo x bi).
LinearWeight random_weight(DType dtype, int64_t out, int64_t in, uint64_t seed, int bo = 128, int bi = 128,
                           float fp8_scale = 1.f / 64);

// The kernel variants to test: scalar, then avx2 and avx512 where this CPU
// runs them (a variant the CPU lacks falls back, and is listed once).
std::vector<const cpu::GemmKernels*> testable_kernels();

// True when a and b hold the same bits.
bool bitwise_equal(const float* a, const float* b, int64_t n);

// sum_i |x[t, i] * W[o, i]| for every (t, o), in double: the scale of the
// rounding error a float32 dot product may make.
std::vector<double> abs_dot(const Tensor& x, const LinearWeight& w);

}  // namespace sable::testing
