// ModelRunner's captured steps (model_runner.cpp captures and replays the
// model's, mtp_drafts.cpp the MTP module's): a header private to runner/.
#pragma once

#include <memory>
#include <vector>

#include "runner/memory_planner.h"
#include "runner/model_runner.h"

namespace sable {

// A captured step of `batch` sequences of q tokens each (T = batch * q): a
// decode step (q = 1) or a verification of q - 1 drafts, or (mtp) a step of
// the MTP module over q positions a sequence. Its inputs live in one device
// buffer (so a step uploads them with one copy), its logits and kept hidden
// states in the graph's pool.
struct ModelRunner::DecodeGraph {
  int batch = 0;
  int q = 1;
  bool mtp = false;
  // I32 sections, in order: token_ids, positions, token_seq, slot_mapping
  // [T]; seq_lens [batch]; logits_indices [logits_rows()]; [T]: the rows a
  // step returns (read after the replay, when some sequence has fewer than
  // q - 1 drafts), or for the MTP the rows of the kept hidden states it
  // reads; last the block tables [batch, max_blocks].
  Tensor packed;
  DeviceBatch inputs;
  Tensor logits;  // F32 [logits_rows(), vocab]
  Tensor hidden;  // [T, H] when the graphs keep hidden states (speculative decoding)
  Tensor h_in;    // MTP: F32 [T, H], its input hidden states, gathered before each replay
  std::shared_ptr<void> graph;
  std::vector<int32_t> host;  // staging for `packed`
  CudaGraphShape shape() const { return {q, batch, mtp}; }
  int tokens() const { return shape().tokens(); }
  int logits_rows() const { return shape().logits_rows(); }
  int64_t seq_lens_at() const { return 4 * int64_t(tokens()); }
  int64_t logits_at() const { return seq_lens_at() + batch; }
  int64_t rows_at() const { return logits_at() + logits_rows(); }
  int64_t tables_at() const { return rows_at() + tokens(); }
  int64_t packed_size(int max_blocks) const { return tables_at() + int64_t(batch) * max_blocks; }
  // Uploads `host` into `packed` (one rank's copy) in two copies: all before
  // the block tables, then of each table row only its first `width` entries,
  // the columns the step's sequences use (host holds them, padded to width).
  // A graph's tables are as wide as the longest context allowed, 10,240
  // entries a sequence at DeepSeek-V3's 163,840 tokens, and the kernels read
  // a sequence's entries only up to its length.
  void upload(Backend& be, Tensor& packed, int max_blocks, int width) const;
};

}  // namespace sable
