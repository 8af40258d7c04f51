// The loops that fill a dummy weight tensor (--load-format dummy): value i of
// a tensor is a function of its stream's hash base and i alone
// (core/rng.h's hash_counter), turned into an approximately normal value and
// stored in the tensor's dtype. Each loop fills [b, e) of the whole tensor's
// indices into d (d points at index 0).
//
// Three variants of one body (dummy_fill_loops.inc), compiled for AVX-512,
// AVX2 and the baseline; dummy_fill_kernels() picks one at run time as the
// CPU matrix kernels do (core/cpu_features.h, SABLE_CPU_ISA). Why: the hash's
// 64-bit multiplies vectorize only with AVX-512's vpmullq, and at
// DeepSeek-V3's widths a dummy load is tens of billions of values. Every
// variant gives the same bits: integer hashing, exact int -> float
// conversions, and no FMA contraction in these files (src/CMakeLists.txt):
// test DummyWeights.EveryIsaKeepsTheBits.
#pragma once

#include <cstdint>

#include "core/cpu_features.h"

namespace sable {

struct DummyFillKernels {
  const char* name;
  // d[i] = bf16(mul * normal(i)): linear weights (mul = 1/sqrt(fan_in)), the embedding (mul = 1).
  void (*bf16_scaled)(uint16_t* d, int64_t b, int64_t e, uint64_t base, float mul);
  // d[i] = bf16(1 + 0.1 * normal(i)): norm weights.
  void (*bf16_norm)(uint16_t* d, int64_t b, int64_t e, uint64_t base);
  // d[i] = mul * normal(i): F32 weights and the router's bias.
  void (*f32_scaled)(float* d, int64_t b, int64_t e, uint64_t base, float mul);
  // d[i] = e4m3(spread * normal(i)): FP8 weights (their block scales carry 1 / spread).
  void (*fp8_scaled)(uint8_t* d, int64_t b, int64_t e, uint64_t base, float spread);
};

// The variant for `isa`, or the best below it that this CPU runs.
const DummyFillKernels& dummy_fill_kernels(CpuIsa isa);
// The variant for active_cpu_isa().
const DummyFillKernels& dummy_fill_kernels();

const DummyFillKernels& dummy_fill_kernels_scalar();
const DummyFillKernels& dummy_fill_kernels_avx2();
const DummyFillKernels& dummy_fill_kernels_avx512();

}  // namespace sable
