// wgmma pieces shared by the tensor-core kernels (sm_90a): the accumulator
// operand lists of the inline asm and the instructions more than one kernel
// issues. A thread holds N / 2 f32 accumulators of an m64nN wgmma (32 for
// n64, 64 for n128, 128 for n256): "%0, ..., %k" in the instruction string
// and "+f" operands of a float[N / 2]. Rows: o[4 j], o[4 j + 1] belong to
// row r0 = 16 (warp % 4) + lane / 4, o[4 j + 2..3] to row r0 + 8.
#pragma once

#include <cstdint>

// Eight "+f" operands d[i..i + 7].
#define SABLE_WGMMA_OUT8(d, i)                                                                            \
  "+f"(d[(i)]), "+f"(d[(i) + 1]), "+f"(d[(i) + 2]), "+f"(d[(i) + 3]), "+f"(d[(i) + 4]), "+f"(d[(i) + 5]), \
      "+f"(d[(i) + 6]), "+f"(d[(i) + 7])

#define SABLE_WGMMA_D32_REGS                                                                        \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, " \
  "%21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31 "
#define SABLE_WGMMA_D32_OUT(d) \
  SABLE_WGMMA_OUT8(d, 0), SABLE_WGMMA_OUT8(d, 8), SABLE_WGMMA_OUT8(d, 16), SABLE_WGMMA_OUT8(d, 24)

#define SABLE_WGMMA_D64_REGS                                                                          \
  SABLE_WGMMA_D32_REGS                                                                                \
  ", %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, " \
  "%51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63 "
#define SABLE_WGMMA_D64_OUT(d)                                                                       \
  SABLE_WGMMA_D32_OUT(d), SABLE_WGMMA_OUT8(d, 32), SABLE_WGMMA_OUT8(d, 40), SABLE_WGMMA_OUT8(d, 48), \
      SABLE_WGMMA_OUT8(d, 56)

#define SABLE_WGMMA_D128_REGS                                                                         \
  SABLE_WGMMA_D64_REGS                                                                                \
  ", %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, " \
  "%83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, "       \
  "%101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, "  \
  "%117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127 "
#define SABLE_WGMMA_D128_OUT(d)                                                                             \
  SABLE_WGMMA_D64_OUT(d), SABLE_WGMMA_OUT8(d, 64), SABLE_WGMMA_OUT8(d, 72), SABLE_WGMMA_OUT8(d, 80),        \
      SABLE_WGMMA_OUT8(d, 88), SABLE_WGMMA_OUT8(d, 96), SABLE_WGMMA_OUT8(d, 104), SABLE_WGMMA_OUT8(d, 112), \
      SABLE_WGMMA_OUT8(d, 120)

namespace sable::cuda {

// D[64 x 64] (+)= A[64 x 16] B[64 x 16]^T, bf16, both K-major in smem;
// scale_d 0 overwrites D.
__device__ __forceinline__ void wgmma_m64n64k16(float (&d)[32], uint64_t da, uint64_t db, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {" SABLE_WGMMA_D32_REGS "}, %32, %33, p, 1, 1, 0, 0;\n}\n"
      : SABLE_WGMMA_D32_OUT(d)
      : "l"(da), "l"(db), "r"(scale_d));
}
// D[64 x 128] (+)= A[64 x 16] B[128 x 16]^T, the same at n128.
__device__ __forceinline__ void wgmma_m64n128k16(float (&d)[64], uint64_t da, uint64_t db, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {" SABLE_WGMMA_D64_REGS "}, %64, %65, p, 1, 1, 0, 0;\n}\n"
      : SABLE_WGMMA_D64_OUT(d)
      : "l"(da), "l"(db), "r"(scale_d));
}

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
