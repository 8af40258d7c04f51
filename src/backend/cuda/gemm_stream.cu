// The weight-streaming tensor-core GEMM (design in gemm_stream.cuh).
#include <cuda_bf16.h>

#include <cstdlib>

#include "backend/cuda/batch_invariant.h"
#include "backend/cuda/expert_tiles.cuh"
#include "backend/cuda/gemm_common.cuh"
#include "backend/cuda/gemm_stream.cuh"
#include "backend/cuda/glu.cuh"
#include "backend/cuda/knobs.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/smem_optin.h"
#include "backend/cuda/stream_load.cuh"
#include "backend/cuda/tuning_value.h"

namespace sable::cuda {
namespace {

constexpr int kThreads = 256;
// A CTA is 8 warps: 8 / KW row groups of 32 rows x KW warps splitting K
// (KW 4: 64 rows; KW 2: 128 rows, each warp twice the stages of a short K).
constexpr int cta_rows(int kw) { return 8 / kw * 32; }

__device__ __forceinline__ uint4 ld_cached(const void* p) {
  return __ldg(reinterpret_cast<const uint4*>(p));
}

template <bool FP8>
__device__ __forceinline__ void mma(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                    uint32_t a3, uint32_t b0, uint32_t b1) {
  if constexpr (FP8) {
    asm("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
}

// SMEM: the weight vectors go through a per-warp ring of kStages shared-memory
// stages filled by cp.async (kStages - 1 stages of loads in flight, no
// register cost); otherwise they are double-buffered in registers (one stage
// in flight). Each lane reads back only the 16-byte slots it wrote itself, so
// cp.async.wait_group alone orders the ring (no barrier).
constexpr int kStages = 3;
constexpr size_t kRingBytes = size_t(8) * kStages * 2 * 4 * 32 * 16;  // 96 KB per CTA

__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, uint32_t src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

template <bool FP8, int BN, bool SMEM, bool TILED, int kKWarps>
// Decode tiles (BN = 8) ask for two CTAs per SM: 16 warps of loads in flight.
// Larger tiles take one CTA per SM and the registers they need.
__global__ void __launch_bounds__(kThreads, (BN == 8 || (SMEM && BN <= 16)) ? 2 : 1) stream_gemm_kernel(const StreamGemmArgs a) {
  constexpr int NT = BN / 8;
  constexpr int ESZ = FP8 ? 1 : 2;
  constexpr int EPV = 16 / ESZ;    // elements per 16-byte vector
  constexpr int KPC = 4 * EPV;     // k per chunk (one vector per lane of a quad)
  constexpr int SPB = 128 / KPC / 2;  // stages of 2 chunks per 128-block: fp8 1, bf16 2
  constexpr int NACC = 2 * NT * 4;
  extern __shared__ float red[];

  int group = 0;
  int64_t p_begin, p_count;
  // Programmatic dependent launch (pdl.cuh): a grouped GEMM reads its tile
  // list (written by the kernel before) first; a dense one starts its weight
  // loads before it waits (shared-memory ring; the register pipeline loads
  // activations with its first weights, so it waits at once).
  if (a.tiles || !SMEM) pdl_begin();
  if (a.tiles) {
    if (int(blockIdx.x) >= *a.num_tiles) return;
    const int* t = a.tiles + 3 * blockIdx.x;
    group = t[0];
    p_begin = t[1];
    p_count = t[2];
  } else {
    p_begin = int64_t(blockIdx.x) * BN;
    p_count = a.T - p_begin < BN ? a.T - p_begin : BN;
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
  const int rw = warp / kKWarps, kw = warp % kKWarps;
  const int64_t row0 = int64_t(blockIdx.y) * cta_rows(kKWarps) + rw * 32;
  const int64_t K = a.K;

  const char* wbase = static_cast<const char*>(a.w) + int64_t(group) * a.w_gstride * ESZ;
  const char* wrow[4];
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    int64_t row = row0 + (r >> 1) * 16 + (r & 1) * 8 + g;
    if (row > a.N - 1) row = a.N - 1;
    wrow[r] = wbase + row * K * ESZ;
  }
  // Tiled weights: this warp's row tile, at this lane's vector (a stage is
  // the tile's eight 512-byte rows of vectors, one contiguous 4 KB).
  const char* wtile = nullptr;
  if constexpr (TILED) {
    const int64_t rts = (a.N + kExpertTileRows - 1) / kExpertTileRows;
    const int64_t rt = row0 / kExpertTileRows < rts ? row0 / kExpertTileRows : rts - 1;
    wtile = wbase + rt * a.w_kt * kExpertTileBytes + lane * 16;
  }
  // B rows: token g of each n-tile (clamped to a valid row: finite data, never stored).
  const char* xrow[NT];
  int64_t xr_c[NT][2];  // FP8 scales: rows of the tokens 2q, 2q+1 of each n-tile
  auto xrow_of = [&](int64_t local) -> int64_t {
    if (local >= p_count) local = 0;
    const int64_t p = p_begin + local;
    return a.x_index ? a.x_index[p] : p;
  };
#pragma unroll
  for (int j = 0; j < NT; ++j) {
    xrow[j] = static_cast<const char*>(a.x) + xrow_of(j * 8 + g) * a.ldx * ESZ;
    if constexpr (FP8) {
      xr_c[j][0] = xrow_of(j * 8 + 2 * q);
      xr_c[j][1] = xrow_of(j * 8 + 2 * q + 1);
    }
  }

  float acc[2][NT][4];
  float part[2][NT][4];
#pragma unroll
  for (int m = 0; m < 2; ++m)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[m][j][i] = part[m][j][i] = 0.f;

  const int64_t KB = (K + 127) / 128;
  const int64_t kb_lo = KB * blockIdx.z / a.splits, kb_hi = KB * (blockIdx.z + 1) / a.splits;
  const int64_t span = kb_hi - kb_lo - kw;
  const int nb = span > 0 ? int((span + kKWarps - 1) / kKWarps) : 0;
  const int nst = nb * SPB;

  // FP8 weight scales of the two row tiles (each inside one 128-row block).
  const float* ws_m[2] = {nullptr, nullptr};
  if constexpr (FP8) {
    const float* base = a.ws + int64_t(group) * a.ws_gstride;
    if (a.glu) {
      const int64_t rb = ((row0 >> 5) * 16) >> 7;
      ws_m[0] = base + rb * a.ws_ld;
      ws_m[1] = base + a.ws_up + rb * a.ws_ld;
    } else {
      const int64_t rb = (row0 < a.N ? row0 : a.N - 1) >> 7;
      ws_m[0] = ws_m[1] = base + rb * a.ws_ld;
    }
  }

  // A stage: the A vectors of 2 chunks and, for small tiles (PRE), the B
  // vectors and FP8 scales of the same k range, all loaded one stage ahead so
  // that computing a stage waits on nothing but its own, early-issued loads.
  constexpr bool PRE = NT <= 2;
  constexpr int PNT = PRE ? NT : 1;
  struct Stage {
    uint4 a[2][4];
    uint4 b[2][PNT];
    float sw[2];
    float sx[PNT][2];
  };
  auto stage_k = [&](int st, int c) -> int64_t {
    const int64_t kb = kb_lo + kw + int64_t(st / SPB) * kKWarps;
    return kb * 128 + ((st % SPB) * 2 + c) * KPC + q * EPV;
  };
  // The weight vector (c, r) of stage st, or nullptr past K.
  auto w_src = [&](int st, int c, int r) -> const char* {
    if constexpr (TILED) {
      const int64_t kt = (kb_lo + kw + int64_t(st / SPB) * kKWarps) * ESZ + st % SPB;  // 128-byte K tile
      return kt < a.w_kt ? wtile + kt * kExpertTileBytes + (c * 4 + r) * 512 : nullptr;
    } else {
      const int64_t k = stage_k(st, c);
      return k < K ? wrow[r] + k * ESZ : nullptr;
    }
  };
  auto load_stage = [&](Stage& buf, int st) {
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const int64_t k = stage_k(st, c);
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const char* src = w_src(st, c, r);
        buf.a[c][r] = src ? ld_stream(src) : make_uint4(0, 0, 0, 0);
      }
      if constexpr (PRE) {
#pragma unroll
        for (int j = 0; j < NT; ++j)
          buf.b[c][j] = k < K ? ld_cached(xrow[j] + k * ESZ) : make_uint4(0, 0, 0, 0);
      }
    }
    if constexpr (FP8 && PRE) {
      const int64_t kb = kb_lo + kw + int64_t(st) * kKWarps;
      buf.sw[0] = __ldg(ws_m[0] + kb);
      buf.sw[1] = __ldg(ws_m[1] + kb);
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        buf.sx[j][0] = __ldg(a.xs + kb * a.xs_sk + xr_c[j][0] * a.xs_st);
        buf.sx[j][1] = __ldg(a.xs + kb * a.xs_sk + xr_c[j][1] * a.xs_st);
      }
    }
  };
  auto compute_stage = [&](const Stage& buf, int st) {
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      uint4 bx[NT];
      if constexpr (PRE) {
#pragma unroll
        for (int j = 0; j < NT; ++j) bx[j] = buf.b[c][j < PNT ? j : 0];
      } else {
        const int64_t k = stage_k(st, c);
#pragma unroll
        for (int j = 0; j < NT; ++j) bx[j] = k < K ? ld_cached(xrow[j] + k * ESZ) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int m = 0; m < 2; ++m) {
          float(&d)[4] = *(FP8 ? &part[m][j] : &acc[m][j]);
          mma<FP8>(d, buf.a[c][2 * m].x, buf.a[c][2 * m + 1].x, buf.a[c][2 * m].y, buf.a[c][2 * m + 1].y,
                   bx[j].x, bx[j].y);
          mma<FP8>(d, buf.a[c][2 * m].z, buf.a[c][2 * m + 1].z, buf.a[c][2 * m].w, buf.a[c][2 * m + 1].w,
                   bx[j].z, bx[j].w);
        }
    }
    if constexpr (FP8) {  // one stage per 128-block: promote with the block's scales
      const int64_t kb = kb_lo + kw + int64_t(st) * kKWarps;
      float sw0, sw1;
      if constexpr (PRE) {
        sw0 = buf.sw[0];
        sw1 = buf.sw[1];
      } else {
        sw0 = __ldg(ws_m[0] + kb);
        sw1 = __ldg(ws_m[1] + kb);
      }
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        float sx0, sx1;
        if constexpr (PRE) {
          sx0 = buf.sx[j < PNT ? j : 0][0];
          sx1 = buf.sx[j < PNT ? j : 0][1];
        } else {
          sx0 = __ldg(a.xs + kb * a.xs_sk + xr_c[j][0] * a.xs_st);
          sx1 = __ldg(a.xs + kb * a.xs_sk + xr_c[j][1] * a.xs_st);
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const float sx = (i & 1) ? sx1 : sx0;
          acc[0][j][i] += part[0][j][i] * (sw0 * sx);
          acc[1][j][i] += part[1][j][i] * (sw1 * sx);
          part[0][j][i] = part[1][j][i] = 0.f;
        }
      }
    }
  };

  Stage S0, S1;
  if constexpr (!SMEM) {
    if (nst > 0) load_stage(S0, 0);
    for (int st = 0; st < nst; st += 2) {
      if (st + 1 < nst) load_stage(S1, st + 1);
      compute_stage(S0, st);
      if (st + 2 < nst) load_stage(S0, st + 2);
      if (st + 1 < nst) compute_stage(S1, st + 1);
    }
  } else {
    // This lane's slots: ring[warp][slot][c][r][lane].
    const uint32_t ring = static_cast<uint32_t>(__cvta_generic_to_shared(red)) +
                          uint32_t(warp) * kStages * 2 * 4 * 32 * 16 + uint32_t(lane) * 16;
    const uint4* ring_ptr = reinterpret_cast<const uint4*>(red) + size_t(warp) * kStages * 2 * 4 * 32 + lane;
    auto issue = [&](int st) {
      if (st < nst) {
        const int slot = st % kStages;
#pragma unroll
        for (int c = 0; c < 2; ++c)
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const char* src = w_src(st, c, r);
            cp_async16(ring + uint32_t(((slot * 2 + c) * 4 + r) * 32 * 16), src ? src : wbase, src ? 16u : 0u);
          }
      }
      cp_async_commit();  // empty groups keep the count uniform
    };
    auto load_pre = [&](Stage& buf, int st) {  // B and scales only
      if constexpr (PRE) {
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int64_t k = stage_k(st, c);
#pragma unroll
          for (int j = 0; j < NT; ++j)
            buf.b[c][j] = k < K ? ld_cached(xrow[j] + k * ESZ) : make_uint4(0, 0, 0, 0);
        }
        if constexpr (FP8) {
          const int64_t kb = kb_lo + kw + int64_t(st) * kKWarps;
          buf.sw[0] = __ldg(ws_m[0] + kb);
          buf.sw[1] = __ldg(ws_m[1] + kb);
#pragma unroll
          for (int j = 0; j < NT; ++j) {
            buf.sx[j][0] = __ldg(a.xs + kb * a.xs_sk + xr_c[j][0] * a.xs_st);
            buf.sx[j][1] = __ldg(a.xs + kb * a.xs_sk + xr_c[j][1] * a.xs_st);
          }
        }
      }
    };
    auto read_a = [&](Stage& buf, int st) {
      const int slot = st % kStages;
#pragma unroll
      for (int c = 0; c < 2; ++c)
#pragma unroll
        for (int r = 0; r < 4; ++r) buf.a[c][r] = ring_ptr[((slot * 2 + c) * 4 + r) * 32];
    };
#pragma unroll
    for (int st = 0; st < kStages - 1; ++st) issue(st);
    if (!a.tiles) pdl_begin();
    if (nst > 0) load_pre(S0, 0);
    for (int st = 0; st < nst; st += 2) {
      issue(st + kStages - 1);
      if (st + 1 < nst) load_pre(S1, st + 1);
      cp_async_wait<kStages - 1>();
      read_a(S0, st);
      compute_stage(S0, st);
      if (st + 1 < nst) {
        issue(st + kStages);
        if (st + 2 < nst) load_pre(S0, st + 2);
        cp_async_wait<kStages - 1>();
        read_a(S1, st + 1);
        compute_stage(S1, st + 1);
      }
    }
    cp_async_wait<0>();
    __syncthreads();  // the reduction below reuses the ring
  }

  // Sum the kKWarps partial results of each row group in a fixed order.
  if (kw > 0) {
    float* dst = red + (size_t(rw * (kKWarps - 1) + (kw - 1)) * NACC) * 32 + lane;  // 8 / kKWarps row groups
#pragma unroll
    for (int m = 0; m < 2; ++m)
#pragma unroll
      for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int i = 0; i < 4; ++i) dst[((m * NT + j) * 4 + i) * 32] = acc[m][j][i];
  }
  __syncthreads();
  if (kw != 0) return;
#pragma unroll
  for (int o = 0; o < kKWarps - 1; ++o) {
    const float* src = red + (size_t(rw * (kKWarps - 1) + o) * NACC) * 32 + lane;
#pragma unroll
    for (int m = 0; m < 2; ++m)
#pragma unroll
      for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int i = 0; i < 4; ++i) acc[m][j][i] += src[((m * NT + j) * 4 + i) * 32];
  }

  // Epilogue. Fragment (m, j, i): row row0 + 16m + 8(i>>1) + g, token j*8 + 2q + (i&1).
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t local = j * 8 + 2 * q + (i & 1);
      if (local >= p_count) continue;
      const int64_t p = p_begin + local;
      const float rs = a.row_scale ? a.row_scale[p] : 1.f;
      if (a.glu) {
        if (row0 >= a.N) continue;  // a 32-row group past the last gate/up pair
        const float gv = acc[0][j][i], uv = acc[1][j][i];
        const float h = silu_mul_fast(gv, uv) * rs;
        const int64_t col = (row0 >> 5) * 16 + (i >> 1) * 8 + g;
        if (a.out_f32)
          static_cast<float*>(a.out)[p * a.ldo + col] = h;
        else
          static_cast<__nv_bfloat16*>(a.out)[p * a.ldo + col] = __float2bfloat16(h);
        continue;
      }
#pragma unroll
      for (int m = 0; m < 2; ++m) {
        const int64_t n = row0 + 16 * m + 8 * (i >> 1) + g;
        if (n >= a.N) continue;
        if (a.splits > 1) {
          a.partial[(int64_t(blockIdx.z) * a.T + p) * a.N + n] = acc[m][j][i];
        } else if (a.out_f32) {
          static_cast<float*>(a.out)[p * a.ldo + n] = acc[m][j][i] * rs;
        } else {
          static_cast<__nv_bfloat16*>(a.out)[p * a.ldo + n] = __float2bfloat16(acc[m][j][i] * rs);
        }
      }
    }
}

// out[p, n] = sum_z partial[z, p, n] (x row_scale[p]), in z order.
__global__ void splitk_reduce_kernel(const float* partial, int splits, int64_t T, int64_t N,
                                     const float* row_scale, void* out, int64_t ldo, bool out_f32) {
  pdl_begin();
  const int64_t total = T * N;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    float s = 0.f;
    for (int z = 0; z < splits; ++z) s += partial[z * total + idx];
    const int64_t p = idx / N, n = idx % N;
    if (row_scale) s *= row_scale[p];
    if (out_f32)
      static_cast<float*>(out)[p * ldo + n] = s;
    else
      static_cast<__nv_bfloat16*>(out)[p * ldo + n] = __float2bfloat16(s);
  }
}

// 0: the register pipeline; 1: the shared-memory ring; -1: by dtype, the
// ring for FP8 and registers for bf16 (H200, run of d783fda, MoE experts:
// FP8 ring 78/100/97/76% of copy bandwidth at 1/8/32/128 tokens against
// 64/74/76/77% for registers; bf16 registers 88-104% against 85-99%);
// -2: read SABLE_STREAM_GEMM_SMEM (1 or 0 forces a pipeline) on first use.
int g_variant = -2;

template <bool FP8, int BN, bool SMEM, bool TILED, int KW = 4>
void launch_variant(const StreamGemmArgs& a, cudaStream_t stream) {
  // Tiles vary fastest, so the tiles of one expert read the same weight rows
  // at about the same time (the second read hits L2).
  const dim3 grid(unsigned(a.grid_tiles), unsigned(ceil_div(a.N, cta_rows(KW))), unsigned(a.splits));
  size_t smem = size_t(8 / KW * (KW - 1)) * (2 * (BN / 8) * 4) * 32 * sizeof(float);
  if (SMEM) {
    smem = smem > kRingBytes ? smem : kRingBytes;
    allow_dynamic_smem(stream_gemm_kernel<FP8, BN, SMEM, TILED, KW>, smem);
  }
  launch_pdl(stream_gemm_kernel<FP8, BN, SMEM, TILED, KW>, grid, kThreads, smem, stream, a);
  SABLE_LAUNCH_OK();
}

// Warps splitting K for grouped GEMMs over tiled weights through the ring
// (the FP8 MoE experts). 2 (128-row CTAs whose warps each stream twice the
// stages) from 256 token-expert pairs (32 tokens of DeepSeek-V3), and at
// every size for GEMMs of at most 16 K tiles (the experts' down projection:
// 16 K-blocks are 4 stages per warp at 4 K-warps, mostly ramp and drain); 4
// otherwise, where CTAs are few and the grid's wave count decides. H200
// (records 2026-12-01-8b14ee8-moe-tiles-ab.md, 2026-12-01-dd43d42-moe-kwarps-ab.md):
// FP8 MoE at 128 tokens 2,551 us against 2,663 with 4 (3,096 against 3,386
// with 16-token tiles), equal at 32; at one token (9 experts with the shared
// one) the gate/up grid is 288 CTAs of 128 rows, 1.09 waves, and the FP8
// decode step took 1.455 ms against 1.398 with 4. Down alone on 2 (record
// 2026-12-04-fe2e4eb-down-kwarps-ab.md, the FP8 step): batch 1 / 2 / 4 / 8 /
// 32 1.389 -> 1.382, 1.671 = 1.671, 1.958 -> 1.942, 2.706 -> 2.703, 6.110 ->
// 6.113 ms. Batch-invariant mode keeps 4 at every size (one K partition
// whatever the batch). Dense GEMMs take theirs from the caller
// (StreamGemmArgs::kwarps, gemm_linear.cu). SABLE_STREAM_KWARPS=2|4 forces
// one for the grouped GEMMs (tuning knob, read once).
TuningValue g_stream_kwarps{"SABLE_STREAM_KWARPS", 0, [](int v) { return v == 0 || v == 2 || v == 4; }};

int tiled_kwarps(const StreamGemmArgs& a) {
  if (!a.tiles) return a.kwarps == 2 ? 2 : 4;
  if (const int forced = g_stream_kwarps.get()) return forced;
  return !batch_invariant() && (a.T >= 256 || a.w_kt <= 16) ? 2 : 4;
}

template <bool FP8, int BN>
void launch_one(const StreamGemmArgs& a, cudaStream_t stream) {
  if (g_variant == -2) {
    const char* e = std::getenv("SABLE_STREAM_GEMM_SMEM");
    g_variant = (e && *e == '1') ? 1 : (e && *e == '0') ? 0 : -1;
  }
  const bool ring = g_variant == 1 || (g_variant == -1 && FP8);
  if (a.w_kt > 0) {
    if (ring && tiled_kwarps(a) == 2) launch_variant<FP8, BN, true, true, 2>(a, stream);
    else if (ring) launch_variant<FP8, BN, true, true>(a, stream);
    else launch_variant<FP8, BN, false, true>(a, stream);
  } else {
    if (ring) launch_variant<FP8, BN, true, false>(a, stream);
    else launch_variant<FP8, BN, false, false>(a, stream);
  }
}

}  // namespace

void set_stream_gemm_variant(int v) { g_variant = v; }
bool set_stream_kwarps(int kw) { return g_stream_kwarps.set(kw); }

void launch_stream_gemm(const StreamGemmArgs& a, cudaStream_t stream) {
  if (a.grid_tiles <= 0 || a.N <= 0) return;
  SABLE_GEMM_REQUIRE(a.K % (a.fp8 ? 16 : 8) == 0, "stream GEMM needs K % 16 (fp8) / 8 (bf16) == 0");
  SABLE_GEMM_REQUIRE(a.splits == 1 || (a.tiles == nullptr && a.partial && !a.glu),
                     "split-K only for dense GEMMs with a partial buffer");
  SABLE_GEMM_REQUIRE(!a.glu || a.N % 32 == 0, "gate/up rows must be a multiple of 32");
  if (a.fp8) {
    switch (a.bn) {
      case 8: launch_one<true, 8>(a, stream); break;
      case 16: launch_one<true, 16>(a, stream); break;
      case 32: launch_one<true, 32>(a, stream); break;
      default: SABLE_GEMM_REQUIRE(false, "fp8 stream GEMM tile must be 8, 16 or 32 tokens");
    }
  } else {
    switch (a.bn) {
      case 8: launch_one<false, 8>(a, stream); break;
      case 16: launch_one<false, 16>(a, stream); break;
      case 32: launch_one<false, 32>(a, stream); break;
      case 64: launch_one<false, 64>(a, stream); break;
      default: SABLE_GEMM_REQUIRE(false, "bf16 stream GEMM tile must be 8, 16, 32 or 64 tokens");
    }
  }
  if (a.splits > 1 && !skipped(kSkipSplitkReduce)) {
    const int64_t total = a.T * a.N;
    const int blocks = int(ceil_div(total, 256) < 4096 ? ceil_div(total, 256) : 4096);
    launch_pdl(splitk_reduce_kernel, blocks, 256, 0, stream, a.partial, a.splits, a.T, a.N, a.row_scale, a.out, a.ldo,
               a.out_f32);
    SABLE_LAUNCH_OK();
  }
}

}  // namespace sable::cuda
