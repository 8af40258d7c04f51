// Which vector extensions this CPU has, read once at start. Kernels pick
// their implementation from this at run time, so one binary runs on AVX2
// machines and uses AVX-512 where present.
#pragma once

namespace sable {

enum class CpuIsa { kScalar, kAvx2, kAvx512 };

CpuIsa detect_cpu_isa();
// The ISA kernels use: detect_cpu_isa(), lowered by SABLE_CPU_ISA=avx2|scalar.
CpuIsa active_cpu_isa();
const char* cpu_isa_name(CpuIsa isa);

}  // namespace sable
