#include "backend/device_select.h"

#include <memory>
#include <mutex>

#ifdef SABLE_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/device_info.h"
#endif

namespace sable {

bool cuda_available() {
#ifdef SABLE_HAVE_CUDA
  return cuda::device_count() > 0;
#else
  return false;
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
