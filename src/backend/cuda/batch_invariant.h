// Batch-invariant mode (vLLM's VLLM_BATCH_INVARIANT): a token's output is
// bitwise the same whatever else is in the batch.
//
// By default the CUDA ops pick kernels and work splits from the batch:
// linear() chooses the streaming kernel or cuBLASLt, and a split-K factor,
// from the token count; paged MLA attention splits each sequence's keys into
// more ranges when few sequences fill the GPU. Those sum in different orders,
// so a row's bits depend on how many rows share the call: harmless for
// quality, but greedy outputs can then differ between a request alone and in
// a batch (seen with FP8 on the H200: 10 of 32 fixture prompts).
//
// In this mode linear() (default path) always takes the streaming kernel
// without split-K, whose per-output summation order depends on K alone (each
// n-tile is reduced the same way whatever the tile count), and attention
// never splits the keys (one block walks a row's keys in order). The MoE
// experts (always the streaming kernel, no split-K) and the per-token
// activation quantization are batch-invariant in either mode. The model keeps
// MLA prefill in the absorbed form (Backend::batch_invariant), since whether
// a chunk takes the expanded form depends on how the scheduler cut it. The cost:
// prefill GEMMs leave cuBLASLt, and decode of few long sequences loses
// split-K and split-KV parallelism.
//
// On from SABLE_BATCH_INVARIANT=1 or VLLM_BATCH_INVARIANT=1, or
// --batch-invariant (CudaBackendOptions::batch_invariant). Not thread-safe:
// set it before work is launched.
#pragma once

namespace sable::cuda {

void set_batch_invariant(bool on);
bool batch_invariant();

}  // namespace sable::cuda
