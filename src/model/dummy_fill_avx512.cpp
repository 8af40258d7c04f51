// The avx512 variant of the dummy weights' loops (model/dummy_fill.h).
#include "core/dtype.h"
#include "core/rng.h"
#include "model/dummy_fill.h"

namespace sable {
namespace dummy_avx512 {
constexpr const char* kIsaName = "avx512";
#include "model/dummy_fill_loops.inc"
}  // namespace dummy_avx512

const DummyFillKernels& dummy_fill_kernels_avx512() { return dummy_avx512::kKernels; }

}  // namespace sable
