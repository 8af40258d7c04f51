// MLA prefill in the expanded form (backend.h): the latent gather out of the
// paged cache, and causal flash attention of one sequence's query rows over
// one chunk of up-projected keys, merged into earlier chunks by log-sum-exp.
//
// Three attention kernels:
//  - for DeepSeek-V3's head dims (nope 128, rope 64, v 128; BF16 q, kv,
//    k_pe, out), the warp-specialized wgmma kernel (mla_expanded_ws.cu,
//    FlashAttention-3's schedule; the default) and the tensor-core kernel
//    below, FlashAttention-2 on mma.sync (its second opinion);
//  - a generic CUDA-core kernel for any dims and F32/BF16 (the tiny test
//    models, F32 runs, and a second opinion for the tensor-core kernel).
//
// Tensor-core kernel. One CTA = 128 query rows of one head (8 warps x 16
// rows); keys stream through shared memory 64 at a time, double-buffered by
// cp.async: K as [64 keys x 192] assembled from kv[key, head, 0:128] and
// k_pe[key, 0:64], V as [64 keys x 128] from kv[key, head, 128:256]. Each
// warp keeps its Q fragments (16 x 192) in registers for the whole CTA and
// owns all 64 keys of its rows, so the softmax needs no cross-warp exchange:
//   S = Q K^T  [16 x 64] per warp, ldmatrix from the K tile
//   softmax    online, f32, log2 domain; P rounded to bf16 in registers
//   O += P V   [16 x 128] per warp: the S accumulators, packed to bf16, are
//              the A fragments of P V directly (FA2 register reuse), V read
//              through ldmatrix.trans
// Shared memory: Q 48 KB + 2 stages x (K 24 KB + V 16 KB) = 128 KB, one CTA
// per SM. Tiles are stored as column blocks of [rows x 64 dims] (128 B per
// row) with each 16-byte chunk XOR-swizzled by row % 8: ldmatrix reads of 8
// consecutive rows hit 8 distinct bank groups.
//
// Causality: row i sees key j iff j <= i + delta (delta = q_pos0 - k_pos0).
// A CTA walks only the tiles its last row can see; tiles entirely visible to
// its first row skip the mask, and a warp whose rows see nothing of a tile
// (the upper half of a diagonal tile) skips it. Grid: x = row blocks, the
// longest (last) first; y = heads, so the CTAs running together share a
// head's keys in L2.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/mla_expanded_kernels.cuh"
#include "backend/cuda/mma_sync.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/sm90_async.cuh"
#include "backend/cuda/smem_optin.h"

namespace sable::cuda {
namespace {

// ---------------------------------------------------------------- read_kv

// One thread per 8 elements of a gathered row; kv_lora and rope multiples of 8.
template <typename TC, typename TO>
__global__ void read_kv_vec_kernel(const TC* cache, const int32_t* slots, TO* c_kv, TO* k_pe, int64_t n, int L,
                                   int kv_lora, int64_t num_slots) {
  const int chunks = L / 8;
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * chunks) return;
  const int64_t j = idx / chunks;
  const int e = int(idx % chunks) * 8;
  const int64_t slot = slots[j];
  float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  if (slot >= 0 && slot < num_slots) load8(cache + slot * L + e, v);  // a bad slot reads as zeros
  if (e < kv_lora) store8(c_kv + j * kv_lora + e, v);
  else store8(k_pe + j * (L - kv_lora) + (e - kv_lora), v);
}

template <typename TC, typename TO>
__global__ void read_kv_scalar_kernel(const TC* cache, const int32_t* slots, TO* c_kv, TO* k_pe, int64_t n, int L,
                                      int kv_lora, int64_t num_slots) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * L) return;
  const int64_t j = idx / L;
  const int e = int(idx % L);
  const int64_t slot = slots[j];
  const float v = slot >= 0 && slot < num_slots ? to_f32(cache[slot * L + e]) : 0.f;
  if (e < kv_lora) c_kv[j * kv_lora + e] = from_f32<TO>(v);
  else k_pe[j * (L - kv_lora) + (e - kv_lora)] = from_f32<TO>(v);
}

// ---------------------------------------------------------------- attention

using mla_exp::ExpArgs;
using mla_exp::kDv;
using mla_exp::kLn2;
using mla_exp::kNope;
using mla_exp::kQk;
using mla_exp::kRope;
using mla_exp::Merge;
using mla_exp::merge_weights;

// ---- generic CUDA-core kernel ----
constexpr int kGenThreads = 128;
constexpr int kGenMaxDv = 8 * kGenThreads;  // o[8] per thread


// One block per (row, head); 128 keys per step, one key per thread for the
// scores, then every thread accumulates its value dims over them.
template <typename TQ, typename TK, typename TO>
__global__ void __launch_bounds__(kGenThreads) mla_expanded_generic_kernel(const ExpArgs p) {
  extern __shared__ float gsm[];
  float* sp = gsm;                 // [128] weights of the current keys
  float* scratch = sp + kGenThreads;  // [33]
  float* smerge = scratch + 33;    // [3] w_old, w_cur, lse
  float* sq = smerge + 3;          // [nope + rope] the query, pre-scaled (log2 domain)

  const int64_t item = blockIdx.x;  // i * H + h
  const int i = int(item / p.H), h = int(item % p.H);
  const int qk = p.nope + p.rope, kw = p.nope + p.dv;
  TO* out = static_cast<TO*>(p.out) + item * p.dv;
  const int kend = min(p.n, i + p.delta + 1);  // keys [0, kend) visible
  if (kend <= 0) {
    if (!p.accumulate) {
      for (int d = threadIdx.x; d < p.dv; d += kGenThreads) out[d] = from_f32<TO>(0.f);
      if (threadIdx.x == 0) p.lse[item] = -INFINITY;
    }
    return;
  }
  const TQ* q = static_cast<const TQ*>(p.q) + item * qk;
  const TK* kv = static_cast<const TK*>(p.kv);
  const TK* kpe = static_cast<const TK*>(p.k_pe);
  for (int c = threadIdx.x; c < qk; c += kGenThreads) sq[c] = to_f32(q[c]) * p.scale_log2;

  float o[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float m = -INFINITY, l = 0.f;
  for (int c0 = 0; c0 < kend; c0 += kGenThreads) {
    const int key = c0 + threadIdx.x;
    float s = -INFINITY;
    __syncthreads();  // sq written / the previous step's sp consumed
    if (key < kend) {
      const TK* kn = kv + (int64_t(key) * p.H + h) * kw;
      const TK* kr = kpe + int64_t(key) * p.rope;
      float acc = 0.f;
      for (int c = 0; c < p.nope; ++c) acc += sq[c] * to_f32(kn[c]);
      for (int c = 0; c < p.rope; ++c) acc += sq[p.nope + c] * to_f32(kr[c]);
      s = acc;
    }
    const float mn = fmaxf(m, block_max(s, scratch));  // finite: key c0 is visible
    const float alpha = exp2f(m - mn);
    const float pr = key < kend ? exp2f(s - mn) : 0.f;
    sp[threadIdx.x] = pr;
    l = l * alpha + block_sum(pr, scratch);  // block_sum's barriers publish sp
    m = mn;
    const int cnt = min(kGenThreads, kend - c0);
#pragma unroll
    for (int jj = 0; jj < 8; ++jj) {
      const int d = threadIdx.x + jj * kGenThreads;
      if (d >= p.dv) break;
      const TK* vcol = kv + (int64_t(c0) * p.H + h) * kw + p.nope + d;
      float acc = o[jj] * alpha;
      for (int kk = 0; kk < cnt; ++kk) acc += sp[kk] * to_f32(vcol[int64_t(kk) * p.H * kw]);
      o[jj] = acc;
    }
  }
  // Thread 0 alone reads and rewrites the row's lse.
  if (threadIdx.x == 0) {
    const float cur = (m + log2f(l)) * kLn2;
    const Merge w = merge_weights(p.accumulate, p.accumulate ? p.lse[item] : 0.f, cur, 1.f / l);
    smerge[0] = w.w_old;
    smerge[1] = w.w_cur;
    p.lse[item] = w.lse;
  }
  __syncthreads();
  const float w_old = smerge[0], w_cur = smerge[1];
#pragma unroll
  for (int jj = 0; jj < 8; ++jj) {
    const int d = threadIdx.x + jj * kGenThreads;
    if (d >= p.dv) break;
    float r = o[jj] * w_cur;
    if (w_old > 0.f) r += w_old * to_f32(out[d]);
    out[d] = from_f32<TO>(r);
  }
}

// ---- tensor-core kernel (DeepSeek-V3 dims) ----
constexpr int kRows = 128, kKeys = 64, kThreads = 256;
constexpr int kQBlk = kRows * 128;               // 16 KB: a [128 rows x 64 dims] column block
constexpr int kKBlk = kKeys * 128;               // 8 KB: a [64 keys x 64 dims] column block
constexpr int kQBytes = (kQk / 64) * kQBlk;      // 48 KB
constexpr int kKBytes = (kQk / 64) * kKBlk;      // 24 KB
constexpr int kVBytes = (kDv / 64) * kKBlk;      // 16 KB
constexpr int kStageBytes = kKBytes + kVBytes;   // 40 KB
constexpr int kMmaSmemBytes = kQBytes + 2 * kStageBytes;  // 128 KB
static_assert(kRows == 16 * (kThreads / 32), "one warp per 16 rows");
static_assert(kKeys == 64 && kQk == 192 && kDv == 128, "the loaders and fragments are wired to these dims");

// Byte offset of 16-byte chunk `chunk` of row `row` in a tile of column
// blocks of `blk` bytes (64 dims = 8 chunks per block row).
__device__ __forceinline__ uint32_t swz(int row, int chunk, int blk) {
  return uint32_t((chunk >> 3) * blk + row * 128 + (((chunk ^ row) & 7) << 4));
}

__global__ void __launch_bounds__(kThreads, 1) mla_expanded_mma_kernel(const ExpArgs p) {
  extern __shared__ __align__(128) uint8_t smem[];
  const uint32_t sQ = smem_u32(smem), sKV = sQ + kQBytes;  // stage s: K at sKV + s * kStageBytes, V after K
  const int h = blockIdx.y;
  const int row0 = (gridDim.x - 1 - blockIdx.x) * kRows;  // last row blocks (most keys) first
  const int rows = min(kRows, p.Tq - row0);
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int kend = min(p.n, row0 + rows + p.delta);  // keys visible to the CTA's last row: [0, kend)
  const int64_t ostride = int64_t(p.H) * kDv;
  __nv_bfloat16* out = static_cast<__nv_bfloat16*>(p.out) + (int64_t(row0) * p.H + h) * kDv;
  float* lse = p.lse + int64_t(row0) * p.H + h;

  if (kend <= 0) {  // no row of the block sees a key of this chunk
    if (!p.accumulate) {
      for (int c = tid; c < rows * (kDv / 8); c += kThreads)
        *reinterpret_cast<uint4*>(out + (c >> 4) * ostride + (c & 15) * 8) = make_uint4(0, 0, 0, 0);
      if (tid < rows) lse[int64_t(tid) * p.H] = -INFINITY;
    }
    return;
  }
  const int tiles = (kend + kKeys - 1) / kKeys;

  // Q: 128 rows x 24 chunks (rows past Tq zero-filled).
  {
    const __nv_bfloat16* qg = static_cast<const __nv_bfloat16*>(p.q) + (int64_t(row0) * p.H + h) * kQk;
#pragma unroll
    for (int it = 0; it < kRows * 24 / kThreads; ++it) {
      const int idx = tid + it * kThreads, r = idx / 24, c = idx % 24;
      const bool ok = r < rows;
      cp_async16(sQ + swz(r, c, kQBlk), ok ? qg + int64_t(r) * p.H * kQk + c * 8 : qg, ok ? 16 : 0);
    }
  }
  const __nv_bfloat16* kvg = static_cast<const __nv_bfloat16*>(p.kv);
  const __nv_bfloat16* peg = static_cast<const __nv_bfloat16*>(p.k_pe);
  // Keys past n are zero-filled: their p is 0, and 0 * garbage could be NaN.
  auto load_tile = [&](int tile, int stage) {
    const uint32_t sK = sKV + stage * kStageBytes, sV = sK + kKBytes;
    const int key0 = tile * kKeys;
    // kv rows: one warp per key row of 512 B (16 K_nope chunks, then 16 V chunks).
#pragma unroll
    for (int it = 0; it < kKeys * 32 / kThreads; ++it) {
      const int idx = tid + it * kThreads, kk = idx >> 5, c = idx & 31;
      const bool ok = key0 + kk < p.n;
      const __nv_bfloat16* src = ok ? kvg + (int64_t(key0 + kk) * p.H + h) * (kNope + kDv) + c * 8 : kvg;
      cp_async16(c < 16 ? sK + swz(kk, c, kKBlk) : sV + swz(kk, c - 16, kKBlk), src, ok ? 16 : 0);
    }
    // k_pe rows: 8 chunks each, K's third column block.
#pragma unroll
    for (int it = 0; it < kKeys * 8 / kThreads; ++it) {
      const int idx = tid + it * kThreads, kk = idx >> 3, c = idx & 7;
      const bool ok = key0 + kk < p.n;
      const __nv_bfloat16* src = ok ? peg + int64_t(key0 + kk) * kRope + c * 8 : peg;
      cp_async16(sK + swz(kk, 16 + c, kKBlk), src, ok ? 16 : 0);
    }
  };
  load_tile(0, 0);
  cp_async_commit();
  cp_async_wait_all();
  __syncthreads();

  // This warp's Q fragments: rows 16 warp.., 12 k-steps of 16 dims.
  uint32_t qf[kQk / 16][4];
  {
    const int arow = warp * 16 + (lane & 15), ac = lane >> 4;
#pragma unroll
    for (int ks = 0; ks < kQk / 16; ++ks) ldsm_x4(qf[ks], sQ + swz(arow, ks * 2 + ac, kQBlk));
  }
  // ldmatrix lane offsets inside a tile, per k-step parity u (the swizzle
  // depends on the chunk within the 64-dim block and on row % 8 = lane % 8).
  uint32_t k_off[4], v_off[4];
  {
    const int krow = (lane & 7) + ((lane >> 4) << 3), kc = (lane >> 3) & 1;
    const int vrow = (lane & 7) + (((lane >> 3) & 1) << 3), vc = lane >> 4;
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      k_off[u] = uint32_t(krow * 128 + ((((u * 2 + kc) ^ krow) & 7) << 4));
      v_off[u] = uint32_t(vrow * 128 + ((((u * 2 + vc) ^ vrow) & 7) << 4));
    }
  }

  float o[kDv / 8][4];
#pragma unroll
  for (int nt = 0; nt < kDv / 8; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[nt][e] = 0.f;
  float m_r[2] = {-INFINITY, -INFINITY}, l_r[2] = {0.f, 0.f};
  const int rg = row0 + warp * 16 + (lane >> 2);  // this thread's rows: rg, rg + 8
  const int lim0 = min(rg + p.delta, p.n - 1), lim1 = min(rg + 8 + p.delta, p.n - 1);  // last visible key
  const int warp_lim = row0 + warp * 16 + 15 + p.delta;  // last key any row of the warp sees

  for (int tile = 0; tile < tiles; ++tile) {
    const int st = tile & 1;
    if (tile > 0) {
      cp_async_wait_all();
      __syncthreads();  // tile landed for all; everyone is done with the other stage
    }
    if (tile + 1 < tiles) load_tile(tile + 1, st ^ 1);
    cp_async_commit();
    const int key0 = tile * kKeys;
    if (key0 > warp_lim) continue;  // no row of this warp sees a key of the tile
    const uint32_t sK = sKV + st * kStageBytes, sV = sK + kKBytes;

    // ---- S = Q K^T: [16 x 64] ----
    float s[kKeys / 8][4];
#pragma unroll
    for (int nt = 0; nt < kKeys / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[nt][e] = 0.f;
#pragma unroll
    for (int ks = 0; ks < kQk / 16; ++ks) {
#pragma unroll
      for (int np = 0; np < kKeys / 16; ++np) {
        uint32_t b[4];
        ldsm_x4(b, sK + (ks >> 2) * kKBlk + np * 16 * 128 + k_off[ks & 3]);
        mma_bf16(s[2 * np], qf[ks], b[0], b[1]);
        mma_bf16(s[2 * np + 1], qf[ks], b[2], b[3]);
      }
    }

    // ---- online softmax (log2 domain); masks only where the tile crosses a limit ----
    const bool masked = key0 + kKeys - 1 > min(row0 + p.delta, p.n - 1);
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < kKeys / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int j = key0 + nt * 8 + (lane & 3) * 2 + e;
        s[nt][e] = masked && j > lim0 ? -INFINITY : s[nt][e] * p.scale_log2;
        s[nt][2 + e] = masked && j > lim1 ? -INFINITY : s[nt][2 + e] * p.scale_log2;
        mx0 = fmaxf(mx0, s[nt][e]);
        mx1 = fmaxf(mx1, s[nt][2 + e]);
      }
    float al[2], ms[2];
    mla_exp::update_row_max(mx0, mx1, m_r, al, ms);
    const float al0 = al[0], al1 = al[1], ms0 = ms[0], ms1 = ms[1];
    uint32_t pa[kKeys / 16][4];  // P as the A fragments of P V, one per 16-key step
    float ps0 = 0.f, ps1 = 0.f;
#pragma unroll
    for (int nt = 0; nt < kKeys / 8; ++nt) {
      const __nv_bfloat162 v01 = __floats2bfloat162_rn(exp2f(s[nt][0] - ms0), exp2f(s[nt][1] - ms0));
      const __nv_bfloat162 v23 = __floats2bfloat162_rn(exp2f(s[nt][2] - ms1), exp2f(s[nt][3] - ms1));
      // The normalizer sums the rounded weights that P V multiplies.
      ps0 += __low2float(v01) + __high2float(v01);
      ps1 += __low2float(v23) + __high2float(v23);
      // m16n8k16 A: a0 (row g, keys 0-7 of the step), a1 (row g+8, 0-7),
      // a2 (row g, 8-15), a3 (row g+8, 8-15); n-tile nt holds keys 8 nt..
      pa[nt >> 1][(nt & 1) * 2] = *reinterpret_cast<const uint32_t*>(&v01);
      pa[nt >> 1][(nt & 1) * 2 + 1] = *reinterpret_cast<const uint32_t*>(&v23);
    }
    l_r[0] = l_r[0] * al0 + ps0;
    l_r[1] = l_r[1] * al1 + ps1;

    // ---- O = O * alpha + P V: [16 x 128] ----
    scale_rows(o, al0, al1);
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < kDv / 16; ++np) {
        uint32_t b[4];
        ldsm_x4_t(b, sV + (np >> 2) * kKBlk + kk * 16 * 128 + v_off[np & 3]);
        mma_bf16(o[2 * np], pa[kk], b[0], b[1]);
        mma_bf16(o[2 * np + 1], pa[kk], b[2], b[3]);
      }
    }
  }
  cp_async_wait_all();  // nothing is in flight at exit (the last commit is empty)

  // ---- epilogue: normalize, merge with the stored chunk, write ----
  mla_exp::store_rows(p, h, rg, m_r, l_r, [&](int nt, int e) { return o[nt][e]; });
}

bool aligned16(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data()) % 16 == 0; }

bool mma_supported(const Tensor& q, const Tensor& kv, const Tensor& k_pe, const Tensor& out, int nope, int rope,
                   int dv) {
  return nope == kNope && rope == kRope && dv == kDv && q.dtype() == DType::BF16 && kv.dtype() == DType::BF16 &&
         k_pe.dtype() == DType::BF16 && out.dtype() == DType::BF16 && aligned16(q) && aligned16(kv) &&
         aligned16(k_pe) && aligned16(out);
}

void launch_mma(const ExpArgs& a, cudaStream_t stream) {
  allow_dynamic_smem(mla_expanded_mma_kernel, kMmaSmemBytes);
  const dim3 grid(ceil_div(a.Tq, kRows), unsigned(a.H));
  mla_expanded_mma_kernel<<<grid, kThreads, kMmaSmemBytes, stream>>>(a);
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace

void mla_read_kv(const Tensor& cache, const Tensor& slots, Tensor& c_kv, Tensor& k_pe, cudaStream_t stream) {
  const int64_t n = slots.numel(), L = cache.dim(2), kv_lora = c_kv.dim(1), rope = k_pe.dim(1);
  if (kv_lora + rope != L || c_kv.dim(0) != n || k_pe.dim(0) != n || slots.dtype() != DType::I32)
    throw std::runtime_error("CUDA mla_read_kv: shapes do not match");
  if (c_kv.dtype() != k_pe.dtype()) throw std::runtime_error("CUDA mla_read_kv: c_kv and k_pe dtypes differ");
  if (n == 0) return;
  const int64_t num_slots = cache.dim(0) * cache.dim(1);
  const bool vec = kv_lora % 8 == 0 && rope % 8 == 0 && aligned8(cache.data(), dtype_size(cache.dtype())) &&
                   aligned8(c_kv.data(), dtype_size(c_kv.dtype())) && aligned8(k_pe.data(), dtype_size(k_pe.dtype()));
  SABLE_DISPATCH_FLOAT("mla_read_kv", cache.dtype(), TC, {
    SABLE_DISPATCH_ACT("mla_read_kv", c_kv.dtype(), TO, {
      const TC* src = static_cast<const TC*>(cache.data());
      if (vec)
        read_kv_vec_kernel<TC, TO><<<ceil_div(n * (L / 8), 256), 256, 0, stream>>>(
            src, slots.ptr<int32_t>(), c_kv.ptr<TO>(), k_pe.ptr<TO>(), n, int(L), int(kv_lora), num_slots);
      else
        read_kv_scalar_kernel<TC, TO><<<ceil_div(n * L, 256), 256, 0, stream>>>(
            src, slots.ptr<int32_t>(), c_kv.ptr<TO>(), k_pe.ptr<TO>(), n, int(L), int(kv_lora), num_slots);
      SABLE_CUDA_LAUNCH_CHECK();
    });
  });
}

void mla_attention_expanded_with(MlaExpandedKernel kernel, const Tensor& q, const Tensor& kv, const Tensor& k_pe,
                                 int q_pos0, int k_pos0, float softmax_scale, bool accumulate, Tensor& out,
                                 Tensor& lse, cudaStream_t stream) {
  const int64_t Tq = q.dim(0), H = q.dim(1), n = kv.dim(0), rope = k_pe.dim(1), nope = q.dim(2) - rope,
                dv = out.dim(2);
  if (nope < 0 || kv.dim(1) != H || kv.dim(2) != nope + dv || k_pe.dim(0) != n || out.dim(0) != Tq ||
      out.dim(1) != H || lse.dtype() != DType::F32 || lse.numel() != Tq * H)
    throw std::runtime_error("CUDA mla_attention_expanded: shapes do not match");
  if (kv.dtype() != k_pe.dtype()) throw std::runtime_error("CUDA mla_attention_expanded: kv and k_pe dtypes differ");
  if (Tq == 0 || H == 0) return;
  const bool mma_ok = mma_supported(q, kv, k_pe, out, int(nope), int(rope), int(dv));
  if (kernel == MlaExpandedKernel::kAuto) kernel = mma_ok ? MlaExpandedKernel::kWgmma : MlaExpandedKernel::kGeneric;
  if ((kernel == MlaExpandedKernel::kMma || kernel == MlaExpandedKernel::kWgmma) && !mma_ok)
    throw std::runtime_error(
        "CUDA mla_attention_expanded: the tensor-core kernels need nope 128, rope 64, v 128, BF16");

  ExpArgs a{};
  a.q = q.data();
  a.kv = kv.data();
  a.k_pe = k_pe.data();
  a.out = out.data();
  a.lse = lse.ptr<float>();
  a.Tq = int(Tq);
  a.H = int(H);
  a.n = int(n);
  a.nope = int(nope);
  a.rope = int(rope);
  a.dv = int(dv);
  // Clamped so that i + delta cannot overflow; any |delta| >= 2^30 means
  // "every key" or "no key" for chunks far shorter than that.
  a.delta = int(std::clamp<int64_t>(int64_t(q_pos0) - k_pos0, -(int64_t(1) << 30), int64_t(1) << 30));
  a.scale_log2 = softmax_scale * 1.4426950408889634f;
  a.accumulate = accumulate;

  if (kernel == MlaExpandedKernel::kMma) {
    launch_mma(a, stream);
    return;
  }
  if (kernel == MlaExpandedKernel::kWgmma) {
    mla_exp::launch_ws(a, stream);
    return;
  }
  if (dv > kGenMaxDv) throw std::runtime_error("CUDA mla_attention_expanded: v too wide for the generic kernel");
  const size_t smem = size_t(kGenThreads + 33 + 3 + nope + rope) * sizeof(float);
  if (smem > 48 * 1024) throw std::runtime_error("CUDA mla_attention_expanded: heads too wide for the generic kernel");
  const unsigned blocks = unsigned(Tq * H);
  SABLE_DISPATCH_ACT("mla_attention_expanded", q.dtype(), TQ, {
    SABLE_DISPATCH_ACT("mla_attention_expanded", kv.dtype(), TK, {
      SABLE_DISPATCH_ACT("mla_attention_expanded", out.dtype(), TO, {
        mla_expanded_generic_kernel<TQ, TK, TO><<<blocks, kGenThreads, smem, stream>>>(a);
        SABLE_CUDA_LAUNCH_CHECK();
      });
    });
  });
}

void mla_attention_expanded(const Tensor& q, const Tensor& kv, const Tensor& k_pe, int q_pos0, int k_pos0,
                            float softmax_scale, bool accumulate, Tensor& out, Tensor& lse, cudaStream_t stream) {
  mla_attention_expanded_with(MlaExpandedKernel::kAuto, q, kv, k_pe, q_pos0, k_pos0, softmax_scale, accumulate, out,
                              lse, stream);
}

}  // namespace sable::cuda
