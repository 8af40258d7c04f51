#include "backend/device_select.h"

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "dist/local_group.h"

#ifdef SABLE_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/device_info.h"
#include "backend/cuda/nccl_communicator.h"
#include "backend/cuda/ops.h"
#endif

namespace sable {

bool cuda_available() {
#ifdef SABLE_HAVE_CUDA
  return cuda::device_count() > 0;
#else
  return false;
#endif
}

MlaSplitRule cuda_mla_graph_split_rule() {
#ifdef SABLE_HAVE_CUDA
  return cuda::mla_graph_split_rule();  // host code: reads the knob
#else
  return MlaSplitRule::kGraph;
#endif
}

bool cuda_tensor_parallel_opted_in() {
  const char* v = std::getenv("SABLE_CUDA_TENSOR_PARALLEL");
  return v && std::string(v) == "1";
}

Result<RankBackends> make_rank_backends(Backend& primary, int size) {
  RankBackends g;
  if (primary.device() == Device::kCPU) {
    g.backends.assign(size_t(size), &primary);
    g.comms = make_local_group(size);
    return g;
  }
  const std::string tp = "--tensor-parallel-size " + std::to_string(size);
#ifdef SABLE_HAVE_CUDA
  if (!cuda_tensor_parallel_opted_in())
    return unimplemented(tp + " on " + primary.name() +
                         ": tensor parallelism across GPUs (NCCL) is built but has not been validated on a "
                         "multi-GPU machine yet; set SABLE_CUDA_TENSOR_PARALLEL=1 to try it, or use "
                         "--tensor-parallel-size 1 with --quantization fp8");
  auto* p = dynamic_cast<cuda::CudaBackend*>(&primary);
  if (!p) return invalid_argument(tp + ": the primary backend is not a CUDA backend");
  const int first = p->device_index(), visible = cuda::device_count();
  if (first + size > visible)
    return resource_exhausted(tp + " needs " + std::to_string(size) + " GPUs from device " + std::to_string(first) +
                              "; this process sees " + std::to_string(visible) +
                              " (check CUDA_VISIBLE_DEVICES and the GPUs given to the container)");
  std::vector<cuda::CudaBackend*> ranks = {p};
  g.backends.push_back(p);
  for (int r = 1; r < size; ++r) {
    auto b = cuda::make_cuda_backend(first + r, p->options());  // binds this thread to its device
    ranks.push_back(b.get());
    g.backends.push_back(b.get());
    g.owned.push_back(std::move(b));
  }
  primary.bind_thread();
  SABLE_ASSIGN_OR_RETURN(g.comms, cuda::make_nccl_group(ranks));
  primary.bind_thread();
  return g;
#else
  return unimplemented(tp + " on " + primary.name() + ": this build has no CUDA support");
#endif
}

bool quantizes_at_prepare(const Backend& b) { return b.device() == Device::kCUDA; }

Result<Backend*> select_backend_by_name(const std::string& device, const BackendOptions& opts) {
  if (device == "cpu") return &cpu_backend();
  if (device != "auto" && device != "cuda")
    return invalid_argument("--device must be auto, cpu or cuda, got '" + device + "'");
  if (device == "auto" && !cuda_available()) return &cpu_backend();
#ifdef SABLE_HAVE_CUDA
  if (!cuda_available()) return unavailable("--device cuda: no CUDA device is visible to this process");
  static std::once_flag once;
  static std::unique_ptr<cuda::CudaBackend> backend;
  std::call_once(once, [&] {
    cuda::CudaBackendOptions o;
    o.quantize_fp8 = opts.quantize_fp8;
    o.batch_invariant = opts.batch_invariant;
    backend = std::make_unique<cuda::CudaBackend>(0, o);
  });
  return static_cast<Backend*>(backend.get());
#else
  return unavailable("--device cuda: this build has no CUDA support (nvcc was not found at build time); "
                     "use --device cpu or rebuild with the CUDA toolkit");
#endif
}

}  // namespace sable
