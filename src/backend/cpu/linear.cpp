#include <cassert>

#include "backend/cpu/gemm_parallel.h"
#include "backend/cpu/ops.h"

namespace sable::cpu {

// out = x W^T with W in its stored dtype: the ISA's nt kernel (gemm.h) over
// the pool. Decode streams each weight byte once, converting in registers;
// larger batches convert L2-sized panels of rows to float32 once and reuse
// them for every token. Results are batch-invariant (gemm.h).
void linear(const Tensor& x, const LinearWeight& w, Tensor& out) {
  const int64_t T = x.dim(0), in = w.in_features(), n_out = w.out_features();
  assert(x.dim(1) == in && out.dim(0) == T && out.dim(1) == n_out);
  assert(x.dtype() == DType::F32 && out.dtype() == DType::F32);
  (void)in;
  GemmNT a = nt_weight(w);
  a.x = x.ptr<float>();
  a.ldx = x.dim(1);
  a.y = out.ptr<float>();
  a.ldy = n_out;
  nt_parallel(a, n_out, T);
}

}  // namespace sable::cpu
