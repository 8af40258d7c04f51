// Hopper (sm_90a) building blocks shared by the tensor-core kernels:
// cp.async copies into shared memory, the 128-byte-swizzle K-major layout
// that wgmma reads through a matrix descriptor, and wgmma's fences.
//
// Layout: a K-major tile is rows of 128 bytes (64 bf16 of K); 16-byte chunk
// c of row r sits at r * 128 + ((c ^ (r % 8)) * 16), and 8 rows form a
// 1024-byte swizzle atom. Atoms must be 1024-byte aligned in the shared
// window.
#pragma once

#include <cstdint>

namespace sable::cuda {

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
// 16 bytes global -> shared; src_bytes < 16 zero-fills the rest (0: all zero).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
// 4 bytes global -> shared (scales); src_bytes 0 writes zero.
__device__ __forceinline__ void cp_async4(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Byte offset of chunk `chunk` (0..7) of row `row` in a 128-byte-swizzled tile.
__device__ __forceinline__ uint32_t swz128(int row, int chunk) {
  return uint32_t(row * 128 + (((chunk ^ row) & 7) << 4));
}

// Shared-memory matrix descriptor, K-major operand in the 128-byte-swizzle
// canonical layout: start address >> 4 (bits 0-13), leading-dimension byte
// offset (unused for swizzled K-major layouts: 1), stride byte offset 1024
// (8 rows x 128 B) >> 4 (bits 32-45), swizzle mode 1 = 128 B (bits 62-63).
// Atoms are 1024-byte aligned, so the base-offset field stays 0; stepping K
// by 16 elements inside an atom adds 32 B to the start address.
__device__ __forceinline__ uint64_t kmajor_desc(uint32_t saddr) {
  return uint64_t((saddr & 0x3FFFFu) >> 4) | (uint64_t(1) << 16) | (uint64_t(1024 >> 4) << 32) |
         (uint64_t(1) << 62);
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait0() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Writes by the generic proxy (cp.async, st.shared) become visible to the
// async proxy that wgmma reads through.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

}  // namespace sable::cuda
