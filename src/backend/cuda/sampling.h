// Token sampling on the GPU, for the engine: penalties, temperature, min-p,
// top-k, top-p, and greedy argmax, over F32 logits [N, V] on the device.
//
// Reproducibility: a sampled token depends only on the row's logits, its
// parameters, its seed and its step, never on the batch it shares: a row is
// cut into chunks by V alone, every reduction is exact in any order (max,
// argmax, integer histograms) or folds the chunks in a fixed order, and the
// randomness is Philox4x32-10 keyed by the seed with
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
// All functions launch on `stream`, allocate nothing (sample() takes its
// scratch) and do not synchronize: they can be captured in a CUDA graph.
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
  // Host-side promises that skip kernels: false when no row draws at random
  // (temperature > 0 and top_k != 1), when no such row has a top-k in
  // (1, V), when none has a top-p < 1. true (the default) is always right.
  bool any_random = true, any_top_k = true, any_top_p = true;
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

// Device bytes sample() and argmax() need as scratch for N rows of V logits
// (~3.2 KB a row at DeepSeek-V3's vocabulary).
int64_t sample_scratch_bytes(int64_t N, int64_t V);
// Whether sample() on N rows reads its scratch (the split sampler, knob
// sampling-split below); when not, an empty tensor will do.
bool sample_uses_scratch(int64_t N);

// out I32 [N]: the index of each row's largest logit (lowest index on ties;
// NaN never wins).
void argmax(const Tensor& logits, Tensor& scratch, Tensor& out, cudaStream_t stream);

// out I32 [N]: one token per row drawn from softmax(logits / T) after min-p,
// top-k, top-p; greedy rows take the argmax. logits F32 [N, V], unchanged;
// scratch: at least sample_scratch_bytes(N, V) device bytes.
void sample(const Tensor& logits, const SamplingParams& p, Tensor& scratch, Tensor& out, cudaStream_t stream);

// Knob "sampling-split" (SABLE_SAMPLING_SPLIT): 0, one 1024-thread block a
// row (sampling_rows.cu, no scratch used); 1 (the default), rows split over
// blocks of 4,096 logits (sampling.cu) up to 64 rows, one block a row
// beyond; 2, always split. Every row's token is the same under all three
// (exact folds, fixed-point masses). False for other values.
bool set_sampling_split(int mode);
int sampling_split();
// The one-block-a-row sampler, as sample() with the knob at 0.
void sample_one_block_per_row(const Tensor& logits, const SamplingParams& p, Tensor& out, cudaStream_t stream);

}  // namespace sable::cuda
