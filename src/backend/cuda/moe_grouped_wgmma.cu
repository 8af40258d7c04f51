// The MoE experts' grouped GEMM for prefill-sized batches, on Hopper tensor
// cores (wgmma), bf16 or FP8 (DeepSeek-V3 block scaling):
//   out[p, n] = row_scale[p] * sum_k x[x_index[p], k] W[g][n, k]
// over the tiles of tokens sorted by expert that moe_experts builds (up to
// 128 tokens of one expert g per tile), with the gate/up SiLU product in the
// epilogue (glu). The weight-streaming kernel (gemm_stream.cu) reads each
// weight once and is the right kernel for a few tokens per expert; with
// ~128 tokens per expert (4096 tokens, top-8 of 256) it re-reads the tokens
// for every 64 weight rows and reached 12.6% of the GEMM rate (H200,
// bench/results/cuda-gemm-2026-11-30.md). Here a CTA computes a 128-row x
// 128-token tile from shared memory:
//   - 2 warpgroups, each 64 weight rows (wgmma m64n128k16, A = weights,
//     B = tokens, both K-major in the 128-byte-swizzle layout);
//   - K in 64-wide stages, 4 stages of cp.async (weights and the gathered
//     token rows, 16-byte chunks), prefetch distance 2, one wgmma group in
//     flight;
//   - the accumulator goes through shared memory so that the stores are
//     coalesced along n and the gate/up rows (interleaved by 16) meet.
// CTA order: an expert's tiles are neighbours in the tile list; CTA c is
// mapped to (row block, tile) of its expert with the tile fastest, so the
// CTAs that share a weight block run together (one DRAM read), and all row
// blocks of an expert run within a wave or two while its token rows sit in
// L2. Grids are sized from T alone, so the call can be captured in a graph.
#include <cuda_bf16.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/gemm_common.cuh"
#include "backend/cuda/gemm_stream.cuh"
#include "backend/cuda/sm90_async.cuh"

namespace sable::cuda {

namespace {

constexpr int kBM = 128;  // weight rows per CTA (2 warpgroups x 64)
constexpr int kBN = 128;  // tokens per CTA: one tile of the sorted list
constexpr int kRowBytes = 128;  // K per stage: one 128-byte swizzled row (64 bf16, 128 fp8)
constexpr int kStages = 4;
constexpr int kThreads = 256;
constexpr int kTileBytes = kBM * kRowBytes;  // 16 KB, A and B alike (kBM == kBN)
constexpr int kStageBytes = 2 * kTileBytes;
constexpr int kEpiLd = kBM + 4;  // floats per token in the epilogue tile (bank spread)
constexpr int kScaleBytes = kBN * 4;  // FP8: the tile's token scales of one stage
constexpr int kSmemBytes = 1024 /* alignment slack */ + kStages * (kStageBytes + kScaleBytes);
static_assert(kBM == kBN, "one chunk map serves both tiles");
static_assert(kBN * kEpiLd * 4 <= kStages * kStageBytes, "epilogue tile reuses the stages");

// The 64 accumulator registers of an m64n128 wgmma, as asm operands %0..%63.
#define SABLE_WGMMA_D64_REGS \
  "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15," \
  "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31," \
  "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47," \
  "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63"
#define SABLE_WGMMA_D64_OUT(d) \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
  "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
  "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
  "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
  "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
  "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
  "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
  "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])

// D[64 x 128] += A[64 x 16] B[128 x 16]^T, both from shared memory.
__device__ __forceinline__ void wgmma_m64n128k16(float (&d)[64], uint64_t da, uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {" SABLE_WGMMA_D64_REGS "}, %64, %65, p, 1, 1, 0, 0;\n"
      "}\n"
      : SABLE_WGMMA_D64_OUT(d)
      : "l"(da), "l"(db), "n"(1));
}

// The same for e4m3 x e4m3, 32 of K; scale_d 0 overwrites D.
__device__ __forceinline__ void wgmma_m64n128k32_e4m3(float (&d)[64], uint64_t da, uint64_t db, int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {" SABLE_WGMMA_D64_REGS "}, %64, %65, p, 1, 1;\n"
      "}\n"
      : SABLE_WGMMA_D64_OUT(d)
      : "l"(da), "l"(db), "r"(scale_d));
}

template <bool kFp8>
__global__ void __launch_bounds__(kThreads, 1) moe_wgmma_kernel(const StreamGemmArgs a) {
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  const int RB = int(a.N / kBM);
  const int q = int(blockIdx.x) / RB;
  if (q >= *a.num_tiles) return;
  // (row block, tile) within the expert's group of tiles, tile fastest.
  const int t0 = a.tile_groups[2 * q], n_tiles = a.tile_groups[2 * q + 1];
  const int local = int(blockIdx.x) - t0 * RB;
  const int rb = local / n_tiles, tile = t0 + local % n_tiles;
  const int g = a.tiles[3 * tile], p0 = a.tiles[3 * tile + 1], cnt = a.tiles[3 * tile + 2];

  const int tid = threadIdx.x, wg = tid >> 7, warp = tid >> 5, lane = tid & 31;
  constexpr int kElem = kFp8 ? 1 : 2;  // bytes per element
  const auto* W = static_cast<const uint8_t*>(a.w) + (int64_t(g) * a.w_gstride + int64_t(rb) * kBM * a.K) * kElem;
  const auto* X = static_cast<const uint8_t*>(a.x);
  // Each thread copies 4 chunks of each tile per stage: row idx / 8, chunk
  // idx % 8 with idx = tid + 256 i (8 threads per 128-byte row: coalesced).
  const uint8_t* asrc[4];
  const uint8_t* bsrc[4];
  int bbytes[4];
  uint32_t soff[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int idx = tid + kThreads * i, r = idx >> 3, ch = idx & 7;
    soff[i] = swz128(r, ch);
    asrc[i] = W + int64_t(r) * a.K * kElem + ch * 16;
    const bool real = r < cnt;  // rows past the tile's tokens are zero-filled
    const int64_t xrow = real ? (a.x_index ? a.x_index[p0 + r] : p0 + r) : 0;
    bsrc[i] = X + xrow * a.ldx * kElem + ch * 16;
    bbytes[i] = real ? 16 : 0;
  }
  // FP8: thread t < 128 fetches token t's scale of each stage.
  const float* xs_src = nullptr;
  int xs_bytes = 0;
  if (kFp8 && tid < kBN) {
    const bool real = tid < cnt;
    const int64_t xrow = real ? (a.x_index ? a.x_index[p0 + tid] : p0 + tid) : 0;
    xs_src = a.xs + xrow * a.xs_st;
    xs_bytes = real ? 4 : 0;
  }
  const uint32_t sbase = smem_u32(smem);
  const uint32_t sscale = sbase + uint32_t(kStages * kStageBytes);
  auto load = [&](int kb, int st) {
    const uint32_t sa = sbase + uint32_t(st * kStageBytes), sb = sa + kTileBytes;
    const int64_t ko = int64_t(kb) * kRowBytes;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      cp_async16(sa + soff[i], asrc[i] + ko, 16);
      cp_async16(sb + soff[i], bsrc[i] + ko, bbytes[i]);
    }
    if (kFp8 && tid < kBN) cp_async4(sscale + uint32_t((st * kBN + tid) * 4), xs_src + int64_t(kb) * a.xs_sk, xs_bytes);
  };

  // FP8 weight scale of this thread's rows: the warp's 16-row group is gate
  // (even) or up (odd) under glu, both in natural row block rb / 2.
  const float* wscale = nullptr;
  if (kFp8) {
    const int64_t gbase = int64_t(g) * a.ws_gstride;
    wscale = a.glu ? a.ws + gbase + ((warp & 1) ? a.ws_up : 0) + int64_t(rb / 2) * a.ws_ld
                   : a.ws + gbase + int64_t(rb) * a.ws_ld;
  }
  const float* sxs = reinterpret_cast<const float*>(smem + kStages * kStageBytes);

  constexpr int kAhead = kFp8 ? kStages - 1 : kStages - 2;  // stages loaded ahead
  const int KB = int(a.K * kElem / kRowBytes);
  float acc[64], blk[64];  // blk: FP8's per-stage block accumulator
#pragma unroll
  for (int i = 0; i < 64; ++i) acc[i] = blk[i] = 0.f;
#pragma unroll
  for (int s = 0; s < kAhead; ++s) {
    if (s < KB) load(s, s);
    cp_async_commit();
  }
  for (int kb = 0; kb < KB; ++kb) {
    // Committed groups: stages 0 .. kb + kAhead - 1; stage kb must have landed.
    cp_async_wait<kAhead - 1>();
    fence_proxy_async();
    __syncthreads();  // stage kb visible to all; the stage about to be refilled is consumed
    const int st = kb % kStages;
    const uint32_t sa = sbase + uint32_t(st * kStageBytes);
    const uint64_t da = kmajor_desc(sa + uint32_t(wg * (kTileBytes / 2))), db = kmajor_desc(sa + kTileBytes);
    if constexpr (kFp8) {
      const float ws = wscale[kb];
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) wgmma_m64n128k32_e4m3(blk, da + 2 * ks, db + 2 * ks, ks);  // +32 B per k32
      wgmma_commit();
      if (kb + kAhead < KB) load(kb + kAhead, (kb + kAhead) % kStages);  // its stage was consumed at kb-1
      cp_async_commit();
      wgmma_wait0();
      const float* sx = sxs + st * kBN + (lane & 3) * 2;
#pragma unroll
      for (int j = 0; j < 16; ++j) {
        const float s0 = ws * sx[j * 8], s1 = ws * sx[j * 8 + 1];
        acc[4 * j] += blk[4 * j] * s0;
        acc[4 * j + 1] += blk[4 * j + 1] * s1;
        acc[4 * j + 2] += blk[4 * j + 2] * s0;
        acc[4 * j + 3] += blk[4 * j + 3] * s1;
      }
    } else {
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < 4; ++ks) wgmma_m64n128k16(acc, da + 2 * ks, db + 2 * ks);  // +32 B per k16
      wgmma_commit();
      wgmma_wait<1>();  // kb-1 done: its stage is free after the next barrier
      if (kb + kAhead < KB) load(kb + kAhead, (kb + kAhead) % kStages);
      cp_async_commit();
    }
  }
  wgmma_wait0();
  cp_async_wait_all();
  __syncthreads();

  // Accumulator -> shared [token][weight row]. m64n128 layout: acc[4 j + e]
  // is row (warp % 4) * 16 + lane / 4 + 8 (e / 2), token 8 j + 2 (lane % 4) + e % 2.
  float* sE = reinterpret_cast<float*>(smem);
  const int mrow = wg * 64 + (warp & 3) * 16 + (lane >> 2);
#pragma unroll
  for (int j = 0; j < 16; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int tok = j * 8 + (lane & 3) * 2 + (e & 1);
      sE[tok * kEpiLd + mrow + (e >> 1) * 8] = acc[j * 4 + e];
    }
  __syncthreads();

  auto* out = static_cast<__nv_bfloat16*>(a.out);
  if (a.glu) {
    // 64 output columns: column c is silu(row 32 (c/16) + c%16) * row (+16).
    for (int it = tid; it < kBN * 8; it += kThreads) {
      const int tok = it >> 3, c0 = (it & 7) * 8;
      if (tok >= cnt) continue;
      const float* e = sE + tok * kEpiLd;
      const float rs = a.row_scale ? a.row_scale[p0 + tok] : 1.f;
      uint4 v;
      __nv_bfloat162* h2 = reinterpret_cast<__nv_bfloat162*>(&v);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        float r2[2];
#pragma unroll
        for (int k = 0; k < 2; ++k) {
          const int c = c0 + 2 * i + k, gr = 32 * (c >> 4) + (c & 15);
          const float gv = e[gr], uv = e[gr + 16];
          r2[k] = gv / (1.f + __expf(-gv)) * uv * rs;
        }
        h2[i] = __floats2bfloat162_rn(r2[0], r2[1]);
      }
      *reinterpret_cast<uint4*>(out + int64_t(p0 + tok) * a.ldo + int64_t(rb) * (kBM / 2) + c0) = v;
    }
  } else {
    for (int it = tid; it < kBN * (kBM / 8); it += kThreads) {
      const int tok = it >> 4, c0 = (it & 15) * 8;
      if (tok >= cnt) continue;
      const float* e = sE + tok * kEpiLd + c0;
      const float rs = a.row_scale ? a.row_scale[p0 + tok] : 1.f;
      uint4 v;
      __nv_bfloat162* h2 = reinterpret_cast<__nv_bfloat162*>(&v);
#pragma unroll
      for (int i = 0; i < 4; ++i) h2[i] = __floats2bfloat162_rn(e[2 * i] * rs, e[2 * i + 1] * rs);
      *reinterpret_cast<uint4*>(out + int64_t(p0 + tok) * a.ldo + int64_t(rb) * kBM + c0) = v;
    }
  }
}

}  // namespace

bool grouped_wgmma_supported(const StreamGemmArgs& a) {
  return !a.out_f32 && a.bn == kBN && a.tile_groups != nullptr && a.N % kBM == 0 &&
         a.K % (a.fp8 ? 128 : 64) == 0 && a.ldx % 16 == 0 && a.ldo % 8 == 0 && (!a.fp8 || a.xs != nullptr);
}

void launch_grouped_wgmma(const StreamGemmArgs& a, cudaStream_t stream) {
  static const bool attr = [] {
    SABLE_CUDA_OK(cudaFuncSetAttribute(moe_wgmma_kernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
    SABLE_CUDA_OK(cudaFuncSetAttribute(moe_wgmma_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
    return true;
  }();
  (void)attr;
  const int64_t ctas = int64_t(a.grid_tiles) * (a.N / kBM);
  if (ctas == 0) return;
  if (a.fp8) moe_wgmma_kernel<true><<<unsigned(ctas), kThreads, kSmemBytes, stream>>>(a);
  else moe_wgmma_kernel<false><<<unsigned(ctas), kThreads, kSmemBytes, stream>>>(a);
  SABLE_LAUNCH_OK();
}

}  // namespace sable::cuda
