// The model runner: owns the KV pool and turns the scheduled sequences of a
// step into a ForwardBatch, runs the model, and hands back logits for the
// sequences that sample this step. It sees sequences only as token lists
// with block tables (RunnerSeq); scheduling stays in engine/.
//
// On backends with graphs (CUDA), decode steps replay CUDA graphs captured
// at start for a set of batch sizes (padded up to the next size), which
// removes the launch overhead of several hundred small kernels per step;
// --enforce-eager turns them off. With speculative decoding (k drafts),
// verification steps replay graphs of k + 1 tokens a sequence too (a
// sequence with fewer drafts is padded), every graph keeps its hidden
// states for the MTP module, and the MTP module's own calls replay graphs
// of the same shapes (runner/mtp_drafts.cpp).
#pragma once

#include <memory>
#include <vector>

#include "model/deepseek_v3.h"

namespace sable {

struct RunnerSeq {
  const std::vector<int32_t>* tokens = nullptr;
  int num_computed = 0;   // tokens already in the cache
  int num_new = 0;        // tokens to run now, from num_computed
  const std::vector<int>* block_table = nullptr;
  bool need_logits = false;  // sample after this step (last token's logits)
  // Logits rows of the first prompt_logits new tokens too (prompt logprobs),
  // after all the sampling rows, in sequence order.
  int prompt_logits = 0;
  // Speculative decoding: draft tokens that follow `tokens`, run after the
  // num_new ones (their cache slots are written; the engine keeps those of
  // the drafts it accepts). Needs need_logits: the sequence's sampling rows
  // are then 1 + drafts, its last new token's and each draft's, in order.
  const std::vector<int32_t>* draft = nullptr;
  int num_draft() const { return draft ? int(draft->size()) : 0; }
};

// A sequence of the last step for ModelRunner::propose_mtp.
struct MtpSeq {
  int step_seq = 0;  // its index in the last run_device() call
  // Positions [first, first + num) of that step's rows run through the MTP
  // module; the row of position p reads token (*tokens)[p + 1].
  int first = 0, num = 0;
  const std::vector<int32_t>* tokens = nullptr;   // prompt + generated, after the step's sampling
  const std::vector<int>* block_table = nullptr;  // covering position first + num + num_drafts - 2
  int num_drafts = 0;  // drafts wanted after the last position (0: the MTP cache is filled only)
};

// The CPU's KV cache budget when neither --kv-cache-memory nor --num-kv-blocks
// sets one (a GPU's is what --gpu-memory-utilization leaves).
constexpr int64_t kCpuKvCacheDefaultBytes = int64_t(1) << 30;

struct KvPoolOptions {
  int block_size = 16;
  int num_blocks = 0;          // explicit count (--num-kv-blocks)
  int64_t memory_bytes = 0;    // budget (--kv-cache-memory); 0: a default (kCpuKvCacheDefaultBytes on a CPU)
  DType dtype = DType::F32;
  // Devices that report their memory (CUDA): the KV budget is what
  // --gpu-memory-utilization leaves after weights, the activation peak and
  // the graphs.
  double gpu_memory_utilization = 0.9;
  int max_num_batched_tokens = 8192;
  int max_num_seqs = 256;
  int max_model_len = 0;
  bool enforce_eager = false;
  int num_speculative_tokens = 0;  // drafts a sequence verifies per step (k + 1 logits rows)
};

class ModelRunner {
 public:
  ModelRunner(DeepseekV3Model& model, const KvPoolOptions& opts);
  ~ModelRunner();

  // Blocks the scheduler may hand out (one more, for padding, is kept aside).
  int num_blocks() const { return num_blocks_; }
  int block_size() const { return cache_.block_size; }
  size_t kv_bytes() const;
  DeepseekV3Model& model() { return model_; }
  int num_graphs() const { return graphs_.empty() ? 0 : int(graphs_[0].size()); }
  // Device memory the captured graphs took (rank 0's; 0 without graphs),
  // and what the memory planner set aside for them (cuda_graph_bytes).
  int64_t graph_memory_bytes() const { return graph_memory_bytes_; }
  int64_t graph_memory_planned_bytes() const { return graph_memory_planned_; }
  // Whether the last run()/run_device() replayed a graph (tests, benchmarks).
  bool last_step_graphed() const { return last_graphed_; }

  // Runs one step. Returns float32 logits on the host, one row per sequence
  // with need_logits, in order, then the prompt_logits rows of each sequence.
  Result<Tensor> run(const std::vector<RunnerSeq>& seqs);
  // The same, leaving the logits on the device (valid until the next step).
  Result<Tensor> run_device(const std::vector<RunnerSeq>& seqs);
  // Copies one block's cache contents (all layers): copy-on-write for forks.
  void copy_block(int src, int dst);

  // Speculative decoding with the model's MTP module (runner/mtp_drafts.cpp).
  // On: every step keeps its hidden states for propose_mtp; it replays a
  // graph only where the graphs keep them (KvPoolOptions::
  // num_speculative_tokens > 0 at construction, unless SABLE_SPEC_GRAPHS=0),
  // else runs eagerly.
  void set_speculative(bool on) { speculative_ = on; }
  // Runs the MTP module over positions of the last run_device() step (their
  // hidden states), which fills its cache slots, then chains it from each
  // sequence's last position for num_drafts greedy drafts (vLLM's DeepSeek
  // MTP proposer: argmax, the MTP's own hidden state fed back). Returns the
  // drafts of each entry, in order.
  Result<std::vector<std::vector<int32_t>>> propose_mtp(const std::vector<MtpSeq>& seqs);
  // How many of the last propose_mtp()'s calls of the module replayed a
  // graph (tests, benchmarks).
  int last_mtp_graphed_calls() const { return last_mtp_graphed_; }
  // Whether propose_mtp replays the MTP module's graphs where they hold a
  // call (default); off runs it eagerly, for A/B measurements.
  void set_mtp_graphs(bool on) { use_mtp_graphs_ = on; }

 private:
  struct DecodeGraph;
  void capture_decode_graphs(const KvPoolOptions& o);
  // The graph a step can replay (an index into graphs_[rank]), or -1.
  int graph_for(const std::vector<RunnerSeq>& seqs) const;
  // Replays every rank's graph number `index` (graphs_[rank][index]).
  Tensor run_graph(size_t index, const std::vector<RunnerSeq>& seqs);
  // One call of the MTP module over b (each sequence's rows contiguous and in
  // position order, at most one logits row a sequence: its last), replaying
  // a graph where one holds it. Returns the greedy token of each logits row;
  // kept_rows[i] is the row of the module's kept hidden states that logits
  // row i's position has (what the next call of the chain reads).
  Result<std::vector<int32_t>> mtp_step(const ForwardBatch& b, const std::vector<int32_t>& hidden_rows,
                                        std::vector<int32_t>& kept_rows);

  DeepseekV3Model& model_;
  KvCache cache_;
  int num_blocks_ = 0;
  int pad_block_ = 0;   // written by padding rows of graph batches
  int graph_max_blocks_ = 0;
  // [rank][i], by tokens a sequence (1, then k + 1) and ascending batch
  // size; every rank has the same graphs.
  std::vector<std::vector<std::unique_ptr<DecodeGraph>>> graphs_;
  // [rank][i]: the MTP module's steps at the same shapes (speculative
  // decoding with a model that has it), empty otherwise.
  std::vector<std::vector<std::unique_ptr<DecodeGraph>>> mtp_graphs_;
  bool graphs_keep_hidden_ = false;
  int last_mtp_graphed_ = 0;
  int64_t graph_memory_bytes_ = 0, graph_memory_planned_ = 0;
  bool use_mtp_graphs_ = true;
  bool speculative_ = false;
  bool last_graphed_ = false;
  // The last eager step, per sequence in the caller's order: its first new
  // token's row and position (propose_mtp maps positions to rows).
  std::vector<int32_t> step_first_row_, step_first_pos_, step_num_rows_;
};

// Blocks that fit a budget for this model and dtype.
int kv_blocks_for_budget(const DeepseekV3Model& model, int64_t bytes, int block_size, DType dtype);

}  // namespace sable
