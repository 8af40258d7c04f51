// How fast can a weight-streaming GEMM read its weight? Reads an FP8 weight
// of N rows x K bytes (no math) with the access pattern of the streaming GEMM
// (gemm_stream.cu: 8 warps per CTA, 2 row groups of 32 rows x 4 warps taking
// 128-byte K blocks in turn, 2 CTAs per SM) and with alternatives, beside a
// flat read of the same bytes, all in the same run:
//   flat        grid-stride 16-byte loads over the whole buffer (the ceiling)
//   rows-regs   the GEMM's addresses, ld.global.nc double-buffered in registers
//   rows-ring   the GEMM's addresses, a 3-stage cp.async ring per warp (its FP8 default)
//   rows-bulk   the GEMM's addresses, one cp.async.bulk of 128 B per row per stage (TMA)
//   tiled-ring  a pre-tiled layout: each warp's 32 x 128 B stage is 4 KB contiguous
//   tiled-bulk  the pre-tiled layout, one 4 KB cp.async.bulk per stage
//   rows128     the GEMM's rows and stages, each copy instruction fetching 4 whole
//               128-byte lines (lane l: row l/8, bytes (l%8)*16) instead of 8 halves
//   rows256/512 natural rows, but a warp's 4 KB stage is 16 rows x 256 B (4 row
//               groups x 2 K-warps per CTA) or 8 rows x 512 B (8 row groups, one
//               K-warp each): longer runs per row per stage, same ring
// A second table repeats the ring patterns with --stage-cycles C (default
// 1500) of busy waiting per stage per warp after the read, like the GEMM's
// math: warps then drift apart, and patterns whose warps read short runs of
// many rows lose DRAM locality.
// Usage: bench_cuda_stream_read [--stage-cycles C] [N K]...  (default: DeepSeek-V3 FP8 shapes)
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/stream_load.cuh"
#include "cuda_bench_check.h"

namespace {

enum Pattern { kRowsRegs, kRowsRing, kRowsBulk, kTiledRing, kTiledBulk };
constexpr int kStages = 3;  // ring depth (kStages - 1 stages in flight), as in the GEMM
constexpr int kStageBytes = 4096;

// The copies, mbarriers and fences the kernels share (sm90_async.cuh);
// expect_tx and bulk copies only this probe uses.
using sable::cuda::cp_async16;
using sable::cuda::mbar_init;
using sable::cuda::mbar_wait;
using sable::cuda::smem_u32;
__device__ __forceinline__ void mbar_expect(uint32_t bar, int bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void bulk(uint32_t dst, const void* src, int bytes, uint32_t bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(dst),
               "l"(src), "r"(bytes), "r"(bar)
               : "memory");
}

__global__ void flat_kernel(const uint4* w, int64_t n, uint32_t* sink) {
  uint32_t acc = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const uint4 v = sable::cuda::ld_stream(w + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x12345678u) sink[0] = acc;
}

// The consumer side of a per-warp cp.async ring: stage st is issued
// kStages - 1 stages ahead by issue(st) (which commits a group, empty past
// the end), then read back and folded into the result.
// Cycles each warp spends on every stage after reading it, standing in for
// the GEMM's math (0: a pure read). With it the warps of a CTA drift apart
// the way the GEMM's do.
__device__ int g_stage_cycles = 0;

template <typename Issue>
__device__ __forceinline__ uint32_t drain_ring(Issue&& issue, int nst, const uint8_t* ring, int lane) {
  const int spin = g_stage_cycles;
  uint32_t acc = 0;
  for (int s = 0; s < kStages - 1; ++s) issue(s);
  for (int st = 0; st < nst; ++st) {
    issue(st + kStages - 1);
    sable::cuda::cp_async_wait<kStages - 1>();
    const uint4* v = reinterpret_cast<const uint4*>(ring + (st % kStages) * kStageBytes) + lane;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint4 x = v[i * 32];
      acc ^= x.x ^ x.y ^ x.z ^ x.w;
    }
    if (spin > 0) {
      const long long t0 = clock64();
      while (clock64() - t0 < spin) {
      }
    }
  }
  sable::cuda::cp_async_wait_all();
  return acc;
}

template <Pattern P>
__global__ void __launch_bounds__(256, 2) rows_kernel(const uint8_t* w, int64_t N, int64_t K, int splits,
                                                      uint32_t* sink) {
  extern __shared__ __align__(128) uint8_t smem[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
  const int rw = warp / 4, kw = warp % 4;
  const int64_t row0 = int64_t(blockIdx.x) * 64 + rw * 32;
  const int64_t KB = K / 128;
  const int64_t kb_lo = KB * blockIdx.y / splits, kb_hi = KB * (blockIdx.y + 1) / splits;
  const int nst = kb_hi - kb_lo - kw > 0 ? int((kb_hi - kb_lo - kw + 3) / 4) : 0;
  uint8_t* ring = smem + warp * kStages * kStageBytes;
  const uint32_t sring = smem_u32(ring);
  uint64_t* bars = reinterpret_cast<uint64_t*>(smem + 8 * kStages * kStageBytes) + warp * kStages;
  // Row r of the GEMM's 4 row vectors of lane (g): row0 + (r>>1)*16 + (r&1)*8 + g.
  auto row_addr = [&](int st, int c, int r) -> const uint8_t* {
    const int64_t kb = kb_lo + kw + int64_t(st) * 4;
    const int64_t row = row0 + (r >> 1) * 16 + (r & 1) * 8 + g;
    return w + row * K + kb * 128 + c * 64 + q * 16;
  };
  auto tile_addr = [&](int st) -> const uint8_t* {  // [N/32][KB][4 KB]
    const int64_t kb = kb_lo + kw + int64_t(st) * 4;
    return w + ((row0 / 32) * KB + kb) * kStageBytes;
  };
  uint32_t acc = 0;
  if constexpr (P == kRowsRegs) {
    uint4 a[8], b[8];
    auto load = [&](uint4(&v)[8], int st) {
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] = sable::cuda::ld_stream(row_addr(st, i >> 2, i & 3));
    };
    if (nst > 0) load(a, 0);
    for (int st = 0; st < nst; st += 2) {
      if (st + 1 < nst) load(b, st + 1);
#pragma unroll
      for (int i = 0; i < 8; ++i) acc ^= a[i].x ^ a[i].y ^ a[i].z ^ a[i].w;
      if (st + 2 < nst) load(a, st + 2);
      if (st + 1 < nst)
#pragma unroll
        for (int i = 0; i < 8; ++i) acc ^= b[i].x ^ b[i].y ^ b[i].z ^ b[i].w;
    }
  } else if constexpr (P == kRowsRing || P == kTiledRing) {
    auto issue = [&](int st) {
      if (st < nst) {
        const uint32_t dst = sring + (st % kStages) * kStageBytes;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const uint8_t* src = P == kRowsRing ? row_addr(st, i >> 2, i & 3) : tile_addr(st) + i * 512 + lane * 16;
          cp_async16(dst + i * 512 + lane * 16, src, 16);
        }
      }
      sable::cuda::cp_async_commit();
    };
    acc = drain_ring(issue, nst, ring, lane);
  } else {  // bulk copies completing on a per-warp, per-stage mbarrier
    if (lane == 0)
      for (int s = 0; s < kStages; ++s) mbar_init(smem_u32(bars + s), 1);
    __syncwarp();
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    auto issue = [&](int st) {
      if (st >= nst) return;
      const int s = st % kStages;
      const uint32_t bar = smem_u32(bars + s), dst = sring + s * kStageBytes;
      if constexpr (P == kTiledBulk) {
        if (lane == 0) {
          mbar_expect(bar, kStageBytes);
          bulk(dst, tile_addr(st), kStageBytes, bar);
        }
      } else {  // lane l copies row l's 128 bytes of this 128-block
        if (lane == 0) mbar_expect(bar, kStageBytes);
        __syncwarp();
        const int64_t kb = kb_lo + kw + int64_t(st) * 4;
        bulk(dst + lane * 128, w + (row0 + lane) * K + kb * 128, 128, bar);
      }
    };
    for (int s = 0; s < kStages - 1; ++s) issue(s);
    for (int st = 0; st < nst; ++st) {
      issue(st + kStages - 1);
      mbar_wait(smem_u32(bars + st % kStages), (st / kStages) & 1);
      const uint4* v = reinterpret_cast<const uint4*>(ring + (st % kStages) * kStageBytes) + lane;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const uint4 x = v[i * 32];
        acc ^= x.x ^ x.y ^ x.z ^ x.w;
      }
      __syncwarp();  // everyone has read the slot before it is refilled
    }
  }
  if (acc == 0x12345678u) sink[0] = acc;
}

// Natural rows with SB contiguous bytes per row in a warp's 4 KB stage: RS =
// 4096 / SB rows per warp, 64 / RS row groups x RS / 8 K-warps per CTA, the
// K-warps taking SB-wide chunks in turn; a 3-stage cp.async ring per warp.
template <int SB>
__global__ void __launch_bounds__(256, 2) rows_wide_kernel(const uint8_t* w, int64_t N, int64_t K, int splits,
                                                           uint32_t* sink) {
  constexpr int RS = kStageBytes / SB, KW = RS / 8, VPR = SB / 16;  // rows, K-warps, vectors per row
  extern __shared__ __align__(128) uint8_t smem[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int rg = warp / KW, kw = warp % KW;
  const int64_t row0 = int64_t(blockIdx.x) * 64 + rg * RS;
  const int64_t KC = K / SB;
  const int64_t kc_lo = KC * blockIdx.y / splits, kc_hi = KC * (blockIdx.y + 1) / splits;
  const int nst = kc_hi - kc_lo - kw > 0 ? int((kc_hi - kc_lo - kw + KW - 1) / KW) : 0;
  uint8_t* ring = smem + warp * kStages * kStageBytes;
  const uint32_t sring = smem_u32(ring);
  auto issue = [&](int st) {
    if (st < nst) {
      const uint32_t dst = sring + (st % kStages) * kStageBytes;
      const int64_t kc = kc_lo + kw + int64_t(st) * KW;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const int v = i * 32 + lane;
        cp_async16(dst + v * 16, w + (row0 + v / VPR) * K + kc * SB + (v % VPR) * 16, 16);
      }
    }
    sable::cuda::cp_async_commit();
  };
  const uint32_t acc = drain_ring(issue, nst, ring, lane);
  if (acc == 0x12345678u) sink[0] = acc;
}

// Two copies of an N x K weight, so that consecutive calls do not hit L2.
void two_copies(uint8_t* (&w)[2], size_t bytes) {
  for (auto& p : w) {
    CK(cudaMalloc(&p, bytes));
    CK(cudaMemset(p, 1, bytes));
  }
}

template <typename F>
double time_us(F&& launch, int iters = 20) {
  launch();
  CK(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  std::vector<float> ms;
  for (int rep = 0; rep < 5; ++rep) {
    CK(cudaEventRecord(a));
    for (int i = 0; i < iters; ++i) launch();
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float t;
    CK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return ms[2] * 1e3 / iters;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::pair<int64_t, int64_t>> shapes = {{7168, 18432}, {18432, 7168}, {24576, 1536}, {4096, 7168},
                                                     {7168, 2048}};
  int stage_cycles = 1500, first = 1;
  if (argc >= 3 && std::string(argv[1]) == "--stage-cycles") {
    stage_cycles = std::atoi(argv[2]);
    first = 3;
  }
  if (argc >= first + 2) {
    shapes.clear();
    for (int i = first; i + 1 < argc; i += 2) shapes.push_back({std::atoll(argv[i]), std::atoll(argv[i + 1])});
  }
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  const int sms = prop.multiProcessorCount;
  uint32_t* sink;
  CK(cudaMalloc(&sink, 4));
  const size_t smem = 8 * kStages * kStageBytes + 8 * kStages * 8;
  CK(cudaFuncSetAttribute(rows_kernel<kRowsRing>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  CK(cudaFuncSetAttribute(rows_kernel<kTiledRing>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  CK(cudaFuncSetAttribute(rows_kernel<kRowsBulk>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  CK(cudaFuncSetAttribute(rows_kernel<kTiledBulk>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  CK(cudaFuncSetAttribute(rows_wide_kernel<128>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  CK(cudaFuncSetAttribute(rows_wide_kernel<256>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  CK(cudaFuncSetAttribute(rows_wide_kernel<512>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  std::printf("device: %s, %d SMs; FP8 weight N x K bytes read once per call (no math), median of 5 x 20 calls\n",
              prop.name, sms);
  std::printf("%-13s %6s %6s %5s | %9s %9s %9s %9s %9s %9s %9s %9s %9s  (GB/s)\n", "shape", "N", "K", "split",
              "flat", "rows-regs", "rows-ring", "rows-bulk", "tiled-ring", "tiled-bulk", "rows128", "rows256", "rows512");
  for (auto [N, K] : shapes) {
    const size_t bytes = size_t(N) * K;
    uint8_t* w[2];
    two_copies(w, bytes);
    int it = 0;
    const double t_flat = time_us([&] {
      flat_kernel<<<sms * 8, 512>>>(reinterpret_cast<const uint4*>(w[it++ & 1]), int64_t(bytes / 16), sink);
    });
    const int64_t KB = K / 128;
    for (int splits : {1, 2, 4, 7}) {
      if (KB / splits < 8) continue;
      const dim3 grid(unsigned(N / 64), unsigned(splits));
      auto run = [&](auto kernel, size_t sm) {
        return time_us([&] { kernel<<<grid, 256, sm>>>(w[it++ & 1], N, K, splits, sink); });
      };
      const double t_regs = run(rows_kernel<kRowsRegs>, 0);
      const double t_ring = run(rows_kernel<kRowsRing>, smem);
      const double t_rbulk = run(rows_kernel<kRowsBulk>, smem);
      const double t_tring = run(rows_kernel<kTiledRing>, smem);
      const double t_tbulk = run(rows_kernel<kTiledBulk>, smem);
      const double t_r128 = run(rows_wide_kernel<128>, smem);
      const double t_r256 = run(rows_wide_kernel<256>, smem);
      const double t_r512 = run(rows_wide_kernel<512>, smem);
      CK(cudaGetLastError());
      auto gbs = [&](double us) { return double(bytes) / us * 1e-3; };
      char shape[32];
      std::snprintf(shape, sizeof shape, "%lldx%lld", (long long)N, (long long)K);
      std::printf("%-13s %6lld %6lld %5d | %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f\n", shape,
                  (long long)N, (long long)K, splits, gbs(t_flat), gbs(t_regs), gbs(t_ring), gbs(t_rbulk),
                  gbs(t_tring), gbs(t_tbulk), gbs(t_r128), gbs(t_r256), gbs(t_r512));
    }
    for (auto p : w) CK(cudaFree(p));
  }

  CK(cudaMemcpyToSymbol(g_stage_cycles, &stage_cycles, sizeof stage_cycles));
  std::printf("\nthe ring patterns with %d cycles of busy waiting per stage per warp after its read (GB/s)\n",
              stage_cycles);
  std::printf("%-13s %6s %6s %5s | %9s %9s %9s %9s %9s\n", "shape", "N", "K", "split", "rows-ring", "tiled-ring",
              "rows128", "rows256", "rows512");
  for (auto [N, K] : shapes) {
    const size_t bytes = size_t(N) * K;
    uint8_t* w[2];
    two_copies(w, bytes);
    int it = 0;
    for (int splits : {1, 2, 7}) {
      if (K / 128 / splits < 8) continue;
      const dim3 grid(unsigned(N / 64), unsigned(splits));
      auto run = [&](auto kernel) {
        return time_us([&] { kernel<<<grid, 256, smem>>>(w[it++ & 1], N, K, splits, sink); });
      };
      const double t_ring = run(rows_kernel<kRowsRing>), t_tring = run(rows_kernel<kTiledRing>);
      const double t_r128 = run(rows_wide_kernel<128>), t_r256 = run(rows_wide_kernel<256>);
      const double t_r512 = run(rows_wide_kernel<512>);
      CK(cudaGetLastError());
      auto gbs = [&](double us) { return double(bytes) / us * 1e-3; };
      char shape[32];
      std::snprintf(shape, sizeof shape, "%lldx%lld", (long long)N, (long long)K);
      std::printf("%-13s %6lld %6lld %5d | %9.0f %9.0f %9.0f %9.0f %9.0f\n", shape, (long long)N, (long long)K,
                  splits, gbs(t_ring), gbs(t_tring), gbs(t_r128), gbs(t_r256), gbs(t_r512));
    }
    for (auto p : w) CK(cudaFree(p));
  }
  return 0;
}
