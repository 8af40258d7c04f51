// Running the matrix kernels (gemm.h) across the compute pool. Work is cut
// into whole register tiles of rows (and, for large batches, into panels x
// token ranges); since each output's arithmetic is fixed (gemm.h), results
// do not depend on the cut or on which thread runs which piece, so pieces
// are handed out dynamically.
#pragma once

#include <cstdint>
#include <functional>

#include "backend/cpu/gemm.h"
#include "backend/linear_weight.h"

namespace sable::cpu {

// The weight fields of an nt problem for `w` (x and y left for the caller).
GemmNT nt_weight(const LinearWeight& w);

// Weight rows per work item for a problem of T tokens: a register tile
// multiple for decode, an L2 panel for larger T.
int64_t nt_rows_per_item(const GemmNT& a, int64_t n_out, int64_t T);

// y = nt over rows [0, n_out) x tokens [0, T), on the global pool.
void nt_parallel(const GemmNT& a, int64_t n_out, int64_t T);

// Calls fn(i) for i in [0, n) on the global pool, items taken in order by
// whichever thread is free (the calling thread included).
void parallel_items(int64_t n, const std::function<void(int64_t)>& fn);

}  // namespace sable::cpu
