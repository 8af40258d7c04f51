#include "backend/device_select.h"

#ifdef SABLE_HAVE_CUDA
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

Result<Backend*> select_backend_by_name(const std::string& device) {
  if (device == "cpu") return &cpu_backend();
  if (device == "auto") {
    // The CUDA backend is wired in once it implements the whole op table.
    return &cpu_backend();
  }
  if (device == "cuda") {
#ifdef SABLE_HAVE_CUDA
    if (!cuda_available()) return unavailable("--device cuda: no CUDA device is visible to this process");
    return unimplemented("--device cuda: the CUDA backend is not wired in yet; use --device cpu");
#else
    return unavailable("--device cuda: this build has no CUDA support (nvcc was not found at build time); "
                       "use --device cpu or rebuild with the CUDA toolkit");
#endif
  }
  return invalid_argument("--device must be auto, cpu or cuda, got '" + device + "'");
}

}  // namespace sable
