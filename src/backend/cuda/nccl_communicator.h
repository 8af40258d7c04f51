// The Communicator of dist/ over NCCL, for the ranks of a tensor-parallel
// group on distinct GPUs of this process (ncclCommInitAll). Collectives are
// enqueued on each rank's backend stream, so they are ordered with its ops
// and recorded into its CUDA graphs.
//
// NCCL is loaded at run time (dlopen of libnccl.so.2) rather than linked: a
// CUDA build then starts where NCCL is absent (one GPU needs none), and a
// tensor-parallel start there says what is missing.
#pragma once

#include <memory>
#include <vector>

#include "core/status.h"
#include "dist/communicator.h"

namespace sable::cuda {

class CudaBackend;

// One communicator per backend, rank r on ranks[r]'s device (all distinct).
Result<std::vector<std::unique_ptr<Communicator>>> make_nccl_group(const std::vector<CudaBackend*>& ranks);

}  // namespace sable::cuda
