// cuBLASLt paths: bf16 GEMM, and FP8 GEMM with DeepSeek-V3 block scales
// (VEC128_32F activation scales, BLK128x128_32F weight scales; Hopper only).
//
// Row-major out[T, N] = x[T, K] W^T is, in cuBLASLt's column-major terms,
// D[N, T] = op(A) B with A = W viewed as [K, N] (ld K, transposed) and B = x
// viewed as [K, T] (ld K): the "TN" layout FP8 requires.
#include <cuda_bf16.h>

#include <cmath>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "backend/cuda/gemm_common.cuh"
#include "core/dtype.h"

namespace sable::cuda {
namespace {

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool ok = false;
};
using PlanKey = std::tuple<int, int64_t, int64_t, int64_t, bool>;  // kind, T, N, K, out_f32
struct PlanCache {
  std::map<PlanKey, Plan> plans;
  ~PlanCache() {
    for (auto& [k, p] : plans) {
      if (p.desc) cublasLtMatmulDescDestroy(p.desc);
      if (p.a) cublasLtMatrixLayoutDestroy(p.a);
      if (p.b) cublasLtMatrixLayoutDestroy(p.b);
      if (p.d) cublasLtMatrixLayoutDestroy(p.d);
    }
  }
};

PlanCache& cache_of(GemmWorkspace* ws) {
  if (!ws->lt_plans) ws->lt_plans = std::make_shared<PlanCache>();
  return *static_cast<PlanCache*>(ws->lt_plans.get());
}

enum Kind { kBf16 = 0, kFp8Block = 1 };

// Builds (once per shape) the descriptors and picks the heuristic's first
// algorithm. Scale pointers are set per call.
Plan& get_plan(GemmWorkspace* ws, Kind kind, int64_t T, int64_t N, int64_t K, bool out_f32,
               bool act_kmajor) {
  auto& c = cache_of(ws);
  const PlanKey key{kind * 2 + (act_kmajor ? 1 : 0), T, N, K, out_f32};
  auto it = c.plans.find(key);
  if (it != c.plans.end()) return it->second;
  Plan& p = c.plans[key];
  const cudaDataType_t in_t = kind == kFp8Block ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
  const cudaDataType_t out_t = out_f32 ? CUDA_R_32F : CUDA_R_16BF;
  SABLE_CUBLAS_OK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  SABLE_CUBLAS_OK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT));
  SABLE_CUBLAS_OK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN));
  if (kind == kFp8Block) {
    const int32_t a_mode = CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F;
    const int32_t b_mode = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
    SABLE_CUBLAS_OK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &a_mode, sizeof a_mode));
    SABLE_CUBLAS_OK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &b_mode, sizeof b_mode));
    // Dummy scale pointers so the heuristic sees a block-scaled problem.
    const void* dummy = ws->lt_ws;
    SABLE_CUBLAS_OK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &dummy, sizeof dummy));
    SABLE_CUBLAS_OK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &dummy, sizeof dummy));
  }
  SABLE_CUBLAS_OK(cublasLtMatrixLayoutCreate(&p.a, in_t, uint64_t(K), uint64_t(N), K));
  SABLE_CUBLAS_OK(cublasLtMatrixLayoutCreate(&p.b, in_t, uint64_t(K), uint64_t(T), K));
  SABLE_CUBLAS_OK(cublasLtMatrixLayoutCreate(&p.d, out_t, uint64_t(N), uint64_t(T), N));
  cublasLtMatmulPreference_t pref;
  SABLE_CUBLAS_OK(cublasLtMatmulPreferenceCreate(&pref));
  SABLE_CUBLAS_OK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws->lt_ws_bytes, sizeof ws->lt_ws_bytes));
  cublasLtMatmulHeuristicResult_t res{};
  int n = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(ws->lt, p.desc, p.a, p.b, p.d, p.d, pref, 1, &res, &n);
  cublasLtMatmulPreferenceDestroy(pref);
  p.ok = st == CUBLAS_STATUS_SUCCESS && n > 0 && res.state == CUBLAS_STATUS_SUCCESS;
  if (p.ok) p.algo = res.algo;
  return p;
}

bool run_plan(GemmWorkspace* ws, Plan& p, const void* A, const void* B, void* D) {
  const float alpha = 1.f, beta = 0.f;
  const cublasStatus_t st = cublasLtMatmul(ws->lt, p.desc, &alpha, A, p.a, B, p.b, &beta, D, p.d,
                                           D, p.d, &p.algo, ws->lt_ws, ws->lt_ws_bytes, ws->stream);
  if (st != CUBLAS_STATUS_SUCCESS) {
    p.ok = false;
    return false;
  }
  return true;
}

Fp8BlockConfig g_fp8_config;
std::once_flag g_fp8_once;

float fp8_to_float_host(uint8_t b) { return fp8_e4m3_to_f32(b); }

// Probe: T=8 tokens, N=256 rows, K=256 (2 weight k-blocks, not a multiple of
// 4, so the padding question is answered too). Random fp8 data and distinct
// scales; each candidate layout is checked against a float64 host reference.
void probe_fp8_block() {
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  if (major != 9) return;  // the block-scaled modes are a Hopper feature of cuBLASLt
  cudaStream_t s;
  SABLE_CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  GemmWorkspace* ws = gemm_workspace(s);
  const int64_t T = 8, N = 256, K = 256, KB = 2, NB = 2, KBLD = 4;
  std::vector<uint8_t> hx(T * K), hw(N * K);
  uint32_t st = 12345;
  auto rnd = [&]() { st = st * 1664525u + 1013904223u; return st >> 8; };
  auto rnd_fp8 = [&]() {
    uint8_t b;
    do { b = uint8_t(rnd()); } while ((b & 0x7f) == 0x7f || (b & 0x78) == 0x78 || (b & 0x78) == 0);
    return b;  // finite normals below 2^8 in magnitude
  };
  for (auto& v : hx) v = rnd_fp8();
  for (auto& v : hw) v = rnd_fp8();
  std::vector<float> sx(T * KB), sw(NB * KB);  // logical [t][kb], [nb][kb]
  for (auto& v : sx) v = 0.5f + float(rnd() % 1000) / 1000.f;
  for (auto& v : sw) v = 0.25f + float(rnd() % 1000) / 500.f;
  std::vector<double> ref(T * N);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += double(fp8_to_float_host(hx[t * K + k])) * fp8_to_float_host(hw[n * K + k]) *
               sx[t * KB + k / 128] * sw[(n / 128) * KB + k / 128];
      ref[t * N + n] = acc;
    }
  uint8_t *dx, *dw;
  float *dsx, *dsw, *dout;
  SABLE_CUDA_OK(cudaMalloc(&dx, T * K));
  SABLE_CUDA_OK(cudaMalloc(&dw, N * K));
  SABLE_CUDA_OK(cudaMalloc(&dsx, T * KB * 4));
  SABLE_CUDA_OK(cudaMalloc(&dsw, NB * KBLD * 4));
  SABLE_CUDA_OK(cudaMalloc(&dout, T * N * 2));
  SABLE_CUDA_OK(cudaMemcpy(dx, hx.data(), T * K, cudaMemcpyHostToDevice));
  SABLE_CUDA_OK(cudaMemcpy(dw, hw.data(), N * K, cudaMemcpyHostToDevice));
  std::vector<uint16_t> out(T * N);  // bf16 output: the mode every FP8 kernel supports
  auto try_layout = [&](bool act_kmajor, bool pad4) -> bool {
    std::vector<float> hsx(T * KB), hsw(NB * KBLD, 0.f);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t kb = 0; kb < KB; ++kb)
        hsx[act_kmajor ? t * KB + kb : kb * T + t] = sx[t * KB + kb];
    const int64_t ld = pad4 ? KBLD : KB;
    for (int64_t nb = 0; nb < NB; ++nb)
      for (int64_t kb = 0; kb < KB; ++kb) hsw[nb * ld + kb] = sw[nb * KB + kb];
    SABLE_CUDA_OK(cudaMemcpy(dsx, hsx.data(), hsx.size() * 4, cudaMemcpyHostToDevice));
    SABLE_CUDA_OK(cudaMemcpy(dsw, hsw.data(), hsw.size() * 4, cudaMemcpyHostToDevice));
    Plan& p = get_plan(ws, kFp8Block, T, N, K, false, act_kmajor);
    if (!p.ok) return false;
    SABLE_CUBLAS_OK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &dsw, sizeof dsw));
    SABLE_CUBLAS_OK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &dsx, sizeof dsx));
    SABLE_CUDA_OK(cudaMemsetAsync(dout, 0, T * N * 2, s));
    if (!run_plan(ws, p, dw, dx, dout)) return false;
    if (cudaStreamSynchronize(s) != cudaSuccess) { cudaGetLastError(); return false; }
    SABLE_CUDA_OK(cudaMemcpy(out.data(), dout, T * N * 2, cudaMemcpyDeviceToHost));
    double num = 0, den = 0;
    for (int64_t i = 0; i < T * N; ++i) {
      const double o = bf16_to_f32(out[i]);
      num += (o - ref[i]) * (o - ref[i]);
      den += ref[i] * ref[i];
    }
    const double rel = std::sqrt(num / den);
    if (std::getenv("SABLE_GEMM_VERBOSE"))
      std::fprintf(stderr, "cuBLASLt FP8 block-scale probe: act scales %s, weight kb ld %lld: rel err %.3g\n",
                   act_kmajor ? "[t][g]" : "[g][t]", (long long)ld, rel);
    return std::isfinite(rel) && rel < 1e-2;  // bf16 output rounding is ~2e-3
  };
  for (bool kmaj : {false, true})
    for (bool pad : {true, false})
      if (!g_fp8_config.supported && try_layout(kmaj, pad)) {
        g_fp8_config.supported = true;
        g_fp8_config.act_kmajor = kmaj;
        g_fp8_config.w_kb_pad4 = pad;
      }
  if (!g_fp8_config.supported)
    std::fprintf(stderr, "sable: cuBLASLt block-scaled FP8 unavailable; the streaming kernel serves all FP8 GEMMs\n");
  cudaFree(dx); cudaFree(dw); cudaFree(dsx); cudaFree(dsw); cudaFree(dout);
  // The workspace of the probe's stream stays in the registry (process lifetime);
  // the stream is left alive for it.
}

}  // namespace

const Fp8BlockConfig& fp8_block_config() {
  std::call_once(g_fp8_once, probe_fp8_block);
  return g_fp8_config;
}

Fp8BlockInfo fp8_block_info() {
  const Fp8BlockConfig& c = fp8_block_config();
  Fp8BlockInfo i;
  i.supported = c.supported;
  i.act_kmajor = c.act_kmajor;
  i.w_kb_pad4 = c.w_kb_pad4;
  return i;
}

int64_t weight_scale_ld(int64_t in_features) { return round_up(ceil_div(in_features, 128), 4); }

bool cublaslt_bf16(GemmWorkspace* ws, const __nv_bfloat16* x, int64_t T, int64_t K,
                   const __nv_bfloat16* w, int64_t N, void* out, bool out_f32) {
  Plan& p = get_plan(ws, kBf16, T, N, K, out_f32, false);
  if (!p.ok) return false;
  return run_plan(ws, p, w, x, out);
}

bool cublaslt_fp8_block(GemmWorkspace* ws, const uint8_t* xq, const float* xs, int64_t T,
                        int64_t K, const uint8_t* w, const float* wscale, int64_t N, void* out,
                        bool out_f32) {
  const Fp8BlockConfig& cfg = fp8_block_config();
  if (!cfg.supported || T % 4 != 0) return false;
  if (!cfg.w_kb_pad4 && ceil_div(K, 128) % 4 != 0) return false;
  Plan& p = get_plan(ws, kFp8Block, T, N, K, out_f32, cfg.act_kmajor);
  if (!p.ok) return false;
  SABLE_CUBLAS_OK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &wscale, sizeof wscale));
  SABLE_CUBLAS_OK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &xs, sizeof xs));
  return run_plan(ws, p, w, xq, out);
}

}  // namespace sable::cuda
