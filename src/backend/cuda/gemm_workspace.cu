// Per-stream scratch space of the GEMM family.
#include <map>
#include <memory>
#include <mutex>

#include "backend/cuda/gemm_common.cuh"

namespace sable::cuda {

[[noreturn]] void gemm_fatal(const char* what, const char* detail, const char* file, int line) {
  std::fprintf(stderr, "sable cuda gemm: %s failed: %s (%s:%d)\n", what, detail, file, line);
  std::fflush(stderr);
  std::abort();
}

namespace {
constexpr size_t kLtWorkspace = 32u << 20;
std::mutex g_mu;
std::map<cudaStream_t, std::unique_ptr<GemmWorkspace>>& registry() {
  static auto* r = new std::map<cudaStream_t, std::unique_ptr<GemmWorkspace>>();
  return *r;
}
}  // namespace

GemmWorkspace* gemm_workspace(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto& r = registry();
  auto it = r.find(stream);
  if (it != r.end()) return it->second.get();
  auto ws = std::make_unique<GemmWorkspace>();
  ws->stream = stream;
  SABLE_CUBLAS_OK(cublasLtCreate(&ws->lt));
  SABLE_CUDA_OK(cudaMalloc(&ws->lt_ws, kLtWorkspace));
  ws->lt_ws_bytes = kLtWorkspace;
  GemmWorkspace* raw = ws.get();
  r.emplace(stream, std::move(ws));
  return raw;
}

void release_gemm_workspace(cudaStream_t stream) {
  std::unique_ptr<GemmWorkspace> ws;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = registry().find(stream);
    if (it == registry().end()) return;
    ws = std::move(it->second);
    registry().erase(it);
  }
  // Best effort, as at exit: errors are ignored.
  if (ws->lt) cublasLtDestroy(ws->lt);
  if (ws->lt_ws) cudaFree(ws->lt_ws);
  if (ws->arena) cudaFree(ws->arena);
  for (char* p : ws->retired) cudaFree(p);
}

char* gemm_arena(GemmWorkspace* ws, size_t bytes) {
  auto capturing = [ws] {
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    SABLE_CUDA_OK(cudaStreamIsCapturing(ws->stream, &cap));
    return cap != cudaStreamCaptureStatusNone;
  };
  if (bytes <= ws->arena_bytes) {
    // Asked only until a capture is seen: GEMM calls are per op in eager mode.
    if (!ws->arena_in_graph) ws->arena_in_graph = capturing();
    return ws->arena;
  }
  SABLE_GEMM_REQUIRE(!capturing(), "GEMM workspace too small during graph capture: call reserve_gemm_workspace first");
  if (ws->arena) {
    if (ws->arena_in_graph) {
      // A captured CUDA graph reads and writes this arena; freeing it would
      // let a later replay write freed memory (two model runners on one
      // stream, or a growth after capture). Kept for the process.
      ws->retired.push_back(ws->arena);
    } else {
      SABLE_CUDA_OK(cudaStreamSynchronize(ws->stream));  // earlier work may still use it
      SABLE_CUDA_OK(cudaFree(ws->arena));
    }
  }
  ws->arena_in_graph = false;
  const size_t grown = round_up(int64_t(bytes + bytes / 4), 1 << 20);
  SABLE_CUDA_OK(cudaMalloc(&ws->arena, grown));
  ws->arena_bytes = grown;
  return ws->arena;
}

namespace {
__global__ void copy16_kernel(uint4* __restrict__ dst, const uint4* __restrict__ src, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    dst[i] = src[i];
}
}  // namespace

void copy_device(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  SABLE_GEMM_REQUIRE(bytes % 16 == 0, "copy_device: bytes % 16 != 0");
  copy16_kernel<<<132 * 8, 512, 0, stream>>>(static_cast<uint4*>(dst), static_cast<const uint4*>(src), bytes / 16);
  SABLE_LAUNCH_OK();
}

}  // namespace sable::cuda
