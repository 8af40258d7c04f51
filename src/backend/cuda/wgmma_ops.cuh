// wgmma pieces shared by the tensor-core kernels (sm_90a): the accumulator
// operand lists of the inline asm and the wgmma instructions the kernels
// issue. A thread holds N / 2 f32 accumulators of an m64nN wgmma (32 for
// n64, 64 for n128, 128 for n256): "%0, ..., %k" in the instruction string
// and "+f" operands of a float[N / 2]. Rows: o[4 j], o[4 j + 1] belong to
// row r0 = 16 (warp % 4) + lane / 4, o[4 j + 2..3] to row r0 + 8.
#pragma once

#include <cstdint>

// Eight "+f" operands d[i..i + 7].
#define SABLE_WGMMA_OUT8(d, i)                                                                            \
  "+f"(d[(i)]), "+f"(d[(i) + 1]), "+f"(d[(i) + 2]), "+f"(d[(i) + 3]), "+f"(d[(i) + 4]), "+f"(d[(i) + 5]), \
      "+f"(d[(i) + 6]), "+f"(d[(i) + 7])

// Operand lists of m64nN accumulators, N / 2 registers: SABLE_WGMMA_D<k>_REGS
// is "%0, ..., %k-1" for the instruction string, SABLE_WGMMA_D<k>_OUT(d) the
// "+f" operands d[0 .. k-1], each list the previous one and eight more.
#define SABLE_WGMMA_D8_REGS "%0, %1, %2, %3, %4, %5, %6, %7"
#define SABLE_WGMMA_D8_OUT(d) SABLE_WGMMA_OUT8(d, 0)
#define SABLE_WGMMA_D16_REGS SABLE_WGMMA_D8_REGS ", %8, %9, %10, %11, %12, %13, %14, %15"
#define SABLE_WGMMA_D16_OUT(d) SABLE_WGMMA_D8_OUT(d), SABLE_WGMMA_OUT8(d, 8)
#define SABLE_WGMMA_D24_REGS SABLE_WGMMA_D16_REGS ", %16, %17, %18, %19, %20, %21, %22, %23"
#define SABLE_WGMMA_D24_OUT(d) SABLE_WGMMA_D16_OUT(d), SABLE_WGMMA_OUT8(d, 16)
#define SABLE_WGMMA_D32_REGS SABLE_WGMMA_D24_REGS ", %24, %25, %26, %27, %28, %29, %30, %31"
#define SABLE_WGMMA_D32_OUT(d) SABLE_WGMMA_D24_OUT(d), SABLE_WGMMA_OUT8(d, 24)
#define SABLE_WGMMA_D40_REGS SABLE_WGMMA_D32_REGS ", %32, %33, %34, %35, %36, %37, %38, %39"
#define SABLE_WGMMA_D40_OUT(d) SABLE_WGMMA_D32_OUT(d), SABLE_WGMMA_OUT8(d, 32)
#define SABLE_WGMMA_D48_REGS SABLE_WGMMA_D40_REGS ", %40, %41, %42, %43, %44, %45, %46, %47"
#define SABLE_WGMMA_D48_OUT(d) SABLE_WGMMA_D40_OUT(d), SABLE_WGMMA_OUT8(d, 40)
#define SABLE_WGMMA_D56_REGS SABLE_WGMMA_D48_REGS ", %48, %49, %50, %51, %52, %53, %54, %55"
#define SABLE_WGMMA_D56_OUT(d) SABLE_WGMMA_D48_OUT(d), SABLE_WGMMA_OUT8(d, 48)
#define SABLE_WGMMA_D64_REGS SABLE_WGMMA_D56_REGS ", %56, %57, %58, %59, %60, %61, %62, %63"
#define SABLE_WGMMA_D64_OUT(d) SABLE_WGMMA_D56_OUT(d), SABLE_WGMMA_OUT8(d, 56)
#define SABLE_WGMMA_D128_REGS                                                                    \
  SABLE_WGMMA_D64_REGS                                                                           \
  ", %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79"             \
  ", %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95"             \
  ", %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111" \
  ", %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
#define SABLE_WGMMA_D128_OUT(d)                                                                             \
  SABLE_WGMMA_D64_OUT(d), SABLE_WGMMA_OUT8(d, 64), SABLE_WGMMA_OUT8(d, 72), SABLE_WGMMA_OUT8(d, 80),        \
      SABLE_WGMMA_OUT8(d, 88), SABLE_WGMMA_OUT8(d, 96), SABLE_WGMMA_OUT8(d, 104), SABLE_WGMMA_OUT8(d, 112), \
      SABLE_WGMMA_OUT8(d, 120)

namespace sable::cuda {

// D[64 x N] (+)= A[64 x K] B[N x K]^T, both operands K-major in shared
// memory through descriptors, at N = 16, 32, ..., 128: bf16 (k16) and e4m3
// (k32); scale_d 0 overwrites D. One specialization per N because the
// operand list is part of the instruction's string.
template <int N>
struct WgmmaNt;  // static void bf16(float (&d)[N / 2], uint64_t da, uint64_t db, int scale_d), e4m3(...)

// One member: NAME runs wgmma m64nN<SHAPE_TYPES> (e.g. "k16.f32.bf16.bf16")
// with the immediates TAIL after the scale_d predicate. REGS / OUT: the
// accumulators' operand list; DA, DB, SD: the operand numbers that follow
// them (N / 2, + 1, + 2).
#define SABLE_WGMMA_NT_FN(NAME, N, SHAPE_TYPES, TAIL, REGS, OUT, DA, DB, SD)                                     \
  static __device__ __forceinline__ void NAME(float(&d)[N / 2], uint64_t da, uint64_t db, int scale_d) {         \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " SD ", 0;\nwgmma.mma_async.sync.aligned.m64n" #N SHAPE_TYPES \
                 " {" REGS "}, " DA ", " DB ", p" TAIL ";\n}\n"                                                  \
                 : OUT(d)                                                                                        \
                 : "l"(da), "l"(db), "r"(scale_d));                                                              \
  }
// bf16 takes the transpose immediates (both operands K-major: 0, 0); e4m3 has none.
#define SABLE_WGMMA_NT(N, REGS, OUT, DA, DB, SD)                                           \
  template <>                                                                              \
  struct WgmmaNt<N> {                                                                      \
    SABLE_WGMMA_NT_FN(bf16, N, "k16.f32.bf16.bf16", ", 1, 1, 0, 0", REGS, OUT, DA, DB, SD) \
    SABLE_WGMMA_NT_FN(e4m3, N, "k32.f32.e4m3.e4m3", ", 1, 1", REGS, OUT, DA, DB, SD)       \
  };

SABLE_WGMMA_NT(16, SABLE_WGMMA_D8_REGS, SABLE_WGMMA_D8_OUT, "%8", "%9", "%10")
SABLE_WGMMA_NT(32, SABLE_WGMMA_D16_REGS, SABLE_WGMMA_D16_OUT, "%16", "%17", "%18")
SABLE_WGMMA_NT(48, SABLE_WGMMA_D24_REGS, SABLE_WGMMA_D24_OUT, "%24", "%25", "%26")
SABLE_WGMMA_NT(64, SABLE_WGMMA_D32_REGS, SABLE_WGMMA_D32_OUT, "%32", "%33", "%34")
SABLE_WGMMA_NT(80, SABLE_WGMMA_D40_REGS, SABLE_WGMMA_D40_OUT, "%40", "%41", "%42")
SABLE_WGMMA_NT(96, SABLE_WGMMA_D48_REGS, SABLE_WGMMA_D48_OUT, "%48", "%49", "%50")
SABLE_WGMMA_NT(112, SABLE_WGMMA_D56_REGS, SABLE_WGMMA_D56_OUT, "%56", "%57", "%58")
SABLE_WGMMA_NT(128, SABLE_WGMMA_D64_REGS, SABLE_WGMMA_D64_OUT, "%64", "%65", "%66")
#undef SABLE_WGMMA_NT
#undef SABLE_WGMMA_NT_FN

// An accumulator's rows r0 and r0 + 8 (this thread's) times their factors.
template <int N>
__device__ __forceinline__ void scale_rows(float (&o)[N], float al0, float al1) {
#pragma unroll
  for (int j = 0; j < N / 4; ++j) {
    o[4 * j] *= al0;
    o[4 * j + 1] *= al0;
    o[4 * j + 2] *= al1;
    o[4 * j + 3] *= al1;
  }
}

}  // namespace sable::cuda
