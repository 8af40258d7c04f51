// The scalar variant of the CPU matrix kernels (gemm.h): the shared template
// body gemm_kernel.inc over simd_scalar.h's vector traits.
#include <cstdint>
#include <cstring>

#include "backend/cpu/gemm.h"
#include "backend/cpu/simd_scalar.h"

namespace sable::cpu {
namespace scalar {
#include "backend/cpu/gemm_kernel.inc"
}  // namespace scalar

const GemmKernels& gemm_kernels_scalar() { return scalar::kKernels; }

}  // namespace sable::cpu
