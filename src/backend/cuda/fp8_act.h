// An activation's FP8 form written by the kernel that produced it.
//
// At batch 1 an FP8 decode step quantized its activations in 21 launches of
// a few microseconds each (per token per 128 channels, before every FP8
// GEMM), about 4% of the step on the H200. Quantizing inside the GEMM was
// tried twice and lost (docs/kernels-gemm.md). Instead the kernels that
// produce a GEMM's input (RMSNorm, add + RMSNorm, SiLU-and-mul) can write the
// FP8 values and scales next to their BF16 output, in the exact layout and
// with the exact arithmetic of quantize_activations_fp8, so the result is
// bitwise the same; linear() and moe_experts() then skip their quantization.
// CudaBackend decides when (cuda_backend.h: the record of the last producer).
#pragma once

#include <cstdint>

namespace sable::cuda {

// q: F8_E4M3 [T, K] row-major; scales: F32 [K / 128, sld], the scale of
// token t and group g at scales[g * sld + t] (sld = roundup(T, 4), the
// layout quantize_activations_fp8 writes). K % 128 == 0.
struct Fp8Act {
  uint8_t* q = nullptr;
  float* scales = nullptr;
  int64_t sld = 0;
};

}  // namespace sable::cuda
