// silu(gate) * up as the gate/up GEMM epilogues compute it (the streaming
// kernel's at decode, the grouped wgmma kernels' at prefill: one formula, so
// that both paths round alike).
#pragma once

namespace sable::cuda {

// g / (1 + e^-g) * u in float32, the quotient by __fdividef (a reciprocal
// and a multiply, <= 2 ulp) rather than IEEE division (about ten
// instructions with its range check): in the wgmma kernels' epilogues the
// division was most of the instructions, and the result is rounded to bf16
// next. For g below about -87 (1 + e^-g > 2^126) the quotient flushes to
// 0, where IEEE division gave a value under ~1e-35 in magnitude.
__device__ __forceinline__ float silu_mul_fast(float g, float u) { return __fdividef(g, 1.f + __expf(-g)) * u; }

}  // namespace sable::cuda
