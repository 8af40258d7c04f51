// The avx512 variant of the CPU matrix kernels (gemm.h): the shared template
// body gemm_kernel.inc over simd_avx512.h's vector traits.
#include <cstdint>
#include <cstring>

#include "backend/cpu/gemm.h"
#include "backend/cpu/simd_avx512.h"

namespace sable::cpu {
namespace avx512 {
// GCC 12 reports its own AVX-512 intrinsics' _mm512_undefined_* operands as
// uninitialised; they are don't-care by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "backend/cpu/gemm_kernel.inc"
#pragma GCC diagnostic pop
}  // namespace avx512

const GemmKernels& gemm_kernels_avx512() { return avx512::kKernels; }

}  // namespace sable::cpu
