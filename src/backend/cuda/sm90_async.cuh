// Hopper (sm_90a) building blocks shared by the tensor-core kernels:
// cp.async copies into shared memory, the 128-byte-swizzle K-major layout
// that wgmma reads through a matrix descriptor, wgmma's fences, and what
// warp-specialized kernels synchronize with (mbarriers, named barriers,
// register reallocation between warpgroups).
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
// The same for a K-major operand in the 64-byte-swizzle layout (rows of 64
// bytes of K, 8 rows a 512-byte atom, 512-byte aligned): SBO 512 B, swizzle
// mode 2 = 64 B. What a TMA box of 64-byte rows with CU_TENSOR_MAP_SWIZZLE_64B
// writes; a k step of 32 bytes inside the row adds 32 B to the start address.
__device__ __forceinline__ uint64_t kmajor_desc_sw64(uint32_t saddr) {
  return uint64_t((saddr & 0x3FFFFu) >> 4) | (uint64_t(1) << 16) | (uint64_t(512 >> 4) << 32) | (uint64_t(2) << 62);
}
// The MN-major form (the operand's M or N dimension contiguous, e.g. B =
// V[keys x dims] stored a key per 128-byte row): in the 128-byte-swizzle
// canonical layout, LBO is the stride between 64-element column blocks of
// M/N and SBO the stride between groups of 8 rows of K (1024 B here).
__device__ __forceinline__ uint64_t mnmajor_desc(uint32_t saddr, uint32_t lbo_bytes) {
  return uint64_t((saddr & 0x3FFFFu) >> 4) | (uint64_t(lbo_bytes >> 4) << 16) | (uint64_t(1024 >> 4) << 32) |
         (uint64_t(1) << 62);
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait0() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Ties accumulator registers to this point of the program (no code): reads
// after a wgmma wait stay after it, writes before a wgmma stay before it.
template <int N>
__device__ __forceinline__ void wgmma_fence_operands(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
// The same for register operands (a P fragment read by an in-flight wgmma
// stays what it was until the wait).
template <int N>
__device__ __forceinline__ void wgmma_fence_operands(uint32_t (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+r"(r[i])::"memory");
}
// stmatrix (sm_90), four 8 x 8 matrices of 16-bit elements, transposed: r[i]
// holds matrix i's fragment (thread t: row t / 4, columns 2 (t % 4) and + 1,
// the lower column in the low half), and thread 8 i + k gives the shared
// address of the 16 bytes that receive matrix i's column k (its 8 rows).
__device__ __forceinline__ void stsm_x4_t(uint32_t addr, uint32_t r0, uint32_t r1, uint32_t r2, uint32_t r3) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "r"(r0), "r"(r1),
               "r"(r2), "r"(r3)
               : "memory");
}
// Writes by the generic proxy (cp.async, st.shared) become visible to the
// async proxy that wgmma reads through.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// mbarriers (a 64-bit word in shared memory, 8-byte aligned; addresses are
// shared-window addresses from smem_u32). A phase completes when `count`
// arrivals have happened; waiters name the phase by its parity. Arrive has
// release and a successful wait acquire semantics (CTA scope), so what the
// arriving thread wrote before is visible to the thread that waited.
__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
// Makes mbarrier.init visible to the other threads (and to the async proxy);
// a CTA barrier must still follow before they use the mbarrier.
__device__ __forceinline__ void mbar_fence_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile(
      "{\n.reg .b64 state;\n"
      "mbarrier.arrive.shared::cta.b64 state, [%0];\n"
      "}\n" ::"r"(bar)
      : "memory");
}
// An arrive on `bar` once every cp.async this thread issued before it has
// landed; it counts as one of the phase's expected arrivals (.noinc). The
// waiting side then needs fence_proxy_async() before wgmma reads the data.
__device__ __forceinline__ void cp_async_mbar_arrive(uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}
// Blocks until the phase of parity `parity` has completed. A fresh mbarrier
// is in phase 0, so waiting on parity 1 returns at once (the standard start
// for a producer waiting on "slot free").
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done;
  do {
    asm volatile(
        "{\n.reg .pred p;\n"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        "selp.u32 %0, 1, 0, p;\n"
        "}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}

// The tensor memory accelerator (TMA). Arrive on `bar` and raise its
// transaction count by `bytes`: the phase completes when every expected
// arrival happened and that many bytes landed (TMA copies signal their bytes
// through complete_tx on the same barrier).
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile(
      "{\n.reg .b64 state;\n"
      "mbarrier.arrive.expect_tx.shared::cta.b64 state, [%0], %1;\n"
      "}\n" ::"r"(bar),
      "r"(bytes)
      : "memory");
}
// A box of the tensor map `tmap` (the address of a __grid_constant__ kernel
// parameter; host side in tensor_map.h) at element coordinates (innermost
// first) into shared memory at dst (1024-byte aligned for the 128-byte
// swizzle); its bytes complete_tx on `bar`. Elements outside the tensor land
// as zeros and count as bytes.
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const void* tmap, int x, int y, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], "
      "[%4];\n" ::"r"(dst),
      "l"(tmap), "r"(x), "r"(y), "r"(bar)
      : "memory");
}
__device__ __forceinline__ void tma_load_3d(uint32_t dst, const void* tmap, int x, int y, int z, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], "
      "[%5];\n" ::"r"(dst),
      "l"(tmap), "r"(x), "r"(y), "r"(z), "r"(bar)
      : "memory");
}

// A contiguous copy of `bytes` (a multiple of 16) from global `src` (16-byte
// aligned) into shared `dst` (16-byte aligned), signalling `bar` as above.
// Where a tensor map's box cannot start at an arbitrary element of its
// innermost dimension (the box start there must be 16-byte aligned: an
// f32 box at token 3 faults with an illegal instruction), this copies from
// the aligned address below and the reader skips the difference.
__device__ __forceinline__ void bulk_load(uint32_t dst, const void* src, uint32_t bytes, uint32_t bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(dst),
               "l"(src), "r"(bytes), "r"(bar)
               : "memory");
}

// The other direction: shared memory at src (the box's layout, 128-byte
// swizzle as the map says; 128-byte aligned) -> the box of `tmap` at element
// coordinates (x, y); parts outside the tensor are not written. The copy
// joins the issuing thread's open bulk group: bulk_commit() closes it, and
// the thread's bulk_wait_read0() returns once every committed group has read
// its shared memory (bulk_wait0: also written it). The writes to src before
// it need fence_proxy_async() and a barrier with the issuing thread.
__device__ __forceinline__ void tma_store_2d(const void* tmap, uint32_t src, int x, int y) {
  asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%1, %2}], [%3];\n" ::"l"(tmap), "r"(x),
               "r"(y), "r"(src)
               : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void bulk_wait_read0() { asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory"); }
__device__ __forceinline__ void bulk_wait0() { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }

// Named barrier `id` (1..15; 0 is __syncthreads) among `threads` threads, a
// multiple of 32: lets a subset of warps synchronize without the others.
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
// Counts this warp toward barrier `id` without waiting for it (a producer
// signalling the warps that bar.sync on it).
__device__ __forceinline__ void named_barrier_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// Register reallocation between warpgroups (all threads of a warpgroup
// execute it): a producer gives registers back to the pool, consumers take
// them. The kernel's register count at launch bounds the pool.
template <int N>
__device__ __forceinline__ void setmaxnreg_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N>
__device__ __forceinline__ void setmaxnreg_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}

}  // namespace sable::cuda
