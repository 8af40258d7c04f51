// The avx2 variant of the CPU matrix kernels (gemm.h): the shared template
// body gemm_kernel.inc over simd_avx2.h's vector traits.
#include <cstdint>
#include <cstring>

#include "backend/cpu/gemm.h"
#include "backend/cpu/simd_avx2.h"

namespace sable::cpu {
namespace avx2 {
#include "backend/cpu/gemm_kernel.inc"
}  // namespace avx2

const GemmKernels& gemm_kernels_avx2() { return avx2::kKernels; }

}  // namespace sable::cpu
