#include "core/cpu_features.h"

#include <cstdlib>
#include <cstring>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace sable {

#if defined(__x86_64__)
namespace {
// F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports
// does not know "f16c" (the fuzz targets build core/ with clang).
bool has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}
}  // namespace
#endif

CpuIsa detect_cpu_isa() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  // The kernels are compiled with these exact extension sets (see
  // src/CMakeLists.txt): every one must be present.
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    has_f16c();
  if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return CpuIsa::kAvx512;
  if (avx2) return CpuIsa::kAvx2;
#endif
  return CpuIsa::kScalar;
}

CpuIsa active_cpu_isa() {
  static const CpuIsa isa = [] {
    CpuIsa best = detect_cpu_isa();
    if (const char* s = std::getenv("SABLE_CPU_ISA")) {
      if (!std::strcmp(s, "scalar")) return CpuIsa::kScalar;
      if (!std::strcmp(s, "avx2") && best != CpuIsa::kScalar) return CpuIsa::kAvx2;
    }
    return best;
  }();
  return isa;
}

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar: return "scalar";
    case CpuIsa::kAvx2: return "avx2";
    case CpuIsa::kAvx512: return "avx512";
  }
  return "?";
}

}  // namespace sable
