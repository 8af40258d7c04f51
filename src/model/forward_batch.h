// One step's work for the model, as plain host arrays: the runner builds it
// from the scheduled sequences, the model uploads it and runs. Tokens of a
// sequence are contiguous and in position order.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "core/tensor.h"

namespace sable {

struct ForwardBatch {
  std::vector<int32_t> token_ids;     // [T]
  std::vector<int32_t> positions;     // [T]
  std::vector<int32_t> token_seq;     // [T] index into the sequences below
  std::vector<int32_t> slot_mapping;  // [T] cache slot = block * block_size + offset
  std::vector<int32_t> seq_lens;      // [S] context length after this step
  std::vector<int32_t> block_tables;  // [S * max_blocks], unused entries 0
  int max_blocks = 0;
  int block_size = 0;  // tokens per cache block (0: unknown, no expanded-form prefill)
  std::vector<int32_t> logits_indices;  // rows of T whose logits are wanted
  // Keep every row's final hidden state (after the model's norm) on the
  // model, for DeepseekV3Model::forward_mtp (speculative decoding).
  bool keep_hidden = false;

  int num_tokens() const { return int(token_ids.size()); }
  int num_seqs() const { return int(seq_lens.size()); }
};

// A sequence of the batch whose attention runs in MLA's expanded form (a
// long query chunk: see DeepseekV3Model::set_mla_prefill).
struct ExpandedSeq {
  int token_begin = 0;  // its query rows are [token_begin, token_begin + num_tokens)
  int num_tokens = 0;
  int seq_len = 0;      // keys 0..seq_len-1, the last num_tokens of them its own
  Tensor key_slots;     // I32 [seq_len] on the device: cache slot of each key
};

// A ForwardBatch on the backend's device.
struct DeviceBatch {
  Tensor token_ids;       // I32 [T]
  Tensor logits_indices;  // I32 [N]
  bool logits_all_rows = false;  // logits_indices is 0..T-1 (decode): lm_head reads the rows in place
  bool keep_hidden = false;      // ForwardBatch::keep_hidden
  // When set: the logits are written to its first N rows (F32 [>= N,
  // vocab]) instead of a new tensor, so that a runner's CUDA graphs share
  // one output buffer rather than each holding its own.
  Tensor logits_out;
  AttentionMetadata attn;
  // When `expanded` is not empty: the rows that take the absorbed (paged)
  // attention, the batch's first absorbed.num_tokens tokens and
  // absorbed.num_seqs sequences (views of attn); the expanded sequences are
  // the rest of the batch, in order. Unused otherwise (attn covers all rows).
  AttentionMetadata absorbed;
  std::vector<ExpandedSeq> expanded;
};

// The paged latent cache as the model sees it: one tensor per layer,
// [num_blocks, block_size, kv_lora_rank + qk_rope_head_dim], on the backend's
// device. Allocated and owned by the runner (runner/kv_pool.h).
//
// Under tensor parallelism every rank holds the whole latent cache (MLA's
// latent is shared by all heads, and the heads are what is split): `peers`
// are ranks 1.. of the group, same shapes, on their own devices; rank 0's
// model fans each forward out to them.
struct KvCache {
  std::vector<Tensor> layers;
  int num_blocks = 0;
  int block_size = 0;
  std::vector<KvCache> peers;
};

}  // namespace sable
