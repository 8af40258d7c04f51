// Reading any stored float dtype as float32, for the CPU kernels.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace sable::cpu {

// dst[i] = float(src[i]) for n elements of `dtype` (F32, BF16, F16, F8_E4M3).
void to_f32(const void* src, DType dtype, int64_t n, float* dst);
// dst[i] = dtype(src[i]); round to nearest even.
void from_f32(const float* src, DType dtype, int64_t n, void* dst);
// One element.
float load_f32(const void* src, DType dtype, int64_t i);

}  // namespace sable::cpu
