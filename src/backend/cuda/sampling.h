// Token sampling on the GPU, for the engine: penalties, temperature, min-p,
// top-k, top-p, and greedy argmax, over F32 logits [N, V] on the device.
//
// Reproducibility: a sampled token depends only on the row's logits, its
// parameters, its seed and its step, never on the batch it shares: every
// reduction runs inside one block per row with a fixed order (integer
// atomics only), and the randomness is Philox4x32-10 keyed by the seed with
// the counter (token index / 4, step), consumed through the Gumbel-max trick
// (argmax of x_i + Gumbel noise samples softmax(x) exactly). Same seed + step
// + logits => same token, whatever the batch.
//
// Speculative decoding (SamplingParams::draft): a random row that verifies a
// draft token d accepts it with d's probability under the row's processed,
// filtered distribution (a uniform from its own Philox stream against
// p(d)), and otherwise draws from that distribution without d, the residual
// of vLLM's rejection sampler for a one-hot draft; the row's token is d
// exactly when d was accepted. Greedy rows take the argmax, as always (the
// draft is accepted when it is the argmax).
//
// Order (as vLLM): penalties on raw logits; then temperature; min-p; top-k;
// top-p over what min-p and top-k kept; then the draw. Every filter keeps
// "all tokens at or above a threshold", so ties at a top-k/top-p boundary are
// all kept (a top-k of 50 may keep 51 tokens when two share the 50th value).
//
// All functions launch on `stream`, allocate nothing and do not synchronize:
// they can be captured in a CUDA graph.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/tensor.h"

namespace sable::cuda {

// Per-row parameters: device arrays of N entries; a null array means "off"
// for every row (temperature null = greedy for every row).
struct SamplingParams {
  const float* temperature = nullptr;  // <= 0: greedy (argmax)
  const int32_t* top_k = nullptr;      // <= 0 or >= V: off; 1: greedy
  const float* top_p = nullptr;        // >= 1: off
  const float* min_p = nullptr;        // <= 0: off (keep p >= min_p * p_max)
  const uint64_t* seed = nullptr;      // the request's seed
  const int64_t* step = nullptr;       // tokens the request has generated so far
  const int32_t* draft = nullptr;      // a draft token the row verifies; < 0 or null: none
};

// Penalties (vLLM semantics): repetition divides positive / multiplies
// negative logits of every token seen in the prompt or the output; frequency
// subtracts freq * count and presence subtracts pres once, for tokens of the
// output. Token histories are CSR lists over rows (device arrays).
struct PenaltyParams {
  const float* repetition = nullptr;      // [N]; 1: off
  const float* presence = nullptr;        // [N]; 0: off
  const float* frequency = nullptr;       // [N]; 0: off
  const int32_t* prompt_offsets = nullptr;  // [N + 1]
  const int32_t* prompt_ids = nullptr;
  const int32_t* output_offsets = nullptr;  // [N + 1]
  const int32_t* output_ids = nullptr;
};

// Scratch for apply_penalties: an I32 [max_rows, V] count table kept at zero
// between calls (each call clears exactly what it set).
class SamplingWorkspace {
 public:
  SamplingWorkspace(Allocator& alloc, int max_rows, int vocab, cudaStream_t stream);
  int max_rows() const { return max_rows_; }
  int vocab() const { return vocab_; }
  int32_t* counts() const { return counts_.ptr<int32_t>(); }

 private:
  Tensor counts_;
  int max_rows_, vocab_;
};

// logits F32 [N, V], modified in place. N <= ws.max_rows(), V == ws.vocab().
void apply_penalties(Tensor& logits, const PenaltyParams& p, SamplingWorkspace& ws, cudaStream_t stream);

// out I32 [N]: the index of each row's largest logit (lowest index on ties;
// NaN never wins).
void argmax(const Tensor& logits, Tensor& out, cudaStream_t stream);

// out I32 [N]: one token per row drawn from softmax(logits / T) after min-p,
// top-k, top-p; greedy rows take the argmax. logits F32 [N, V], unchanged.
void sample(const Tensor& logits, const SamplingParams& p, Tensor& out, cudaStream_t stream);

}  // namespace sable::cuda
