// CUDA graphs for the CUDA backend: capture a function's stream work into an
// executable graph, with the allocations made during capture served from a
// graph pool of the caching allocator (the graph's own, or one a runner's
// graphs share), so that the memory the graph's kernels use never changes
// hands outside its graphs between replays.
#include <cstring>
#include <stdexcept>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"

namespace sable::cuda {

namespace {
struct Graph {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  ~Graph() {
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
  }
};
}  // namespace

void CudaBackend::copy_from_host(const void* src, Tensor& dst) {
  if (!dst.nbytes()) return;
  // Small copies go through pinned staging and return at once (a step's
  // inputs, sampling parameters); the rest wait, since the source is
  // pageable host memory the caller may reuse at once.
  if (dst.device() == Device::kCUDA && staging_->copy_to_device(dst.data(), src, dst.nbytes(), stream_)) return;
  SABLE_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src, dst.nbytes(), cudaMemcpyHostToDevice, stream_));
  SABLE_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy_from_host_2d(const void* src, size_t src_pitch, Tensor& dst, size_t offset, size_t dst_pitch,
                                    size_t width, size_t rows) {
  if (!rows || !width) return;
  if (offset + (rows - 1) * dst_pitch + width > dst.nbytes())
    throw std::invalid_argument("CudaBackend::copy_from_host_2d: the block does not fit the tensor");
  char* d = static_cast<char*>(dst.data()) + offset;
  if (staging_->copy_2d_to_device(d, dst_pitch, src, src_pitch, width, rows, stream_)) return;
  SABLE_CUDA_CHECK(cudaMemcpy2DAsync(d, dst_pitch, src, src_pitch, width, rows, cudaMemcpyHostToDevice, stream_));
  SABLE_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

std::shared_ptr<void> CudaBackend::capture_graph(const std::function<void()>& fn, int pool) {
  SABLE_CUDA_CHECK(cudaStreamSynchronize(stream_));
  const int prev = alloc_->current_pool();
  alloc_->set_current_pool(pool > 0 ? pool : next_graph_pool_++);
  auto g = std::make_shared<Graph>();
  // Relaxed: the caching allocator may cudaMalloc fresh memory for the
  // graph's private pool during capture (an allocation is not stream work;
  // the stricter modes refuse it).
  SABLE_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
  try {
    fn();
  } catch (...) {
    cudaGraph_t broken = nullptr;
    cudaStreamEndCapture(stream_, &broken);
    if (broken) cudaGraphDestroy(broken);
    cudaGetLastError();
    alloc_->set_current_pool(prev);
    throw;
  }
  SABLE_CUDA_CHECK(cudaStreamEndCapture(stream_, &g->graph));
  alloc_->set_current_pool(prev);
  SABLE_CUDA_CHECK(cudaGraphInstantiate(&g->exec, g->graph, 0));
  return g;
}

void CudaBackend::replay_graph(void* graph) {
  SABLE_CUDA_CHECK(cudaGraphLaunch(static_cast<Graph*>(graph)->exec, stream_));
}

namespace {
int count_nodes(const void* graph, cudaGraphNodeType type) {
  cudaGraph_t g = static_cast<const Graph*>(graph)->graph;
  size_t n = 0;
  SABLE_CUDA_CHECK(cudaGraphGetNodes(g, nullptr, &n));
  std::vector<cudaGraphNode_t> nodes(n);
  SABLE_CUDA_CHECK(cudaGraphGetNodes(g, nodes.data(), &n));
  int count = 0;
  for (cudaGraphNode_t node : nodes) {
    cudaGraphNodeType t{};
    SABLE_CUDA_CHECK(cudaGraphNodeGetType(node, &t));
    count += t == type;
  }
  return count;
}
}  // namespace

int CudaBackend::graph_kernels(const void* graph) const { return count_nodes(graph, cudaGraphNodeTypeKernel); }
int CudaBackend::graph_memsets(const void* graph) const { return count_nodes(graph, cudaGraphNodeTypeMemset); }

}  // namespace sable::cuda
