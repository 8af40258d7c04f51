// The avx2 variant of the dummy weights' loops (model/dummy_fill.h).
#include "core/dtype.h"
#include "core/rng.h"
#include "model/dummy_fill.h"

namespace sable {
namespace dummy_avx2 {
constexpr const char* kIsaName = "avx2";
#include "model/dummy_fill_loops.inc"
}  // namespace dummy_avx2

const DummyFillKernels& dummy_fill_kernels_avx2() { return dummy_avx2::kKernels; }

}  // namespace sable
