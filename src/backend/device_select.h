// Choosing a backend by name: "cpu", "cuda", or "auto" (CUDA when this build
// has it and a GPU is present). Keeps #ifdef SABLE_HAVE_CUDA in one place.
#pragma once

#include <string>

#include "backend/backend.h"
#include "core/status.h"

namespace sable {

bool cuda_available();
Result<Backend*> select_backend_by_name(const std::string& device);

}  // namespace sable
