// The scalar variant of the dummy weights' loops (model/dummy_fill.h).
#include "core/dtype.h"
#include "core/rng.h"
#include "model/dummy_fill.h"

namespace sable {
namespace dummy_scalar {
constexpr const char* kIsaName = "scalar";
#include "model/dummy_fill_loops.inc"
}  // namespace dummy_scalar

const DummyFillKernels& dummy_fill_kernels_scalar() { return dummy_scalar::kKernels; }

}  // namespace sable
