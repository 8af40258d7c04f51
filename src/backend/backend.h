// The backend op table: every numeric operation the model needs. The model
// (model/) is written as calls to these; cpu/ and cuda/ implement them, one
// op per file, and each CUDA op is tested against its CPU sibling.
//
// Conventions: all tensors live on the backend's device; activations use
// activation_dtype() (F32 on CPU, BF16 on CUDA) unless a signature says F32;
// shapes are in the comments; T = tokens in the batch, H = hidden size.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "backend/linear_weight.h"
#include "backend/mla_splits.h"
#include "core/tensor.h"

namespace sable {

// Rotary embedding parameters, precomputed on the host from the config
// (YaRN-corrected inverse frequencies and the cos/sin attention factor).
struct RopeParams {
  Tensor inv_freq;              // F32 [rope_dim / 2], on the backend's device
  float attention_factor = 1.f; // multiplies cos and sin (YaRN mscale ratio)
  bool interleaved = true;      // pairs (x0,x1),(x2,x3) (DeepSeek) vs halves
};

// noaux_tc group-limited routing (see model/DESIGN in shared/DESIGN.md).
struct MoeRoutingParams {
  int num_experts = 0;
  int top_k = 0;
  int n_group = 1;
  int topk_group = 1;
  bool norm_topk_prob = true;
  float routed_scaling_factor = 1.f;
  // Shared experts packed after the routed ones (experts num_experts ..
  // num_experts + num_shared - 1, SGLang's shared-expert fusion): every token
  // also takes each of them, with weight 1, in columns top_k .. top_k +
  // num_shared - 1 of the outputs.
  int num_shared = 0;
  // Expert parallelism: this rank holds the routed experts [expert_begin,
  // expert_begin + local_experts) of the num_experts the router scores. The
  // routing is computed over all of them (the same on every rank); an id
  // written is then relative to expert_begin, and -1 for an expert another
  // rank holds (moe_experts skips it; its weight is kept). Fused shared
  // experts follow the rank's own: local_experts + j. 0: every expert here.
  int expert_begin = 0;
  int local_experts = 0;
};

// Where each token of the batch reads and writes the paged latent cache.
// Token t belongs to sequence token_seq[t], sits at position positions[t],
// sees keys at positions [0, positions[t]] of its sequence, and writes its
// own latent to slot slot_mapping[t] (= block * block_size + offset).
struct AttentionMetadata {
  Tensor positions;     // I32 [T]
  Tensor token_seq;     // I32 [T]
  Tensor slot_mapping;  // I32 [T]
  Tensor seq_lens;      // I32 [S]: keys visible to the sequence's last token
  Tensor block_tables;  // I32 [S, max_blocks]
  int num_seqs = 0;
  int max_blocks = 0;
  int max_seq_len = 0;  // max of seq_lens
  // max_seq_len bounds seq_lens instead of being their max: a CUDA graph
  // replays at every context up to it, so its work splits must suit them all.
  bool max_seq_len_bound = false;
  int num_tokens = 0;
  bool all_decode = false;  // every sequence contributes exactly one token
};

// One row's parameters for Backend::sample_tokens (vLLM's order: temperature,
// min-p, top-k, top-p, then the draw).
struct TokenSamplingRow {
  float temperature = 0;  // 0: greedy (argmax, lowest id on ties)
  int32_t top_k = 0;      // <= 0: off
  float top_p = 1;        // >= 1: off
  float min_p = 0;        // <= 0: off
  uint64_t seed = 0;      // with step, the only source of randomness: a row's
  int64_t step = 0;       // token never depends on the rest of the batch
  // Speculative decoding: a draft token this row verifies (< 0: none). A
  // random row then gives the draft with its probability under the row's
  // filtered distribution, else a draw from that distribution without it
  // (lossless rejection sampling); a greedy row gives its argmax. The
  // draft was accepted exactly when the row's token equals it.
  int32_t draft = -1;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual Device device() const = 0;
  virtual Allocator& allocator() = 0;
  virtual DType activation_dtype() const = 0;
  // Whether every op's result for a row is independent of the other rows and
  // of how a sequence is split into steps (the CPU backend always; CUDA under
  // --batch-invariant). The model then keeps one attention form for all rows.
  virtual bool batch_invariant() const { return false; }

  // ---- memory ----
  // A device copy of a host tensor (CPU: returns the tensor itself).
  virtual Tensor to_device(const Tensor& host) = 0;
  // Copies a device tensor into host memory of nbytes().
  virtual void copy_to_host(const Tensor& src, void* dst) = 0;
  // Uninitialised device tensor.
  Tensor empty(DType dtype, Shape shape) { return Tensor::empty(dtype, shape, allocator()); }
  // A device tensor of zero bytes, whatever the allocator's zero fill (the
  // KV cache: attention kernels multiply the keys past a sequence's end by
  // zero weights, which NaN bit patterns would survive).
  Tensor zeros(DType dtype, Shape shape) { return Tensor::zeros(dtype, shape, allocator()); }
  // Puts a weight in the form this backend's linear() wants (upload, repack).
  virtual void prepare_linear(LinearWeight& w) = 0;
  virtual void prepare_experts(MoeExperts& e) = 0;
  virtual void synchronize() {}
  // Makes the calling thread use this backend's device (CUDA: the current
  // device, which cudaMalloc and kernel launches use). Threads that run a
  // tensor-parallel rank call it once before any other call.
  virtual void bind_thread() {}
  // Copies host bytes into an existing device tensor (all of it), ordered
  // with the work queued on the backend. src may be reused on return; the
  // copy itself may still be queued (CUDA stages small ones in pinned memory
  // rather than wait for the stream).
  virtual void copy_from_host(const void* src, Tensor& dst) = 0;
  // Copies `rows` rows of `width` bytes, src_pitch bytes apart on the host,
  // into dst from byte `offset` on, dst_pitch bytes apart: a block of the
  // columns of a 2-D array (a decode graph's block tables, of which a step
  // uses the first few columns). Ordered and staged as copy_from_host.
  virtual void copy_from_host_2d(const void* src, size_t src_pitch, Tensor& dst, size_t offset, size_t dst_pitch,
                                 size_t width, size_t rows) = 0;

  // CUDA graphs: records the device work that fn() enqueues into a graph
  // that replay_graph() re-runs with the same buffers. Memory allocated
  // inside fn() stays reserved for the graph, in `pool`: 0 for a pool of the
  // graph's own, or one from new_graph_pool() that several graphs share
  // (they must never replay at once, and must hold every tensor of theirs
  // read after a replay: memory freed inside one capture is reused by the
  // next). nullptr where unsupported (the CPU backend), and the caller runs
  // eagerly.
  virtual std::shared_ptr<void> capture_graph(const std::function<void()>& fn, int pool) { return nullptr; }
  virtual int new_graph_pool() { return 0; }
  virtual void replay_graph(void* graph) {}
  // Kernel launches a captured graph holds (-1 where unknown): what a step
  // at few tokens pays a launch and a dependent hand-off for.
  virtual int graph_kernels(const void* graph) const { return -1; }
  // Its memset nodes (the allocator's zero fill captured), or -1.
  virtual int graph_memsets(const void* graph) const { return -1; }

  // Streaming multiprocessors of the device (what split-K kernels size their
  // splits by, and so the memory planner its partials); 0 where not a GPU.
  virtual int multiprocessors() const { return 0; }
  // The rule that sets a captured decode graph's MLA split count (so the
  // memory planner sizes the graphs' partials by it).
  virtual MlaSplitRule mla_graph_split_rule() const { return MlaSplitRule::kGraph; }
  // Free and total bytes of the device's memory; false where not meaningful
  // (the CPU backend: its KV budget is a flag).
  virtual bool memory_info(size_t* free_bytes, size_t* total_bytes) { return false; }

  // ---- ops ----
  // out[t] = table[ids[t] - row_begin]. ids I32 [T]; table [V, H] (any float
  // dtype): rows [row_begin, row_begin + V) of the vocabulary (under tensor
  // parallelism a rank's part; else row_begin 0 and the whole of it); out
  // [T, H]. An id outside the table's rows (another rank's) gives a zero row,
  // so the ranks' outputs sum to the embedding.
  virtual void embedding(const Tensor& ids, const Tensor& table, int64_t row_begin, Tensor& out) = 0;

  // out = x / rms(x) * weight, per row. x, out [T, D]; weight [D] (any float dtype).
  virtual void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) = 0;

  // residual += x; out = rms_norm(residual) * weight. All [T, D].
  virtual void add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& weight, float eps,
                            Tensor& out) = 0;

  // out = x W^T. x [T, in] activations; out [T, out] in out.dtype() (the
  // activation dtype, or F32 where the caller needs full precision).
  virtual void linear(const Tensor& x, const LinearWeight& w, Tensor& out) = 0;

  // The front of MLA attention as one fused step, where the backend has one
  // for these shapes (CUDA: one decode token, FP8 weights, not batch-invariant
  // mode): residual += prev (prev null: no add), h = rms_norm(residual) *
  // input_ln, qkv = h W_qkv_a^T (q_a | kv_a), q = rms_norm(qkv[:, :q_lora]) *
  // q_a_ln W_q_b^T. Returns false, having done nothing, where it has none.
  virtual bool mla_front(Tensor& residual, const Tensor* prev, const Tensor& input_ln, float eps,
                         const LinearWeight& w_qkv_a, const Tensor& q_a_ln, const LinearWeight& w_q_b, Tensor& qkv,
                         Tensor& q) {
    return false;
  }
  // Whether mla_front may run for a step of this many tokens (asked before
  // the model allocates its outputs; mla_front may still decline the shapes).
  virtual bool has_mla_front(int64_t tokens) const { return false; }

  // out = silu(gate) * up. gate, up, out [T, I].
  virtual void silu_and_mul(const Tensor& gate, const Tensor& up, Tensor& out) = 0;

  // In place rotary embedding of x[t, h, offset : offset + rope_dim] by
  // positions[t]. x [T, heads, head_stride].
  virtual void rope(Tensor& x, int offset, int rope_dim, const Tensor& positions,
                    const RopeParams& p) = 0;

  // Group-limited top-k routing. router_logits F32 [T, E]; bias F32 [E] (or
  // undefined); topk_ids I32 [T, K + num_shared]; topk_weights F32 [T, K +
  // num_shared].
  virtual void moe_route(const Tensor& router_logits, const Tensor& bias, const MoeRoutingParams& p,
                         Tensor& topk_ids, Tensor& topk_weights) = 0;

  // out[t] = sum_k topk_weights[t,k] * expert_{topk_ids[t,k]}(x[t]), where an
  // expert is down(silu(gate x) * up x). x, out [T, H]. Ids < 0 (experts of
  // another expert-parallel rank) add nothing; a token with none here gets 0.
  virtual void moe_experts(const Tensor& x, const Tensor& topk_ids, const Tensor& topk_weights,
                           const MoeExperts& w, Tensor& out) = 0;

  // Per-head matmul: out[t, h] = x[t, h] @ W[h] with W [heads, K, N], or
  // x[t, h] @ W[h]^T with W [heads, N, K] when transposed. x [T, heads, K];
  // out [T, heads, N]; W in any float dtype. MLA uses it to take W_UV out of
  // the attention's latent output.
  virtual void head_matmul(const Tensor& x, const Tensor& w, bool transposed, Tensor& out) = 0;

  // MLA query absorption: q [T, heads, nope + rope]; w_uk [heads, nope,
  // kv_lora]. Writes q_latent [T, heads, kv_lora + rope] = [q_nope @ W_UK[h]
  // | q_rope]. With rope_positions ([T] I32) and rope, q's rope part is not
  // rotated yet and q_latent's is rotated at those positions: the same bits
  // as rope() on q first, in one launch fewer at decode. Both null: q's rope
  // part is copied as it is.
  virtual void mla_absorb_q(const Tensor& q, const Tensor& w_uk, Tensor& q_latent, const Tensor* rope_positions,
                            const RopeParams* rope) = 0;

  // The KV write into the paged latent cache: kv [T, kv_lora + rope] is the
  // output of kv_a_proj_with_mqa; c_kv = rms_norm(kv[:, :kv_lora]) * norm_w
  // and k_pe = rope(kv[:, kv_lora:], positions) go to each token's slot.
  // cache [num_blocks, block_size, kv_lora + rope].
  virtual void mla_write_kv(const Tensor& kv, const Tensor& norm_w, float eps, const RopeParams& rope,
                            const AttentionMetadata& m, Tensor& cache) = 0;

  // Absorbed multi-head latent attention over the paged cache (FlashMLA's
  // formulation): scores = q . k over all L = kv_lora + rope dims of the
  // latent, values are its first `v_dim` (= kv_lora) dims; causal through
  // positions (token t sees keys [0, positions[t]] of its sequence).
  // q [T, heads, L]; cache [num_blocks, block_size, L]; out [T, heads, v_dim].
  virtual void mla_attention(const Tensor& q, const Tensor& cache, const AttentionMetadata& m,
                             float softmax_scale, int v_dim, Tensor& out) = 0;

  // ---- MLA prefill in the expanded form (vLLM's / FlashMLA's prefill path) ----
  // For long query chunks the latent context is up-projected through kv_b_proj
  // (K_nope and V per head) and attention runs at head dims nope + rope / v,
  // ~3.4x fewer FLOPs than the absorbed form (DeepSeek-V3: 640 vs 2,176 per
  // head and query-key pair).
  //
  // Reads the latents of `slots` (I32 [n], cache slot = block * block_size +
  // offset) out of cache [num_blocks, block_size, kv_lora + rope] into c_kv
  // [n, kv_lora] and k_pe [n, rope] (both contiguous, the cache's dtype
  // converted to theirs).
  virtual void mla_read_kv(const Tensor& cache, const Tensor& slots, Tensor& c_kv, Tensor& k_pe) = 0;

  // Causal attention of one sequence's query rows over one chunk of its keys.
  // q [Tq, heads, nope + rope] (rope part rotated), query row i at position
  // q_pos0 + i; kv [n, heads, nope + v] = kv_b_proj(c_kv) per key (k_nope then
  // v for each head); k_pe [n, rope] shared by all heads; key j at position
  // k_pos0 + j; row i sees key j iff k_pos0 + j <= q_pos0 + i.
  // out [Tq, heads, v]; lse F32 [Tq, heads] (natural-log sum of exp of the
  // scaled scores). accumulate == false: overwrite (a row that sees no key
  // gets out 0, lse -inf); true: merge this chunk into the (out, lse) already
  // there, as if both chunks had been one.
  virtual void mla_attention_expanded(const Tensor& q, const Tensor& kv, const Tensor& k_pe, int q_pos0, int k_pos0,
                                      float softmax_scale, bool accumulate, Tensor& out, Tensor& lse) = 0;

  // Elementwise a += b (same shape and dtype).
  virtual void add_inplace(Tensor& a, const Tensor& b) = 0;
  // Copies rows: out[i] = x[index[i]]. index I32 [N]; x [T, D]; out [N, D].
  virtual void gather_rows(const Tensor& x, const Tensor& index, Tensor& out) = 0;
  // Copies columns: out[t, :] = x[t, col0 : col0 + n]. x [T, D]; out [T, n],
  // same dtype (the parts of a fused projection's output).
  virtual void copy_columns(const Tensor& x, int64_t col0, Tensor& out) = 0;
  // Converts/copies src into dst (same shape, any float dtypes).
  virtual void convert(const Tensor& src, Tensor& dst) = 0;

  // ---- sampling ----
  // Draws one token per row of F32 logits [N, V] held by this backend into
  // tokens[N] on the host, so that only N ids cross to the host instead of
  // N x V logits. False where the backend has no sampler of its own (the
  // CPU backend: the engine's host sampler reads the logits in place).
  virtual bool sample_tokens(const Tensor& logits, const std::vector<TokenSamplingRow>& rows, int32_t* tokens) {
    return false;
  }
};

// The CPU backend (float32 activations), process-wide.
Backend& cpu_backend();

}  // namespace sable
