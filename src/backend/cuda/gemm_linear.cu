// linear(): out = x W^T on the device, choosing between the weight-streaming
// kernel (few tokens: memory-bound, the weight read once) and cuBLASLt (many
// tokens: compute-bound).
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdlib>

#include "backend/cuda/batch_invariant.h"
#include "backend/cuda/device_info.h"
#include "backend/cuda/gemm_common.cuh"
#include "backend/cuda/gemm_stream.cuh"
#include "backend/cuda/tuning_value.h"

namespace sable::cuda {

bool stream_env_override();

namespace {

int64_t env_int(const char* name, int64_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : dflt;
}

const PreparedLinear& prepared_of(const LinearWeight& w) {
  SABLE_GEMM_REQUIRE(w.prepared != nullptr, "linear weight not prepared (call prepare_linear)");
  return *static_cast<const PreparedLinear*>(w.prepared.get());
}

int pick_bn(int64_t tokens_per_tile, bool fp8) {
  if (tokens_per_tile <= 8) return 8;
  if (tokens_per_tile <= 16) return 16;
  if (tokens_per_tile <= 32 || fp8) return 32;
  return 64;
}

// Cross-CTA split of K for a dense decode GEMM with few rows of tokens: the
// split count s that minimizes waves per unit of work, ceil(ctas * s /
// slots) / s, with two CTAs per multiprocessor as slots, at least two
// 128-blocks per K-warp (4 per CTA), at most 16 and at most 8 waves of CTAs
// (which bounds the float partials, see reserve_gemm_workspace); only when
// the unsplit grid is under two waves. Ties within 3% go to fewer splits.
// The rule it replaces (enough splits for two CTAs per SM, none past that)
// left 18432-row weights at 288 CTAs for 264 slots, 1.09 waves of work in
// two waves' time (FP8 at M=1: ~55% of bandwidth, H200).
// When the unsplit grid fits in one wave, one wave it stays: s = slots /
// ctas (capped as above). Every CTA pays a pipeline ramp and drain, so more
// waves of shorter CTAs lose even when they fill the slots better: FP8 at
// M=1 (H200, splits swept, record 2026-12-01-a42f6dd-splits-sweep.md)
// 7168x18432 41.1 us at s=2 against 42.8 at the waves rule's 7 (40.8 at
// s=1), 7168x16384 37.4 against 39.3; 2048x7168 and 576x7168 keep 7.
int pick_splits(int64_t N, int64_t T, int bn, int64_t K, int64_t cta_rows = 64) {
  // Tuning knob: SABLE_STREAM_GEMM_SPLITS=s forces s (at most one 128-block per CTA K-warp).
  static const int64_t forced = env_int("SABLE_STREAM_GEMM_SPLITS", 0);
  if (forced > 0) return int(std::min<int64_t>(forced, std::max<int64_t>(1, ceil_div(K, 128) / 4)));
  const int64_t ctas = ceil_div(N, cta_rows) * ceil_div(T, bn);
  const int64_t slots = 2 * int64_t(sm_count());
  int64_t max_s = ceil_div(K, 128) / 8;
  if (max_s > 16) max_s = 16;
  if (ctas >= 2 * slots) return 1;
  if (ctas <= slots) return int(std::max<int64_t>(1, std::min<int64_t>(max_s, slots / ctas)));
  int best = 1;
  double best_cost = double(ceil_div(ctas, slots));
  for (int64_t s = 2; s <= max_s && ctas * s <= 8 * slots; ++s) {
    const double cost = double(ceil_div(ctas * s, slots)) / double(s);
    if (cost < best_cost * 0.97) {
      best = int(s);
      best_cost = cost;
    }
  }
  return best;
}

bool g_read_tiles = true;
// set_dense_kwarps or SABLE_DENSE_KWARPS: 2 or 4 forced, 0 the rule.
TuningValue g_dense_kwarps{"SABLE_DENSE_KWARPS", 0, [](int v) { return v == 0 || v == 2 || v == 4; }};

// K-warps of a dense FP8 GEMM through the tiled copy (StreamGemmArgs::kwarps):
// 2 (128-row CTAs) when 64-row CTAs would not fit one wave unsplit, 4
// otherwise. From the weight's shape alone, so that batch-invariant mode
// keeps one K partition per weight. H200 at M = 1 (record
// 2026-12-01-9018c17-dense-kwarps-ab.md), 4 vs 2 K-warps: 24576x1536 14.7 vs
// 13.2 us, 18432x7168 38.0 vs 36.6 (the rule's two); 7168-row weights equal
// (33.8 / 33.9, 37.5 / 37.0), the small ones worse with 2 (576x7168 6.0 vs
// 7.0, 2112x7168 8.9 vs 9.1; at 4 and 8 tokens 1-2 us worse).
// SABLE_DENSE_KWARPS=2|4 forces one (tuning knob, read once).
int dense_kwarps(int64_t N) {
  if (const int forced = g_dense_kwarps.get()) return forced;
  return ceil_div(N, 64) > 2 * int64_t(sm_count()) ? 2 : 4;
}

size_t align256(size_t v) { return (v + 255) & ~size_t(255); }

struct LinearScratch {
  size_t xq = 0, xs = 0, partial = 0, outbuf = 0, total = 0;
};

LinearScratch linear_scratch(int64_t T, int64_t K, int64_t N, bool fp8, int splits, bool pad_out,
                             size_t out_esz) {
  LinearScratch s;
  const int64_t T4 = scale_ld(T);
  size_t off = 0;
  if (fp8) {
    s.xq = off; off += align256(size_t(T4 * K));
    s.xs = off; off += align256(size_t(ceil_div(K, 128) * T4) * 4);
  }
  if (splits > 1) { s.partial = off; off += align256(size_t(splits) * T * N * 4); }
  if (pad_out) { s.outbuf = off; off += align256(size_t(T4 * N) * out_esz); }
  s.total = off;
  return s;
}

void run_stream(GemmWorkspace* ws, const PreparedLinear& P, const void* x, int64_t ldx,
                const float* xs, int64_t xs_sk, int64_t xs_st, int64_t T, void* out,
                bool out_f32, float* partial, int splits, int bn, int kwarps = 4) {
  StreamGemmArgs a;
  a.fp8 = P.fp8;
  a.bn = bn;
  a.N = P.out;
  a.K = P.in;
  // The tiled copy when there is one (FP8): the same values, read faster.
  const bool tiled = P.tiled && g_read_tiles;
  a.w = tiled ? P.tiled : P.weight;
  a.w_kt = tiled ? P.tiled_kt : 0;
  a.kwarps = tiled ? kwarps : 4;
  a.ws = P.scale;
  a.ws_ld = P.kb_ld;
  a.x = x;
  a.ldx = ldx;
  a.xs = xs;
  a.xs_sk = xs_sk;
  a.xs_st = xs_st;
  a.T = T;
  a.out = out;
  a.ldo = P.out;
  a.out_f32 = out_f32;
  a.splits = splits;
  a.partial = partial;
  a.grid_tiles = int(ceil_div(T, bn));
  launch_stream_gemm(a, ws->stream);
}

}  // namespace

void set_stream_tiles_read(bool on) { g_read_tiles = on; }
bool set_dense_kwarps(int kw) { return g_dense_kwarps.set(kw); }

bool stream_env_override() {
  static const bool set = std::getenv("SABLE_STREAM_GEMM_MAX_T_FP8") != nullptr;
  return set;
}

int64_t stream_gemm_max_tokens(bool fp8) {
  static const int64_t bf16_max = env_int("SABLE_STREAM_GEMM_MAX_T", 0);
  static const int64_t fp8_max = env_int("SABLE_STREAM_GEMM_MAX_T_FP8", 3);
  return fp8 ? fp8_max : bf16_max;
}

GemmPath linear_auto_path(int64_t T, const LinearWeight& w) {
  // Measured on the H200 (bench/results/cuda-gemm-2026-11-30.md): cuBLASLt
  // wins for bf16 everywhere and for FP8 weights of >= ~24M elements; the
  // streaming kernel wins for small FP8 weights at few tokens (576x7168:
  // 8 us vs 16-17 us; 2048x7168: 17 us vs 21 us).
  const PreparedLinear& P = prepared_of(w);
  const int64_t elems = P.out * P.in;
  bool stream = T <= stream_gemm_max_tokens(P.fp8);
  // With splits by waves (6a26ef4) the streaming kernel also wins every FP8
  // shape at one token: 7168x18432 47.5 vs 50.0 us, 18432x7168 49.8 vs 59.3,
  // 7168x16384 42.3 vs 44.3, 24576x1536 18.2 vs 19.5 (H200, bench_cuda_gemm
  // --quick --dense-only; record 2026-11-30-6a26ef4-dense-splits.md).
  if (P.fp8 && !stream_env_override())
    stream = T == 1 || (T <= 8 && elems <= (int64_t(24) << 20)) || (T <= 32 && elems <= (int64_t(8) << 20));
  return stream ? GemmPath::kStream : GemmPath::kLibrary;
}

void linear_on(const Tensor& x, const LinearWeight& w, Tensor& out, cudaStream_t stream,
               GemmPath path) {
  const PreparedLinear& P = prepared_of(w);
  const int64_t T = x.dim(0), K = P.in, N = P.out;
  SABLE_GEMM_REQUIRE(x.dtype() == DType::BF16 && x.ndim() == 2 && x.dim(1) == K,
                     "linear: x must be BF16 [T, in]");
  SABLE_GEMM_REQUIRE(out.ndim() == 2 && out.dim(0) == T && out.dim(1) == N &&
                         (out.dtype() == DType::BF16 || out.dtype() == DType::F32),
                     "linear: out must be BF16/F32 [T, out]");
  if (T == 0) return;
  GemmWorkspace* ws = gemm_workspace(stream);
  const bool out_f32 = out.dtype() == DType::F32;
  const size_t out_esz = out_f32 ? 4 : 2;
  const auto* xb = x.ptr<__nv_bfloat16>();
  const bool stream_ok = K % (P.fp8 ? 16 : 8) == 0;
  // Batch-invariant mode: one kernel and one K partition whatever T is (see
  // batch_invariant.h), so a row's result does not depend on the other rows.
  const bool invariant = path == GemmPath::kAuto && batch_invariant() && stream_ok;
  if (invariant) path = GemmPath::kStream;
  if (path == GemmPath::kAuto) path = linear_auto_path(T, w);
  if (!stream_ok) path = GemmPath::kLibrary;

  if (!P.fp8) {
    if (path == GemmPath::kLibrary) {
      if (cublaslt_bf16(ws, xb, T, K, static_cast<const __nv_bfloat16*>(P.weight), N, out.data(),
                        out_f32))
        return;
      SABLE_GEMM_REQUIRE(stream_ok, "linear: cuBLASLt has no algorithm and K % 8 != 0");
    }
    const int bn = pick_bn(T, false);
    const int splits = invariant ? 1 : pick_splits(N, T, bn, K);
    const LinearScratch s = linear_scratch(T, K, N, false, splits, false, out_esz);
    char* arena = s.total ? gemm_arena(ws, s.total) : nullptr;
    run_stream(ws, P, xb, K, nullptr, 0, 0, T, out.data(), out_f32,
               reinterpret_cast<float*>(arena + s.partial), splits, bn);
    return;
  }

  // FP8: quantize the activations per token per 128 channels, then either
  // cuBLASLt's block-scaled GEMM or the streaming kernel, on the same scales.
  const Fp8BlockConfig& cfg = fp8_block_config();
  const int64_t G = ceil_div(K, 128), T4 = scale_ld(T);
  bool lib = path == GemmPath::kLibrary && cfg.supported &&
             (cfg.w_kb_pad4 || G % 4 == 0) && K % 16 == 0 && N % 8 == 0;
  if (!lib) SABLE_GEMM_REQUIRE(stream_ok, "linear: FP8 needs in_features % 16 == 0");
  const int bn = pick_bn(T, true);
  // The K-warps (and so the CTA rows the split count is picked for) apply
  // where the streaming kernel reads the tiled copy.
  const int kw = P.tiled && g_read_tiles ? dense_kwarps(N) : 4;
  const int64_t rows = kw == 2 ? 128 : 64;
  const int splits = lib ? 1 : pick_splits(N, T, bn, K, rows);
  const bool pad_out = lib && T4 != T;
  const LinearScratch s = linear_scratch(T, K, N, true, splits, pad_out, out_esz);
  char* arena = gemm_arena(ws, s.total);
  auto* xq = reinterpret_cast<uint8_t*>(arena + s.xq);
  auto* xs = reinterpret_cast<float*>(arena + s.xs);
  const bool kmajor = lib && cfg.act_kmajor;
  const int64_t xs_sk = kmajor ? 1 : T4, xs_st = kmajor ? G : 1;
  launch_quantize_act_fp8_padded(xb, T, lib ? T4 : T, K, K, xq, xs, xs_sk, xs_st, stream);
  if (lib) {
    void* dst = pad_out ? arena + s.outbuf : out.data();
    if (cublaslt_fp8_block(ws, xq, xs, T4, K, static_cast<const uint8_t*>(P.weight), P.scale, N,
                           dst, out_f32)) {
      if (pad_out)
        SABLE_CUDA_OK(cudaMemcpyAsync(out.data(), dst, size_t(T * N) * out_esz,
                                      cudaMemcpyDeviceToDevice, stream));
      return;
    }
    SABLE_GEMM_REQUIRE(stream_ok, "linear: cuBLASLt FP8 failed and in_features % 16 != 0");
  }
  const int sp = invariant ? 1 : pick_splits(N, T, bn, K, rows);
  const LinearScratch s2 = linear_scratch(T, K, N, true, sp, false, out_esz);
  if (s2.total > s.total || kmajor) {
    // Recompute with the streaming layout (rare: a library failure).
    arena = gemm_arena(ws, s2.total);
    xq = reinterpret_cast<uint8_t*>(arena + s2.xq);
    xs = reinterpret_cast<float*>(arena + s2.xs);
    launch_quantize_act_fp8_padded(xb, T, T, K, K, xq, xs, T4, 1, stream);
    run_stream(ws, P, xq, K, xs, T4, 1, T, out.data(), out_f32,
               reinterpret_cast<float*>(arena + s2.partial), sp, bn, kw);
    return;
  }
  run_stream(ws, P, xq, K, xs, xs_sk, xs_st, T, out.data(), out_f32,
             reinterpret_cast<float*>(arena + s2.partial), sp, bn, kw);
}

void linear(const Tensor& x, const LinearWeight& w, Tensor& out, cudaStream_t stream) {
  linear_on(x, w, out, stream, GemmPath::kAuto);
}

void quantize_activations_fp8(const Tensor& x, Tensor& q, Tensor& scales, cudaStream_t stream) {
  const int64_t T = x.dim(0), K = x.dim(1);
  SABLE_GEMM_REQUIRE(x.dtype() == DType::BF16 && q.dtype() == DType::F8_E4M3 &&
                         scales.dtype() == DType::F32 && q.numel() == T * K &&
                         scales.numel() >= ceil_div(K, 128) * scale_ld(T),
                     "quantize_activations_fp8: x BF16 [T,K], q F8 [T,K], scales F32 [G, roundup(T,4)]");
  launch_quantize_act_fp8(x.ptr<__nv_bfloat16>(), T, K, K, q.ptr<uint8_t>(), scales.ptr<float>(),
                          scale_ld(T), stream);
}

size_t moe_arena_bytes(int64_t T, int64_t top_k, int E, int64_t H, int64_t I, bool fp8);

void reserve_gemm_workspace(cudaStream_t stream, int64_t max_tokens, int64_t max_features,
                            const MoeExperts* moe, int moe_top_k) {
  (void)fp8_block_config();  // runs the probe now, outside any capture
  GemmWorkspace* ws = gemm_workspace(stream);
  const int64_t T = max_tokens, F = max_features;
  // Linear: quantized activations + scales, split-K partials (bounded by the
  // split heuristic: splits * T * N <= 8 waves of 2 * SMs CTAs of up to 128 rows x bn <= 64), padded output.
  size_t need = align256(size_t(scale_ld(T) * F)) + align256(size_t(ceil_div(F, 128) * scale_ld(T)) * 4) +
                align256(size_t(4) * 8 * 2 * sm_count() * 128 * 64) + align256(size_t(scale_ld(T) * F) * 4);
  if (moe && moe->prepared) {
    const auto& P = *static_cast<const PreparedExperts*>(moe->prepared.get());
    // The MoE scratch grows with T; take the largest over the tile sizes.
    for (int64_t t = 1; t <= T; t = t * 2 > T && t != T ? T : t * 2)
      need = std::max(need, moe_arena_bytes(t, moe_top_k, P.E, P.H, P.I, P.fp8));
  }
  gemm_arena(ws, need);
}

}  // namespace sable::cuda
