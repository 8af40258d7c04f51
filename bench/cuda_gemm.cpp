// Kernel benchmark of the CUDA GEMM family at DeepSeek-V3 shapes. Prints
// achieved GB/s and TFLOP/s beside ceilings measured in the same run: a
// device-to-device copy (bytes read + written), cuBLASLt bf16 and FP8
// (tensor-wise) GEMM at 8192^3. Each timing replays a CUDA graph of
// `kIters` calls (decode runs under graphs) over rotating weight copies so
// that small weights are not served from L2; the median of several replays.
//
// Usage: bench_cuda_gemm [--json FILE] [--quick] [--moe-only | --dense-only | --mla-front] [--tokens N]
//                        [--dtype bf16|fp8] [--wgmma-only]
// (--wgmma-only: the MoE table without the streaming kernels' rows, which take minutes at 4,096 tokens.)
// (--tokens / --dtype narrow the tables to one token count / one dtype, e.g. under ncu).
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/gemm.h"
#include "backend/cuda/mla_front.h"
#include "backend/cuda/ops.h"
#include "core/dtype.h"
#include "cuda_bench_check.h"
#include "cuda_graph_timing.h"

using namespace sable;

namespace {

#define CKB(expr)                                                                         \
  do {                                                                                    \
    cublasStatus_t s_ = (expr);                                                           \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                    \
      std::fprintf(stderr, "%s failed: %d (line %d)\n", #expr, int(s_), __LINE__);        \
      std::exit(1);                                                                       \
    }                                                                                     \
  } while (0)

constexpr int kIters = 20;
FILE* g_json = nullptr;
cudaStream_t g_s;

// Median time of one call of fn (seconds): fn(i) is captured kIters times
// into a graph (i = 0..kIters-1), the graph replayed `reps` times.
double time_graph(const std::function<void(int)>& fn, int reps = 7) {
  return graph_seconds_per_call(g_s, fn, kIters, reps, cudaStreamCaptureModeThreadLocal);
}

double measure_copy() {
  const size_t n = size_t(2) << 30;
  void *a, *b;
  CK(cudaMalloc(&a, n));
  CK(cudaMalloc(&b, n));
  CK(cudaMemset(a, 1, n));
  const double t = time_graph([&](int) { cuda::copy_device(b, a, n, g_s); }, 5);
  CK(cudaFree(a));
  CK(cudaFree(b));
  return 2.0 * n / t / 1e9;
}

// cuBLASLt at 8192^3: bf16 (through Sable's library path) and FP8 with
// tensor-wise unit scales (the plain FP8 ceiling).
double measure_gemm_bf16() {
  const int64_t n = 8192;
  LinearWeight w;
  cuda::make_random_linear(w, n, n, false, 7, g_s);
  LinearWeight xw;
  cuda::make_random_linear(xw, n, n, false, 8, g_s);  // random activations
  Tensor x(xw.weight.data(), DType::BF16, {n, n}, Device::kCUDA);
  void* o;
  CK(cudaMalloc(&o, size_t(n * n) * 2));
  Tensor out(o, DType::BF16, {n, n}, Device::kCUDA);
  const double t = time_graph([&](int) { cuda::linear_on(x, w, out, g_s, cuda::GemmPath::kLibrary); }, 5);
  CK(cudaFree(o));
  return 2.0 * n * n * n / t / 1e12;
}

double measure_gemm_fp8_tensorwise() {
  const int64_t n = 8192;
  LinearWeight a, b;
  cuda::make_random_linear(a, n, n, true, 9, g_s);
  cuda::make_random_linear(b, n, n, true, 10, g_s);
  void* o;
  CK(cudaMalloc(&o, size_t(n * n) * 2));
  cublasLtHandle_t lt;
  CKB(cublasLtCreate(&lt));
  cublasLtMatmulDesc_t desc;
  CKB(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT));
  CKB(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN));
  cublasLtMatrixLayout_t la, lb, ld;
  CKB(cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, n, n, n));
  CKB(cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, n, n, n));
  CKB(cublasLtMatrixLayoutCreate(&ld, CUDA_R_16BF, n, n, n));
  void* wsp;
  const size_t wsb = 32 << 20;
  CK(cudaMalloc(&wsp, wsb));
  cublasLtMatmulPreference_t pref;
  CKB(cublasLtMatmulPreferenceCreate(&pref));
  CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb));
  cublasLtMatmulHeuristicResult_t res{};
  int nres = 0;
  CKB(cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, ld, ld, pref, 1, &res, &nres));
  double tf = 0;
  if (nres > 0) {
    const float alpha = 1.f, beta = 0.f;
    const double t = time_graph([&](int) {
      CKB(cublasLtMatmul(lt, desc, &alpha, a.weight.data(), la, b.weight.data(), lb, &beta, o, ld, o, ld,
                         &res.algo, wsp, wsb, g_s));
    }, 5);
    tf = 2.0 * n * n * n / t / 1e12;
  }
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(ld);
  cublasLtMatmulDescDestroy(desc);
  cublasLtDestroy(lt);
  CK(cudaFree(wsp));
  CK(cudaFree(o));
  return tf;
}

struct Ceil {
  double bw, bf16, fp8;
};

void row(const char* op, const char* dtype, const char* shape, int64_t m, double t, double bytes,
         double flops, const Ceil& c, const char* path) {
  const double gbs = bytes / t / 1e9, tfs = flops / t / 1e12;
  const double rate = std::string(dtype) == "fp8" ? c.fp8 : c.bf16;
  std::printf("%-15s %-5s %-13s %6lld %10.1f %9.0f %6.1f%% %8.1f %6.1f%%  %s\n", op, dtype, shape,
              (long long)m, t * 1e6, gbs, 100 * gbs / c.bw, tfs, 100 * tfs / rate, path);
  if (g_json)
    std::fprintf(g_json,
                 "{\"op\": \"%s\", \"dtype\": \"%s\", \"shape\": \"%s\", \"M\": %lld, \"us\": %.2f, "
                 "\"GBps\": %.1f, \"pct_bw\": %.2f, \"TFLOPs\": %.2f, \"pct_gemm\": %.2f, \"path\": \"%s\"}\n",
                 op, dtype, shape, (long long)m, t * 1e6, gbs, 100 * gbs / c.bw, tfs, 100 * tfs / rate, path);
}

std::vector<int64_t> g_tokens;  // --tokens N[,N...] (both tables)
int g_moe_dtype = -1;      // --dtype: 0 bf16, 1 fp8 (both tables)
bool g_wgmma_only = false;  // --wgmma-only: MoE rows of the automatic choice and the grouped wgmma kernels

void bench_dense(const Ceil& c, bool quick) {
  struct S { int64_t out, in; const char* name; };
  const S shapes[] = {{7168, 18432, "7168x18432"}, {18432, 7168, "18432x7168"}, {2048, 7168, "2048x7168"},
                      {24576, 1536, "24576x1536"}, {576, 7168, "576x7168"},   {7168, 16384, "7168x16384"},
                      {2112, 7168, "2112x7168"}};  // the fused q_a + kv_a projection
  std::vector<int64_t> ms = {1, 4, 8, 32, 128, 256, 512, 4096};
  if (quick) ms = {1, 32, 4096};
  if (!g_tokens.empty()) ms = g_tokens;
  // Token counts outermost: every shape's few-token rows run before any of the
  // compute-bound 4096-token GEMMs. Measured in the other order (H200,
  // 2026-12-01), the first one or two streaming rows after heavy GEMMs ran
  // 5-25% slower than the same kernel timed a moment later (the streaming
  // kernel is latency-bound, so it follows the SM clock).
  for (bool fp8 : {true, false}) {
    if (g_moe_dtype >= 0 && int(fp8) != g_moe_dtype) continue;
    struct W {
      std::vector<LinearWeight> ws;
      LinearWeight xw;
      void* o = nullptr;
    };
    std::vector<W> wsets(std::size(shapes));
    const int64_t Mmax = ms.back();
    for (size_t k = 0; k < std::size(shapes); ++k) {
      const auto& sh = shapes[k];
      const double wbytes = double(sh.out * sh.in) * (fp8 ? 1 : 2);
      const int copies = int(std::min<double>(16, std::max<double>(1, 400e6 / wbytes)));
      wsets[k].ws.resize(static_cast<size_t>(copies));
      for (int i = 0; i < copies; ++i) cuda::make_random_linear(wsets[k].ws[size_t(i)], sh.out, sh.in, fp8, 100 + i, g_s);
      cuda::make_random_linear(wsets[k].xw, Mmax, sh.in, false, 99, g_s);
      CK(cudaMalloc(&wsets[k].o, size_t(Mmax * sh.out) * 2));
    }
    // Settle the clocks after the compute-bound weight generation: without
    // this the first shape's rows read 10-20% slow (H200, 2026-12-01: the
    // same kernel 52.7 us as the first row, 46 us a few rows later).
    {
      Tensor x(wsets[0].xw.weight.data(), DType::BF16, {1, shapes[0].in}, Device::kCUDA);
      Tensor out(wsets[0].o, DType::BF16, {1, shapes[0].out}, Device::kCUDA);
      for (int r = 0; r < 20; ++r)
        (void)time_graph([&](int i) { cuda::linear(x, wsets[0].ws[size_t(i) % wsets[0].ws.size()], out, g_s); });
    }
    for (int64_t m : ms)
      for (size_t k = 0; k < std::size(shapes); ++k) {
        const auto& sh = shapes[k];
        auto& ws = wsets[k].ws;
        const int copies = int(ws.size());
        const double wbytes = double(sh.out * sh.in) * (fp8 ? 1 : 2);
        Tensor x(wsets[k].xw.weight.data(), DType::BF16, {m, sh.in}, Device::kCUDA);
        Tensor out(wsets[k].o, DType::BF16, {m, sh.out}, Device::kCUDA);
        const double bytes = wbytes + double(m * sh.in) * 2 + double(m * sh.out) * 2;
        const double flops = 2.0 * m * sh.out * sh.in;
        const bool stream_default = cuda::linear_auto_path(m, ws[0]) == cuda::GemmPath::kStream;
        const double t = time_graph([&](int i) { cuda::linear(x, ws[size_t(i % copies)], out, g_s); });
        row("linear", fp8 ? "fp8" : "bf16", sh.name, m, t, bytes, flops, c, stream_default ? "stream" : "cublasLt");
        if (m <= 8) {  // the streaming kernel's two weight pipelines, for comparison
          for (int v : {1, 0}) {
            cuda::set_stream_gemm_variant(v);
            const double tr = time_graph([&](int i) { cuda::linear_on(x, ws[size_t(i % copies)], out, g_s, cuda::GemmPath::kStream); });
            row(v ? "  (ring)" : "  (regs)", fp8 ? "fp8" : "bf16", sh.name, m, tr, bytes, flops, c,
                v ? "stream-smem-ring" : "stream-registers");
          }
          cuda::set_stream_gemm_variant(-1);
        }
        // The other path too where both are plausible (tunes the threshold).
        if (m <= 512 && !quick) {
          const auto other = stream_default ? cuda::GemmPath::kLibrary : cuda::GemmPath::kStream;
          const double t2 = time_graph([&](int i) { cuda::linear_on(x, ws[size_t(i % copies)], out, g_s, other); });
          row("  (other)", fp8 ? "fp8" : "bf16", sh.name, m, t2, bytes, flops, c, stream_default ? "cublasLt" : "stream");
        }
      }
    for (auto& w : wsets) CK(cudaFree(w.o));
  }
}


void bench_moe(const Ceil& c, bool quick) {
  const int E = 256, K = 8;
  const int64_t H = 7168, I = 2048;
  std::vector<int64_t> ts = {1, 8, 32, 128, 512, 4096};
  if (quick) ts = {1, 128, 4096};
  if (!g_tokens.empty()) ts = g_tokens;
  for (bool fp8 : {false, true}) {
    if (g_moe_dtype >= 0 && int(fp8) != g_moe_dtype) continue;
    MoeExperts w;
    cuda::make_random_experts(w, E, H, I, fp8, fp8 ? 2000 : 1000, g_s);
    cuda::reserve_gemm_workspace(g_s, ts.back(), 2 * I > H ? 2 * I : H, &w, K);
    std::mt19937 rng(1234);
    for (int64_t T : ts) {
      std::vector<int32_t> ids(size_t(T * K));
      std::vector<float> wts(size_t(T * K));
      std::vector<int> perm(E);
      std::vector<int> touched(E, 0);
      for (int e = 0; e < E; ++e) perm[size_t(e)] = e;
      for (int64_t t = 0; t < T; ++t) {
        std::shuffle(perm.begin(), perm.end(), rng);
        for (int k = 0; k < K; ++k) {
          ids[size_t(t * K + k)] = perm[size_t(k)];
          wts[size_t(t * K + k)] = 0.1f + 0.01f * k;
          touched[size_t(perm[size_t(k)])] = 1;
        }
      }
      int nt = 0;
      for (int v : touched) nt += v;
      void *dx, *di, *dw, *dout;
      LinearWeight xw;
      cuda::make_random_linear(xw, T, H, false, 77, g_s);
      dx = xw.weight.data();
      CK(cudaMalloc(&di, ids.size() * 4));
      CK(cudaMalloc(&dw, wts.size() * 4));
      CK(cudaMalloc(&dout, size_t(T * H) * 2));
      CK(cudaMemcpy(di, ids.data(), ids.size() * 4, cudaMemcpyHostToDevice));
      CK(cudaMemcpy(dw, wts.data(), wts.size() * 4, cudaMemcpyHostToDevice));
      Tensor x(dx, DType::BF16, {T, H}, Device::kCUDA), ti(di, DType::I32, {T, K}, Device::kCUDA),
          tw(dw, DType::F32, {T, K}, Device::kCUDA), out(dout, DType::BF16, {T, H}, Device::kCUDA);
      const double bytes = double(nt) * 3 * H * I * (fp8 ? 1 : 2);
      const double flops = 2.0 * T * K * 3 * H * I;
      char shape[32];
      std::snprintf(shape, sizeof shape, "E%d(%d)", E, nt);
      // The automatic choice first (what the model runs), then each kernel.
      const double ta = time_graph([&](int) { cuda::moe_experts(x, ti, tw, w, out, g_s); }, 5);
      const bool auto_wgmma = cuda::moe_kernel_for(T, K, E) == cuda::MoeKernel::kWgmma;
      row("moe", fp8 ? "fp8" : "bf16", shape, T, ta, bytes, flops, c, auto_wgmma ? "auto=wgmma-grouped" : "auto=stream-grouped");
      cuda::set_moe_kernel(cuda::MoeKernel::kStream);
      if (!g_wgmma_only) {
        const double t = time_graph([&](int) { cuda::moe_experts(x, ti, tw, w, out, g_s); }, 5);
        row("  (stream)", fp8 ? "fp8" : "bf16", shape, T, t, bytes, flops, c, "stream-grouped");
      }
      // The grouped wgmma kernels: the original, the warp-specialized one
      // (128-row tiles), with 256-row tiles where N % 256 == 0, and that one with
      // the persistent down GEMM (TMA stores; the default).
      cuda::set_moe_kernel(cuda::MoeKernel::kWgmma);
      struct Variant {
        const char* label;
        const char* path;
      };
      static const Variant kVariants[] = {{"  (wgmma)", "wgmma-grouped"},
                                          {"  (wgmma-ws)", "wgmma-grouped-ws"},
                                          {"  (wgmma-ws256)", "wgmma-grouped-ws256"},
                                          {"  (wgmma-pst)", "wgmma-grouped-pst"}};
      for (int v = 0; v < 4; ++v) {
        cuda::set_grouped_wgmma_variant(v);
        const double tv = time_graph([&](int) { cuda::moe_experts(x, ti, tw, w, out, g_s); }, 5);
        row(kVariants[v].label, fp8 ? "fp8" : "bf16", shape, T, tv, bytes, flops, c, kVariants[v].path);
      }
      cuda::set_grouped_wgmma_variant(-1);
      cuda::set_moe_kernel(cuda::MoeKernel::kStream);
      for (int v : {1, 0}) {
        if (g_wgmma_only) break;
        cuda::set_stream_gemm_variant(v);
        const double tr = time_graph([&](int) { cuda::moe_experts(x, ti, tw, w, out, g_s); }, 5);
        row(v ? "  (ring)" : "  (regs)", fp8 ? "fp8" : "bf16", shape, T, tr, bytes, flops, c,
            v ? "stream-grouped-smem-ring" : "stream-grouped-registers");
      }
      cuda::set_stream_gemm_variant(-1);
      cuda::set_moe_kernel(cuda::MoeKernel::kAuto);
      CK(cudaFree(di));
      CK(cudaFree(dw));
      CK(cudaFree(dout));
    }
  }
}

// The front of MLA attention at one decode token (mla_front.cu, opt-in):
// the fused cooperative kernel against the chain it replaces (add +
// RMSNorm, FP8 linear of the fused q_a | kv_a, RMSNorm, FP8 linear of q_b),
// both over 4 rotating weight copies (53 MB each; the L2 holds ~50).
void bench_mla_front(const Ceil& c) {
  const int H = 7168, Q = 1536, N1 = 2112, N2 = 24576, copies = 4;
  const float eps = 1e-6f;
  std::vector<LinearWeight> w1(copies), w2(copies);
  for (int i = 0; i < copies; ++i) {
    cuda::make_random_linear(w1[size_t(i)], N1, H, true, 11 + i, g_s);
    cuda::make_random_linear(w2[size_t(i)], N2, Q, true, 23 + i, g_s);
  }
  float* res;
  __nv_bfloat16 *prev, *ln, *qaln, *h, *qkv, *qan, *q;
  unsigned* bar;
  CK(cudaMalloc(&res, H * 4));
  CK(cudaMalloc(&prev, H * 2));
  CK(cudaMalloc(&ln, H * 2));
  CK(cudaMalloc(&qaln, Q * 2));
  CK(cudaMalloc(&h, H * 2));
  CK(cudaMalloc(&qkv, N1 * 2));
  CK(cudaMalloc(&qan, Q * 2));
  CK(cudaMalloc(&q, N2 * 2));
  CK(cudaMalloc(&bar, 8));
  CK(cudaMemset(res, 0, H * 4));
  CK(cudaMemset(prev, 0, H * 2));
  CK(cudaMemset(ln, 0x3f, H * 2));  // ~0.75 in bf16
  CK(cudaMemset(qaln, 0x3f, Q * 2));
  CK(cudaMemset(bar, 0, 8));
  Tensor t_res(res, DType::F32, {1, H}, Device::kCUDA), t_prev(prev, DType::BF16, {1, H}, Device::kCUDA),
      t_ln(ln, DType::BF16, {H}, Device::kCUDA), t_h(h, DType::BF16, {1, H}, Device::kCUDA),
      t_qkv(qkv, DType::BF16, {1, N1}, Device::kCUDA), t_qa(qkv, DType::BF16, {1, Q}, Device::kCUDA),
      t_qaln(qaln, DType::BF16, {Q}, Device::kCUDA), t_qan(qan, DType::BF16, {1, Q}, Device::kCUDA),
      t_q(q, DType::BF16, {1, N2}, Device::kCUDA);
  const double bytes = double(N1) * H + double(N2) * Q;
  const double tu = time_graph([&](int i) {
    cuda::add_rms_norm(t_res, t_prev, t_ln, eps, t_h, g_s);
    cuda::linear(t_h, w1[size_t(i % copies)], t_qkv, g_s);
    cuda::rms_norm(t_qa, t_qaln, eps, t_qan, g_s);
    cuda::linear(t_qan, w2[size_t(i % copies)], t_q, g_s);
  });
  row("mla front", "fp8", "7168>2112>24576", 1, tu, bytes, 2 * bytes, c, "unfused (4 ops, 7 launches)");
  cuda::MlaFrontArgs a;
  a.residual = res;
  a.prev = prev;
  a.ln = ln;
  a.qa_ln = qaln;
  a.qkv = qkv;
  a.q = q;
  a.H = H;
  a.Q = Q;
  a.eps = eps;
  a.bar_count = bar;
  a.bar_gen = bar + 1;
  cuda::mla_front_set_weights(a, w1[0], w2[0]);
  const int grid = cuda::mla_front_grid(N1);
  a.w2_smem_rows = std::min((N2 + grid - 1) / grid, cuda::mla_front_max_smem_rows(Q));
  if (!cuda::mla_front_supported(a)) {
    std::printf("mla front: the fused kernel needs %d SMs\n", grid);
  } else {
    const double tf = time_graph([&](int i) {
      cuda::MlaFrontArgs b = a;
      cuda::mla_front_set_weights(b, w1[size_t(i % copies)], w2[size_t(i % copies)]);
      cuda::mla_front(b, g_s);
    });
    row("mla front", "fp8", "7168>2112>24576", 1, tf, bytes, 2 * bytes, c, "fused (cooperative)");
  }
  for (void* p : {static_cast<void*>(res), static_cast<void*>(prev), static_cast<void*>(ln), static_cast<void*>(qaln),
                  static_cast<void*>(h), static_cast<void*>(qkv), static_cast<void*>(qan), static_cast<void*>(q),
                  static_cast<void*>(bar)})
    CK(cudaFree(p));
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, moe_only = false, dense_only = false, mla_front_only = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc) g_json = std::fopen(argv[++i], "w");
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    if (!std::strcmp(argv[i], "--moe-only")) moe_only = true;  // the MoE table alone
    if (!std::strcmp(argv[i], "--wgmma-only")) g_wgmma_only = true;
    if (!std::strcmp(argv[i], "--dense-only")) dense_only = true;  // the dense table alone
    if (!std::strcmp(argv[i], "--mla-front")) mla_front_only = true;  // the MLA front rows alone (opt-in kernel)
    if (!std::strcmp(argv[i], "--tokens") && i + 1 < argc)
      for (const char* p = argv[++i]; *p; p += *p == ',') g_tokens.push_back(std::strtoll(p, const_cast<char**>(&p), 10));
    if (!std::strcmp(argv[i], "--dtype") && i + 1 < argc) g_moe_dtype = std::strcmp(argv[++i], "fp8") == 0;
  }
  CK(cudaStreamCreateWithFlags(&g_s, cudaStreamNonBlocking));
  cudaDeviceProp p{};
  CK(cudaGetDeviceProperties(&p, 0));
  const cuda::Fp8BlockInfo fi = cuda::fp8_block_info();
  Ceil c;
  c.bw = measure_copy();
  c.bf16 = measure_gemm_bf16();
  c.fp8 = measure_gemm_fp8_tensorwise();
  std::printf("device: %s, %d SMs\n", p.name, p.multiProcessorCount);
  std::printf("ceilings (this run): copy %.0f GB/s; cuBLASLt bf16 8192^3 %.0f TFLOP/s; FP8 (tensor-wise) 8192^3 %.0f TFLOP/s\n",
              c.bw, c.bf16, c.fp8);
  std::printf("cuBLASLt FP8 block scaling: %s (activation scales %s, weight scale rows padded to 4: %d)\n",
              fi.supported ? "yes" : "no (streaming kernel for all M)", fi.act_kmajor ? "[t][g]" : "[g][t]",
              int(fi.w_kb_pad4));
  if (g_json)
    std::fprintf(g_json, "{\"ceil_copy_GBps\": %.1f, \"ceil_bf16_TFLOPs\": %.1f, \"ceil_fp8_TFLOPs\": %.1f, \"fp8_block_cublaslt\": %d}\n",
                 c.bw, c.bf16, c.fp8, int(fi.supported));
  std::printf("%-15s %-5s %-13s %6s %10s %9s %7s %8s %7s  %s\n", "op", "dtype", "shape(outxin)", "M", "us",
              "GB/s", "%copy", "TFLOP/s", "%gemm", "path");
  if (mla_front_only) {
    bench_mla_front(c);
  } else {
    if (!moe_only) bench_dense(c, quick);
    if (!dense_only) bench_moe(c, quick);
  }
  if (g_json) std::fclose(g_json);
  return 0;
}
