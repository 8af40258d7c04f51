// Choosing a backend by name: "cpu", "cuda", or "auto" (CUDA when this build
// has it and a GPU is present). Keeps #ifdef SABLE_HAVE_CUDA in one place.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "dist/communicator.h"

namespace sable {

struct BackendOptions {
  // --quantization fp8: backends that quantize faster themselves (CUDA) do it
  // in prepare_linear; see quantizes_at_prepare().
  bool quantize_fp8 = false;
  // --batch-invariant: a request's tokens do not depend on what else is in
  // the batch (the CPU backend always is; on CUDA it costs throughput).
  bool batch_invariant = false;
};

bool cuda_available();
// The split rule CUDA graphs' MLA decode would run (Backend::
// mla_graph_split_rule), without a device: the CUDA build's knob
// mla-graph-splits (SABLE_MLA_GRAPH_SPLITS), kGraph in a build without CUDA.
// For plans made without a GPU (serve --dry-run --plan-device-memory-gib).
MlaSplitRule cuda_mla_graph_split_rule();

// The backends and communicators of a tensor-parallel group of `size` ranks
// whose rank 0 is `primary`. CPU: the CPU backend for every rank and the
// single-process stand-in (dist/local_group.h). CUDA: backends with
// primary's options on the next size - 1 devices, and NCCL; not validated
// on GPUs yet, so asked for explicitly (SABLE_CUDA_TENSOR_PARALLEL=1).
// Returns with the calling thread bound to primary's device.
struct RankBackends {
  std::vector<Backend*> backends;               // [rank]
  std::vector<std::unique_ptr<Backend>> owned;  // the ones created here
  std::vector<std::unique_ptr<Communicator>> comms;
};
Result<RankBackends> make_rank_backends(Backend& primary, int size);
// Whether SABLE_CUDA_TENSOR_PARALLEL=1 opts in to tensor parallelism across GPUs.
bool cuda_tensor_parallel_opted_in();
// The backend for a device name; the CUDA backend is created on first use
// (one per process) with the given options.
Result<Backend*> select_backend_by_name(const std::string& device, const BackendOptions& opts = {});
// True when the backend quantizes BF16 weights to FP8 itself at prepare time
// (so the model loader should not).
bool quantizes_at_prepare(const Backend& b);

}  // namespace sable
