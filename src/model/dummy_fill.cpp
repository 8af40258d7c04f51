// Run-time choice of the dummy weights' loop variant (model/dummy_fill.h).
#include "model/dummy_fill.h"

namespace sable {

const DummyFillKernels& dummy_fill_kernels(CpuIsa isa) {
#if defined(__x86_64__)
  static const CpuIsa cpu = detect_cpu_isa();
  if (isa == CpuIsa::kAvx512 && cpu == CpuIsa::kAvx512) return dummy_fill_kernels_avx512();
  if (isa != CpuIsa::kScalar && cpu != CpuIsa::kScalar) return dummy_fill_kernels_avx2();
#endif
  (void)isa;
  return dummy_fill_kernels_scalar();
}

const DummyFillKernels& dummy_fill_kernels() {
  static const DummyFillKernels& k = dummy_fill_kernels(active_cpu_isa());
  return k;
}

}  // namespace sable
