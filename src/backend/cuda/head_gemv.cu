// Streaming per-head matmuls for few tokens (see head_gemv.h): each weight
// element is read once, by one thread, with a 16-byte load; x lives in shared
// memory as float; sums are fp32, in a fixed order.
//
// Two kernels, one per weight layout:
//
// rows (w[h] is [K, N], N contiguous: mla_absorb_q's W_UK, head_matmul not
// transposed). A CTA takes head h and cg*8 columns; thread (c, s) owns the 8
// columns c*8.. and the 8 rows s*8.. (S = K/8 row slices), i.e. an 8 x 8
// block of W_h read as 8 independent 16-byte loads issued at once. Each row
// of a warp's loads is cg*16 contiguous bytes. The slices' partial sums meet
// in shared memory and are added in slice order 0..S-1. The CTA also writes
// its share of the q_rope copy while its loads are in flight, so
// mla_absorb_q is one launch. DeepSeek-V3 (K 128, N 512): S 16, cg 16, 256
// threads, 4 CTAs per head, 512 CTAs (at T <= 2, 4 fit per SM: one wave on
// 132 SMs, 16.8 MB requested at once).
//
// cols (w[h] is [N, K], K contiguous: W_UV, head_matmul transposed). Eight
// lanes share an output row, each reading 16-byte vectors kl, kl+8, ... of
// it (8 lanes x 16 B = one 128-byte line per row per load); a warp takes 4
// rows, a CTA 32; each lane has up to 8 loads in flight. The 8 lanes' sums
// meet by xor shuffles (4, 2, 1). DeepSeek-V3 (N 128, K 512): 8 loads per
// lane, 4 CTAs per head, 512 CTAs (one wave at T <= 2, as for rows).
//
// Both: a token's arithmetic is the same whatever T is (tokens only pad the
// register tiles), and no atomics, so results are deterministic.
#include <algorithm>
#include <type_traits>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/head_gemv.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/rope_common.cuh"
#include "backend/cuda/stream_load.cuh"

namespace sable::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kSlice = 8;          // rows: rows per thread (= 16-byte loads in flight)
constexpr int kRedTokens = 4;      // rows: tokens per shared-memory reduction pass
constexpr int kRowsMaxCg = 16;     // rows: column groups per CTA (4 CTAs per head at N 512)
constexpr int kRowsMaxK = 1024;    // rows: S = K/8 <= 128 slices, so cg >= 2 (32-byte rows)
constexpr int kColsRowsPerCta = 32;  // cols: 8 warps x 4 rows
constexpr int kColsVecs = 8;       // cols: 16-byte vectors per lane per pass (loads in flight)
constexpr int kColsKBlock = 64;    // cols: elements of K that the 8 lanes of a row cover per vector index
constexpr size_t kMaxSmem = 48 * 1024;  // the default dynamic limit: no cudaFuncSetAttribute

struct GemvArgs {
  const bf16* x;  // [T, heads, Xs]
  const bf16* w;  // rows: [heads, K, N]; cols: [heads, N, K]
  void* out;      // [T, heads, Os]
  int T, heads, K, N;
  int Xs, Os;  // row lengths of x and out: K + tail, N + tail
  int tail;    // x[t, h, K:] copied to out[t, h, N:] (rows only)
  const int32_t* rope_pos;  // rows: the tail rotated at rope_pos[t] on the way (null: copied)
  RopeArgs rope;
  int cg;      // rows: column groups of 8 per CTA (a power of two)
  int kp;      // cols: K rounded up to kColsKBlock (a token's row of x in shared memory)
};

// x[t, h, 8v .. 8v + 7] as floats; zeros for a padding token (t >= T).
__device__ __forceinline__ void load_x8(const GemvArgs& a, int t, int h, int v, float (&f)[8]) {
  if (t < a.T) {
    load8(a.x + (int64_t(t) * a.heads + h) * a.Xs + v * 8, f);
  } else {
#pragma unroll
    for (int j = 0; j < 8; ++j) f[j] = 0.f;
  }
}

// Eight bf16 (little-endian pairs) to float: exact.
__device__ __forceinline__ void unpack_bf16x8(const uint4& u, float (&f)[8]) {
  const uint32_t p[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = __uint_as_float(p[i] << 16);
    f[2 * i + 1] = __uint_as_float(p[i] & 0xffff0000u);
  }
}

template <typename OutT> __device__ __forceinline__ OutT copy_bf16(bf16 v) {
  if constexpr (std::is_same_v<OutT, bf16>) return v;
  else return __bfloat162float(v);
}

// TC consecutive floats of shared memory (16-byte aligned for TC >= 4).
template <int TC> __device__ __forceinline__ void load_tokens(const float* p, float (&v)[TC]) {
  if constexpr (TC % 4 == 0) {
#pragma unroll
    for (int i = 0; i < TC; i += 4) {
      const float4 q = *reinterpret_cast<const float4*>(p + i);
      v[i] = q.x, v[i + 1] = q.y, v[i + 2] = q.z, v[i + 3] = q.w;
    }
  } else if constexpr (TC == 2) {
    const float2 q = *reinterpret_cast<const float2*>(p);
    v[0] = q.x, v[1] = q.y;
  } else {
    static_assert(TC == 1);
    v[0] = *p;
  }
}

// ---- rows: w[h] [K, N] ----
//
// TC tokens per register tile (1, 2, 4, 8); T > TC loops over chunks of TC,
// keeping the weights in registers. Shared memory holds either the chunk's x,
// xs[slice s][row r][token i] at s*(8*TC+4) + r*TC + i (4 floats of padding
// per slice, so that the 2 slices a warp reads at cg 16 fall on different
// banks), or the partial sums red[slice][token][column]: never both at once.
//
// CTAs per SM that the register budget must allow (ptxas for sm_90a, no
// spills: 64 registers at TC <= 2, 80 at 4, 128 at 8). 4 at T <= 2 puts
// DeepSeek-V3's 512 CTAs (<= 528 = 4 x 132) in one wave, every load issued
// at once; at more tokens the FMAs take longer than the loads anyway.
template <int TC>
constexpr int rows_min_blocks() {
  return TC <= 2 ? 4 : TC == 4 ? 3 : 2;
}

template <int TC, typename OutT>
__global__ void __launch_bounds__(kThreads, rows_min_blocks<TC>()) head_gemv_rows_kernel(const GemvArgs a) {
  constexpr int P = TC < kRedTokens ? TC : kRedTokens;  // tokens per reduction pass
  constexpr int kSliceStride = kSlice * TC + 4;
  extern __shared__ __align__(16) float smem[];
  const int h = blockIdx.y, tid = threadIdx.x, nt = blockDim.x;  // nt = cg * S
  const int S = a.K / kSlice, cw = a.cg * 8;
  const int c = tid % a.cg, s = tid / a.cg;
  const int n0 = blockIdx.x * cw + c * 8;
  const bool active = n0 < a.N;
  OutT* out = static_cast<OutT*>(a.out);

  // This thread's 8 x 8 block of W_h: 8 independent 16-byte loads. Threads
  // past N read column 0 (in bounds, unused) rather than branch around.
  uint4 wr[kSlice];
  {
    const bf16* wp = a.w + (int64_t(h) * a.K + s * kSlice) * a.N + (active ? n0 : 0);
#pragma unroll
    for (int r = 0; r < kSlice; ++r) wr[r] = ld_stream(wp + int64_t(r) * a.N);
  }
  // Weights are no kernel's output: they are in flight before the wait for
  // the previous kernel (programmatic dependent launch, pdl.cuh).
  pdl_begin();

  // The tail copy (q_rope), spread over the head's CTAs, while the loads fly;
  // rotated on the way when asked (rope_rotate: the bits of rope.cu's).
  // Loops that run beside live weight registers stay rolled (no spills).
  if (a.rope_pos) {
    const int half = a.tail / 2;
#pragma unroll 1
    for (int e = blockIdx.x * nt + tid; e < a.T * half; e += gridDim.x * nt) {
      const int t = e / half, i = e - t * half;
      const int64_t row = int64_t(t) * a.heads + h;
      int ia, ib;
      rope_pair(i, a.tail, a.rope.interleaved, ia, ib);
      float x0 = to_f32(a.x[row * a.Xs + a.K + ia]), x1 = to_f32(a.x[row * a.Xs + a.K + ib]);
      rope_rotate(x0, x1, a.rope_pos[t], i, a.rope);
      // As rope.cu: rounded to bf16 (the activations' dtype) first.
      out[row * a.Os + a.N + ia] = copy_bf16<OutT>(__float2bfloat16_rn(x0));
      out[row * a.Os + a.N + ib] = copy_bf16<OutT>(__float2bfloat16_rn(x1));
    }
  } else {
#pragma unroll 1
    for (int e = blockIdx.x * nt + tid; e < a.T * a.tail; e += gridDim.x * nt) {
      const int t = e / a.tail, i = e - t * a.tail;
      const int64_t row = int64_t(t) * a.heads + h;
      out[row * a.Os + a.N + i] = copy_bf16<OutT>(a.x[row * a.Xs + a.K + i]);
    }
  }

  float* xs = smem;
  float* red = smem;
  const int kv = a.K / 8;  // 8-element vectors of x per token = S
  // Below 8 tokens the host picks TC >= T: one chunk, known at compile time
  // (a loop would let the compiler hoist the weights' conversion out of it,
  // 64 live floats, and spill).
  const int t_end = TC == 8 ? a.T : 1;
  for (int t0 = 0; t0 < t_end; t0 += TC) {
    if (t0 > 0) __syncthreads();  // the previous chunk's reduction has read `red`
    // x[t0 : t0 + TC, h, :K] as float, zeros past T. Vector v is slice v.
#pragma unroll 1
    for (int e = tid; e < TC * kv; e += nt) {
      const int i = e / kv, v = e - i * kv;
      float f[8];
      load_x8(a, t0 + i, h, v, f);
      float* dst = xs + v * kSliceStride + i;
#pragma unroll
      for (int j = 0; j < 8; ++j) dst[j * TC] = f[j];
    }
    __syncthreads();

    // acc[i][j] = sum over r = 0..7 of x[t0+i, s*8+r] * W[s*8+r, n0+j], in r order.
    float acc[TC][8];
#pragma unroll
    for (int i = 0; i < TC; ++i)
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[i][j] = 0.f;
    if (active) {
      const float* xr = xs + s * kSliceStride;
#pragma unroll
      for (int r = 0; r < kSlice; ++r) {
        float wv[8], xv[TC];
        unpack_bf16x8(wr[r], wv);
        load_tokens<TC>(xr + r * TC, xv);
#pragma unroll
        for (int i = 0; i < TC; ++i)
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(xv[i], wv[j], acc[i][j]);
      }
    }

    // Sum the S slices, P tokens at a time: red[s][i][cc], cc < cw.
#pragma unroll
    for (int p = 0; p < TC; p += P) {
      if (t0 + p >= a.T) break;  // uniform over the CTA
      __syncthreads();           // xs, or the previous pass's red, fully read
      float* dst = red + s * P * cw + c * 8;
#pragma unroll
      for (int i = 0; i < P; ++i) {
        reinterpret_cast<float4*>(dst + i * cw)[0] =
            make_float4(acc[p + i][0], acc[p + i][1], acc[p + i][2], acc[p + i][3]);
        reinterpret_cast<float4*>(dst + i * cw)[1] =
            make_float4(acc[p + i][4], acc[p + i][5], acc[p + i][6], acc[p + i][7]);
      }
      __syncthreads();
      for (int o = tid; o < P * cw; o += nt) {
        const int i = o / cw, cc = o - i * cw, t = t0 + p + i, n = blockIdx.x * cw + cc;
        if (t >= a.T || n >= a.N) continue;
        const float* src = red + i * cw + cc;
        float sum = src[0];
        for (int s2 = 1; s2 < S; ++s2) sum += src[s2 * P * cw];
        out[(int64_t(t) * a.heads + h) * a.Os + n] = from_f32<OutT>(sum);
      }
    }
  }
}

// ---- cols: w[h] [N, K] ----
//
// TT tokens (1, 2, 4, 8, 16) in registers at once: one fp32 sum per token
// per lane. x in shared memory as float, [TT][kp], permuted within each
// 64-element block so that the 8 lanes of a row (reading elements kl*8..+8)
// hit 8 different bank quads: element kb*64 + kl*8 + half*4 + e sits at
// kb*64 + half*32 + kl*4 + e. The 4 rows of a warp read the same x
// (broadcast), so each 16-byte shared load is one wavefront.
//
// CTAs per SM, as for rows (registers: 60 at TT 1, 64 at 2, 80 at 4, 118 at
// 8, 128 at 16, no spills).
template <int TT>
constexpr int cols_min_blocks() {
  return TT <= 2 ? 4 : TT == 4 ? 3 : 2;
}

template <int TT, typename OutT>
__global__ void __launch_bounds__(kThreads, cols_min_blocks<TT>()) head_gemv_cols_kernel(const GemvArgs a) {
  extern __shared__ __align__(16) float smem[];
  const int h = blockIdx.y, tid = threadIdx.x, kl = tid & 7;
  const int n = blockIdx.x * kColsRowsPerCta + (tid >> 3);  // warp*4 + lane/8
  const bool row_ok = n < a.N;
  const int kv = a.K / 8;
  // Rows past N read row 0 (in bounds) and are not stored.
  const bf16* wrow = a.w + (int64_t(h) * a.N + (row_ok ? n : 0)) * a.K;

  // Vectors vb + kl + 8j of the row; those past K read vector 0 (unused).
  uint4 wr[kColsVecs];
  auto load_pass = [&](int vb) {
#pragma unroll
    for (int j = 0; j < kColsVecs; ++j) {
      const int v = vb + kl + 8 * j;
      wr[j] = ld_stream(wrow + (v < kv ? v : 0) * 8);
    }
  };
  load_pass(0);
  pdl_begin();  // the weights first, as in the rows kernel

  float* xs = smem;
#pragma unroll 1
  for (int e = tid; e < TT * kv; e += kThreads) {
    const int t = e / kv, v = e - t * kv;
    float f[8];
    load_x8(a, t, h, v, f);
    float* dst = xs + t * a.kp + (v >> 3) * kColsKBlock + (v & 7) * 4;
    reinterpret_cast<float4*>(dst)[0] = make_float4(f[0], f[1], f[2], f[3]);
    reinterpret_cast<float4*>(dst + 32)[0] = make_float4(f[4], f[5], f[6], f[7]);
  }
  __syncthreads();

  // acc[t] = this lane's share of row n . x[t], over its vectors in order.
  float acc[TT];
#pragma unroll
  for (int t = 0; t < TT; ++t) acc[t] = 0.f;
  for (int vb = 0; vb < kv; vb += 8 * kColsVecs) {
    if (vb > 0) load_pass(vb);
#pragma unroll
    for (int j = 0; j < kColsVecs; ++j) {
      const int v = vb + kl + 8 * j;
      if (v >= kv) break;  // v grows with j
      float wv[8];
      unpack_bf16x8(wr[j], wv);
      const float* xp = xs + (v >> 3) * kColsKBlock + kl * 4;
#pragma unroll
      for (int t = 0; t < TT; ++t) {
        const float4 lo = *reinterpret_cast<const float4*>(xp + t * a.kp);
        const float4 hi = *reinterpret_cast<const float4*>(xp + t * a.kp + 32);
        float sum = acc[t];
        sum = fmaf(lo.x, wv[0], sum);
        sum = fmaf(lo.y, wv[1], sum);
        sum = fmaf(lo.z, wv[2], sum);
        sum = fmaf(lo.w, wv[3], sum);
        sum = fmaf(hi.x, wv[4], sum);
        sum = fmaf(hi.y, wv[5], sum);
        sum = fmaf(hi.z, wv[6], sum);
        sum = fmaf(hi.w, wv[7], sum);
        acc[t] = sum;
      }
    }
  }
  // The row's 8 lanes: every lane ends with the same bits (a + b == b + a).
#pragma unroll
  for (int t = 0; t < TT; ++t)
#pragma unroll
    for (int o = 4; o > 0; o >>= 1) acc[t] += __shfl_xor_sync(0xffffffffu, acc[t], o);
  if (row_ok) {
    OutT* out = static_cast<OutT*>(a.out);
#pragma unroll
    for (int t = 0; t < TT; ++t)
      if (t < a.T && (t & 7) == kl) out[(int64_t(t) * a.heads + h) * a.Os + n] = from_f32<OutT>(acc[t]);
  }
}

// ---- launch ----

int pow2_at_least(int64_t v) {
  int p = 1;
  while (p < v) p *= 2;
  return p;
}

template <typename OutT>
void launch_rows(const GemvArgs& a, cudaStream_t stream) {
  const int S = a.K / kSlice, threads = a.cg * S;
  const int tc = a.T == 1 ? 1 : a.T == 2 ? 2 : a.T <= 4 ? 4 : 8;
  const int p = std::min(tc, kRedTokens);
  const size_t smem = size_t(std::max(S * (kSlice * tc + 4), threads * 8 * p)) * sizeof(float);
  const dim3 grid(ceil_div(a.N / 8, a.cg), unsigned(a.heads));
  switch (tc) {
    case 1: launch_pdl(head_gemv_rows_kernel<1, OutT>, grid, threads, smem, stream, a); break;
    case 2: launch_pdl(head_gemv_rows_kernel<2, OutT>, grid, threads, smem, stream, a); break;
    case 4: launch_pdl(head_gemv_rows_kernel<4, OutT>, grid, threads, smem, stream, a); break;
    default: launch_pdl(head_gemv_rows_kernel<8, OutT>, grid, threads, smem, stream, a); break;
  }
  SABLE_CUDA_LAUNCH_CHECK();
}

template <typename OutT>
void launch_cols(const GemvArgs& a, int tt, size_t smem, cudaStream_t stream) {
  const dim3 grid(ceil_div(a.N, kColsRowsPerCta), unsigned(a.heads));
  switch (tt) {
    case 1: launch_pdl(head_gemv_cols_kernel<1, OutT>, grid, kThreads, smem, stream, a); break;
    case 2: launch_pdl(head_gemv_cols_kernel<2, OutT>, grid, kThreads, smem, stream, a); break;
    case 4: launch_pdl(head_gemv_cols_kernel<4, OutT>, grid, kThreads, smem, stream, a); break;
    case 8: launch_pdl(head_gemv_cols_kernel<8, OutT>, grid, kThreads, smem, stream, a); break;
    default: launch_pdl(head_gemv_cols_kernel<16, OutT>, grid, kThreads, smem, stream, a); break;
  }
  SABLE_CUDA_LAUNCH_CHECK();
}

}  // namespace

namespace {
int64_t g_auto_max_tokens = 1;
}  // namespace

int64_t head_gemv_auto_max_tokens() { return g_auto_max_tokens; }
void set_head_gemv_auto_max_tokens(int64_t t) { g_auto_max_tokens = t; }

bool head_gemv(const Tensor& x, const Tensor& w, bool transposed, Tensor& out, cudaStream_t stream,
               const int32_t* rope_positions, const RopeArgs* rope) {
  static_assert(kHeadGemvMaxT <= 16, "cols kernel tiles at most 16 tokens");
  if (x.ndim() != 3 || w.ndim() != 3 || out.ndim() != 3) return false;
  if (x.dtype() != DType::BF16 || w.dtype() != DType::BF16) return false;
  if (out.dtype() != DType::BF16 && out.dtype() != DType::F32) return false;
  const int64_t T = x.dim(0), heads = x.dim(1), Xs = x.dim(2), Os = out.dim(2);
  const int64_t K = w.dim(transposed ? 2 : 1), N = w.dim(transposed ? 1 : 2), tail = Xs - K;
  if (T < 1 || T > kHeadGemvMaxT || w.dim(0) != heads || out.dim(0) != T || out.dim(1) != heads) return false;
  if (tail < 0 || Os - N != tail || (transposed && tail != 0)) return false;
  if (rope_positions && (transposed || tail % 2)) return false;
  if (K < 8 || N < 8 || K % 8 || N % 8 || Xs % 8) return false;
  if (heads > 65535 || std::max({K, N, Xs, Os}) > (int64_t(1) << 30)) return false;  // grid.y; int indices
  if (!aligned8(x.data(), 2) || !aligned8(w.data(), 2)) return false;

  GemvArgs a{};
  a.x = x.ptr<bf16>();
  a.w = w.ptr<bf16>();
  a.out = out.data();
  a.T = int(T), a.heads = int(heads), a.K = int(K), a.N = int(N);
  a.Xs = int(Xs), a.Os = int(Os), a.tail = int(tail);
  if (rope_positions) {
    a.rope_pos = rope_positions;
    a.rope = *rope;
  }
  const bool f32 = out.dtype() == DType::F32;
  if (transposed) {
    const int tt = pow2_at_least(T);
    a.kp = int((K + kColsKBlock - 1) / kColsKBlock * kColsKBlock);
    const size_t smem = size_t(tt) * size_t(a.kp) * sizeof(float);
    if (smem > kMaxSmem) return false;
    f32 ? launch_cols<float>(a, tt, smem, stream) : launch_cols<bf16>(a, tt, smem, stream);
  } else {
    if (K > kRowsMaxK) return false;
    // Widest rows (cg column groups) up to kRowsMaxCg, within 256 threads.
    const int S = int(K) / kSlice;
    a.cg = std::min(pow2_at_least(N / 8), kRowsMaxCg);
    while (a.cg * S > kThreads) a.cg /= 2;
    f32 ? launch_rows<float>(a, stream) : launch_rows<bf16>(a, stream);
  }
  return true;
}

}  // namespace sable::cuda
