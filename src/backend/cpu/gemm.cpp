// Run-time choice of the kernel variant, and per-thread scratch.
#include "backend/cpu/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace sable::cpu {

int64_t nt_scratch_floats(int64_t in) {
  // A panel (kPanelBytes, or one register tile of rows, 8 at most in any
  // ISA, when `in` is large), then the chunked accumulators: a chunked
  // panel (in > kNtChunkIn) has fewer than kPanelBytes / 4 / kNtChunkIn + 8
  // rows, each with up to 8 tokens x 16 lanes.
  return nt_acc_offset(in, 8) + (kPanelBytes / 4 / kNtChunkIn + 8) * 8 * 16;
}

const GemmKernels& gemm_kernels(CpuIsa isa) {
#if defined(__x86_64__)
  // gemm_avx512.cpp is compiled with -mavx512dq as well, which the ISA
  // detection does not ask for; F16C likewise for the AVX2 variant.
  static const bool has_dq = __builtin_cpu_supports("avx512dq");
  static const bool has_f16c = [] {
    unsigned a, b, c, d;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    return (c & (1u << 29)) != 0;
  }();
  if (isa == CpuIsa::kAvx512 && has_dq && has_f16c) return gemm_kernels_avx512();
  if (isa != CpuIsa::kScalar && has_f16c) return gemm_kernels_avx2();
#endif
  (void)isa;
  return gemm_kernels_scalar();
}

const GemmKernels& gemm_kernels() {
  static const GemmKernels& k = gemm_kernels(active_cpu_isa());
  return k;
}

float* thread_scratch(int64_t floats) {
  struct Free { void operator()(float* p) const { std::free(p); } };
  thread_local std::unique_ptr<float, Free> buf;
  thread_local int64_t cap = 0;
  if (floats > cap) {
    const int64_t n = (floats + 15) / 16 * 16;
    buf.reset(static_cast<float*>(std::aligned_alloc(64, size_t(n) * sizeof(float))));
    cap = n;
  }
  return buf.get();
}

}  // namespace sable::cpu
