#include "model/deepseek_v3.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "backend/device_select.h"
#include "core/logging.h"
#include "core/thread_pool.h"
#include "dist/communicator.h"
#include "dist/rank_threads.h"

namespace sable {

// What rank 0 of a tensor-parallel group owns: every rank's communicator,
// the other ranks' models, one thread per rank, and on the CPU a compute
// pool per rank (one ThreadPool runs one parallel_for at a time).
struct DeepseekV3Model::TensorParallelGroup {
  // Declared first, destroyed last: the peers' tensors and the communicators
  // belong to them.
  std::vector<std::unique_ptr<Backend>> owned_backends;
  std::vector<std::unique_ptr<Communicator>> comms;
  std::vector<std::unique_ptr<ThreadPool>> pools;
  std::vector<std::unique_ptr<DeepseekV3Model>> peers;  // ranks 1..
  std::unique_ptr<RankThreads> threads;
};

DeepseekV3Model::~DeepseekV3Model() {
  // The threads go first: they may still point at the pools.
  if (group_) group_->threads.reset();
}

int DeepseekV3Model::tensor_parallel_size() const { return group_ ? int(group_->comms.size()) : 1; }

DeepseekV3Model::DeepseekV3Model(ModelConfig c, Backend& b, DeepseekV3Weights w, Communicator* comm)
    : config_(std::move(c)), backend_(b), weights_(std::move(w)), comm_(comm) {
  heads_ = config_.num_attention_heads / (comm_ ? comm_->size() : 1);
  rope_tables_ = compute_rope_tables(config_);
  Tensor inv = Tensor::empty(DType::F32, {int64_t(rope_tables_.inv_freq.size())});
  std::copy(rope_tables_.inv_freq.begin(), rope_tables_.inv_freq.end(), inv.ptr<float>());
  rope_.inv_freq = backend_.to_device(inv);
  rope_.attention_factor = rope_tables_.attention_factor;
  rope_.interleaved = config_.rope_interleave;
  routing_.num_experts = config_.n_routed_experts;
  routing_.top_k = config_.num_experts_per_tok;
  routing_.n_group = config_.n_group;
  routing_.topk_group = config_.topk_group;
  routing_.norm_topk_prob = config_.norm_topk_prob;
  routing_.routed_scaling_factor = float(config_.routed_scaling_factor);
}

Result<std::unique_ptr<DeepseekV3Model>> DeepseekV3Model::load(WeightSource& src, Backend& backend,
                                                               const LoadOptions& opts) {
  const int tp = opts.tensor_parallel_size;
  if (tp == 1) {
    SABLE_ASSIGN_OR_RETURN(DeepseekV3Weights w, load_deepseek_v3_weights(src, backend, opts));
    return std::unique_ptr<DeepseekV3Model>(new DeepseekV3Model(src.config(), backend, std::move(w), nullptr));
  }
  SABLE_RETURN_IF_ERROR(check_tensor_parallel(src.config(), tp, opts.expert_parallel));
  SABLE_ASSIGN_OR_RETURN(RankBackends rb, make_rank_backends(backend, tp));
  auto g = std::make_unique<TensorParallelGroup>();
  g->owned_backends = std::move(rb.owned);
  g->comms = std::move(rb.comms);
  // The ranks share the machine's cores.
  const int threads = std::max(1, ThreadPool::global().size() / tp);
  for (int r = 0; r < tp; ++r) g->pools.push_back(std::make_unique<ThreadPool>(threads));
  TensorParallelGroup* gp = g.get();
  std::vector<Backend*> backends = rb.backends;
  g->threads = std::make_unique<RankThreads>(
      tp,
      [gp, backends](int r) {
        backends[size_t(r)]->bind_thread();
        ThreadPool::set_current(gp->pools[size_t(r)].get());
      },
      [gp] {
        for (auto& c : gp->comms) c->abort();
      });
  // Every rank loads its shard at once, each on its own thread (its device,
  // its pool): the reads, conversions and uploads of the ranks overlap
  // (WeightSource::get is safe to call from several threads).
  std::vector<std::unique_ptr<DeepseekV3Model>> ranks(static_cast<size_t>(tp));
  std::vector<Status> st(static_cast<size_t>(tp), Status::ok());
  g->threads->run([&](int r) {
    auto w = load_deepseek_v3_weights(src, *backends[size_t(r)], opts, TpShard{r, tp, opts.expert_parallel});
    if (!w.is_ok()) {
      st[size_t(r)] = w.status();
      return;
    }
    ranks[size_t(r)].reset(
        new DeepseekV3Model(src.config(), *backends[size_t(r)], std::move(*w), g->comms[size_t(r)].get()));
  });
  for (int k = 0; k < tp; ++k)
    if (!st[size_t(k)].is_ok()) {
      g->threads.reset();  // the models go before their backends
      ranks.clear();
      return st[size_t(k)].with_context("tensor-parallel rank " + std::to_string(k));
    }
  for (int r = 1; r < tp; ++r) g->peers.push_back(std::move(ranks[size_t(r)]));
  ranks[0]->group_ = std::move(g);
  return std::move(ranks[0]);
}

void DeepseekV3Model::for_each_rank(const std::function<void(int, DeepseekV3Model&)>& fn) {
  if (!group_) {
    fn(0, *this);
    return;
  }
  group_->threads->run([&](int r) { fn(r, r == 0 ? *this : *group_->peers[size_t(r) - 1]); });
}

void DeepseekV3Model::run_on_ranks(KvCache& cache, const std::function<void(int, DeepseekV3Model&, KvCache&)>& fn) {
  if (group_ && cache.peers.size() != group_->peers.size())
    throw std::invalid_argument("run_on_ranks: the KV cache was not allocated for every tensor-parallel rank");
  for_each_rank([&](int r, DeepseekV3Model& m) { fn(r, m, r == 0 ? cache : cache.peers[size_t(r) - 1]); });
}

size_t DeepseekV3Model::active_weight_bytes_per_token() const {
  size_t b = size_t(config_.hidden_size) * dtype_size(weights_.embed_tokens.dtype()) + weights_.lm_head.nbytes() +
             weights_.norm.nbytes();
  for (int i = 0; i < config_.num_hidden_layers; ++i) {  // the MTP layer is not part of a decode step
    const auto& L = weights_.layers[size_t(i)];
    const auto& a = L.self_attn;
    b += L.input_layernorm.nbytes() + L.post_attention_layernorm.nbytes();
    if (a.q_proj) b += a.q_proj->nbytes();
    else b += a.q_a_proj.nbytes() + a.q_b_proj.nbytes() + a.q_a_layernorm.nbytes();
    if (a.fused_qkv_a_proj_with_mqa) b += a.fused_qkv_a_proj_with_mqa->nbytes();
    b += a.kv_a_proj_with_mqa.nbytes() + a.kv_a_layernorm.nbytes() + a.w_uk.nbytes() + a.w_uv.nbytes() +
         a.o_proj.nbytes();
    if (L.mlp) b += L.mlp->gate_proj.nbytes() + L.mlp->up_proj.nbytes() + L.mlp->down_proj.nbytes();
    if (L.moe) {
      const auto& m = *L.moe;
      b += m.gate.nbytes();
      const auto& e = m.experts;
      // top_k routed experts and the fused shared ones; under expert
      // parallelism the rank's share of the top_k, routes spread evenly.
      const double routed = m.local_experts() > 0
                                ? double(config_.num_experts_per_tok) * m.local_experts() / config_.n_routed_experts
                                : double(config_.num_experts_per_tok);
      if (!e.gate.empty())
        b += size_t((routed + m.num_shared) * double(e.gate[0].nbytes() + e.up[0].nbytes() + e.down[0].nbytes()));
      if (m.shared_experts)
        b += m.shared_experts->gate_proj.nbytes() + m.shared_experts->up_proj.nbytes() +
             m.shared_experts->down_proj.nbytes();
    }
  }
  return b;
}

KvCache DeepseekV3Model::allocate_kv_cache(int num_blocks, int block_size, DType dtype) const {
  KvCache c;
  c.num_blocks = num_blocks;
  c.block_size = block_size;
  for (int i = 0; i < num_cache_layers(); ++i)
    c.layers.push_back(backend_.zeros(dtype, {num_blocks, block_size, config_.kv_latent_dim()}));
  if (group_) {  // each rank's on its own thread (its device)
    c.peers.resize(group_->peers.size());
    group_->threads->run([&](int r) {
      if (r > 0)
        c.peers[size_t(r) - 1] = group_->peers[size_t(r) - 1]->allocate_kv_cache(num_blocks, block_size, dtype);
    });
  }
  return c;
}

size_t DeepseekV3Model::kv_bytes_per_token(DType dtype) const {
  return size_t(num_cache_layers()) * size_t(config_.kv_latent_dim()) * dtype_size(dtype);
}

namespace {
Tensor host_i32(const std::vector<int32_t>& v) {
  Tensor t = Tensor::empty(DType::I32, {int64_t(v.size())});
  std::copy(v.begin(), v.end(), t.ptr<int32_t>());
  return t;
}
}  // namespace

Result<DeviceBatch> DeepseekV3Model::upload(const ForwardBatch& batch) const {
  const int64_t T = batch.num_tokens();
  if (T == 0) return invalid_argument("forward: empty batch");
  for (int32_t id : batch.token_ids)
    if (id < 0 || id >= config_.vocab_size)
      return invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                              std::to_string(config_.vocab_size) + ")");
  Backend& be = backend_;
  DeviceBatch d;
  AttentionMetadata& m = d.attn;
  m.positions = be.to_device(host_i32(batch.positions));
  m.token_seq = be.to_device(host_i32(batch.token_seq));
  m.slot_mapping = be.to_device(host_i32(batch.slot_mapping));
  m.seq_lens = be.to_device(host_i32(batch.seq_lens));
  Tensor tables = host_i32(batch.block_tables);
  m.block_tables = be.to_device(tables.view({int64_t(batch.num_seqs()), int64_t(batch.max_blocks)}));
  m.num_seqs = batch.num_seqs();
  m.max_blocks = batch.max_blocks;
  m.num_tokens = int(T);
  m.max_seq_len = batch.seq_lens.empty() ? 0 : *std::max_element(batch.seq_lens.begin(), batch.seq_lens.end());
  m.all_decode = T == batch.num_seqs();
  d.token_ids = be.to_device(host_i32(batch.token_ids));
  d.logits_indices = be.to_device(host_i32(batch.logits_indices));
  d.logits_all_rows = int64_t(batch.logits_indices.size()) == T;
  d.keep_hidden = batch.keep_hidden;
  for (int64_t i = 0; d.logits_all_rows && i < T; ++i) d.logits_all_rows = batch.logits_indices[size_t(i)] == i;
  plan_expanded(batch, d);
  return d;
}

void DeepseekV3Model::set_mla_prefill(MlaPrefill mode, int chunk_keys) {
  mla_prefill_ = mode;
  mla_chunk_keys_ = chunk_keys;
  if (group_)
    for (auto& p : group_->peers) p->set_mla_prefill(mode, chunk_keys);
}

bool DeepseekV3Model::use_expanded(int num_tokens, int seq_len) const {
  if (mla_prefill_ == MlaPrefill::kAbsorbed || num_tokens <= 1) return false;
  if (mla_prefill_ == MlaPrefill::kExpanded) return true;
  // A batch-invariant backend promises a sequence's outputs do not depend on
  // how its prompt was chunked; the choice of form below does.
  if (backend_.batch_invariant()) return false;
  return expanded_is_cheaper(config_, num_tokens, seq_len);
}

bool DeepseekV3Model::expanded_is_cheaper(const ModelConfig& c, int num_tokens, int seq_len) {
  // FLOPs per query-key pair over all heads in each form, and the
  // up-projection's FLOPs per key of the context (DeepSeek-V3: 278.5 K,
  // 81.9 K and 33.6 M). The chunk's rows see on average all earlier keys
  // plus half of their own.
  const double heads = c.num_attention_heads, kv_lora = c.kv_lora_rank;
  const double absorbed = heads * 2 * (c.kv_latent_dim() + kv_lora);
  const double expanded = heads * 2 * (c.qk_head_dim() + c.v_head_dim);
  const double up = 2 * kv_lora * heads * (c.qk_nope_head_dim + c.v_head_dim);
  const double pairs = double(num_tokens) * (double(seq_len) - 0.5 * (num_tokens - 1));
  return pairs * (absorbed - expanded) > up * seq_len;
}

// The sequences at the end of the batch that take the expanded form, and
// the absorbed rows' metadata as prefixes of the batch's.
void DeepseekV3Model::plan_expanded(const ForwardBatch& batch, DeviceBatch& d) const {
  Backend& be = backend_;
  const int S = batch.num_seqs(), max_blocks = batch.max_blocks;
  std::vector<int> seq_begin(size_t(S) + 1, 0);  // first token row of each sequence
  for (int t = 0, s = 0; s < S; ++s) {
    seq_begin[size_t(s)] = t;
    while (t < batch.num_tokens() && batch.token_seq[size_t(t)] == s) ++t;
    seq_begin[size_t(s) + 1] = t;
  }
  int first = S;  // the expanded sequences are [first, S)
  while (first > 0) {
    const int s = first - 1, n = seq_begin[size_t(s) + 1] - seq_begin[size_t(s)];
    if (!use_expanded(n, batch.seq_lens[size_t(s)])) break;
    first = s;
  }
  const int block_size = batch.block_size;
  if (first == S || block_size <= 0) return;
  for (int s = first; s < S; ++s) {
    ExpandedSeq e;
    e.token_begin = seq_begin[size_t(s)];
    e.num_tokens = seq_begin[size_t(s) + 1] - e.token_begin;
    e.seq_len = batch.seq_lens[size_t(s)];
    std::vector<int32_t> slots(size_t(e.seq_len));
    for (int j = 0; j < e.seq_len; ++j)
      slots[size_t(j)] = batch.block_tables[size_t(s) * size_t(max_blocks) + size_t(j / block_size)] * block_size +
                         j % block_size;
    e.key_slots = be.to_device(host_i32(slots));
    d.expanded.push_back(std::move(e));
  }
  AttentionMetadata& a = d.absorbed;
  a = d.attn;  // max_blocks and the rest as the batch's; the per-row tensors become prefixes
  const int Ta = seq_begin[size_t(first)];
  a.positions = d.attn.positions.rows(0, Ta);
  a.token_seq = d.attn.token_seq.rows(0, Ta);
  a.slot_mapping = d.attn.slot_mapping.rows(0, Ta);
  a.seq_lens = d.attn.seq_lens.rows(0, first);
  a.block_tables = d.attn.block_tables.rows(0, first);
  a.num_seqs = first;
  a.num_tokens = Ta;
  a.max_seq_len = first == 0 ? 0 : *std::max_element(batch.seq_lens.begin(), batch.seq_lens.begin() + first);
  a.all_decode = Ta == first;
}

Result<Tensor> DeepseekV3Model::forward(const ForwardBatch& batch, KvCache& cache) {
  if (!group_) return forward_rank(batch, cache);
  // Every rank at once, each on its own thread; all end with the same logits.
  const int n = tensor_parallel_size();
  if (int(cache.peers.size()) != n - 1)
    return failed_precondition("forward: the KV cache was not allocated for every tensor-parallel rank");
  std::vector<std::optional<Result<Tensor>>> out(static_cast<size_t>(n));
  run_on_ranks(cache, [&](int r, DeepseekV3Model& m, KvCache& c) { out[size_t(r)] = m.forward_rank(batch, c); });
  return std::move(*out[0]);
}

Result<Tensor> DeepseekV3Model::forward_rank(const ForwardBatch& batch, KvCache& cache) {
  if (int(cache.layers.size()) != num_cache_layers())
    return failed_precondition("forward: the KV cache has the wrong number of layers");
  SABLE_ASSIGN_OR_RETURN(DeviceBatch d, upload(batch));
  return forward_device(d, cache);
}

Tensor DeepseekV3Model::forward_device(const DeviceBatch& d, KvCache& cache) {
  const int64_t T = d.token_ids.numel(), H = config_.hidden_size;
  Backend& be = backend_;
  const DType act = be.activation_dtype();

  // The residual stream stays float32 on every backend, as in the reference:
  // rounding it to bf16 after every layer costs accuracy and flips routes.
  Tensor residual = be.empty(DType::F32, {T, H});
  be.embedding(d.token_ids, weights_.embed_tokens, weights_.vocab_begin, residual);  // [T, H]
  if (comm_) comm_->all_reduce_sum(residual);  // each rank's rows of the vocabulary, zeros elsewhere
  debug("hidden_states.0", residual);

  Tensor prev;  // the previous sub-layer's output, added into the residual by the next norm
  for (int i = 0; i < config_.num_hidden_layers; ++i) decoder_layer(i, i == 0, residual, prev, d, cache);
  Tensor hn = be.empty(act, {T, H});
  be.add_rms_norm(residual, prev, weights_.norm, float(config_.rms_norm_eps), hn);
  debug("hidden_states." + std::to_string(config_.num_hidden_layers), hn);
  if (d.keep_hidden) hidden_ = hn;
  return compute_logits(hn, d);
}

void DeepseekV3Model::decoder_layer(int i, bool first, Tensor& residual, Tensor& prev, const DeviceBatch& d,
                                    KvCache& cache) {
  Backend& be = backend_;
  const int64_t T = residual.dim(0), H = config_.hidden_size;
  const DType act = be.activation_dtype();
  const float eps = float(config_.rms_norm_eps);
  const DecoderLayerWeights& L = weights_.layers[size_t(i)];
  const std::string p = "model.layers." + std::to_string(i);
  Tensor h = be.empty(act, {T, H});
  Tensor attn_out;
  // The fused front of attention (input norm, q_a | kv_a, q_a norm, q_b)
  // where the backend has one; not under the debug hook, which wants h.
  const AttentionWeights& aw = L.self_attn;
  if (!debug_hook && aw.fused_qkv_a_proj_with_mqa && !aw.q_proj && be.has_mla_front(T)) {
    const int64_t qr = *config_.q_lora_rank, Lat = config_.kv_latent_dim();
    const int64_t qk = config_.qk_nope_head_dim + config_.qk_rope_head_dim, heads = heads_;
    Tensor qkv = be.empty(act, {T, qr + Lat}), q = be.empty(act, {T, heads, qk});
    Tensor q2d = q.view({T, heads * qk});
    if (be.mla_front(residual, first ? nullptr : &prev, L.input_layernorm, eps, *aw.fused_qkv_a_proj_with_mqa,
                     aw.q_a_layernorm, aw.q_b_proj, qkv, q2d)) {
      Tensor kv;
      split_qkv_a(qkv, nullptr, kv);
      attn_out = attention_core(i, q, kv, d, cache);
    }
  }
  if (!attn_out.data()) {
    if (first)
      be.rms_norm(residual, L.input_layernorm, eps, h);
    else
      be.add_rms_norm(residual, prev, L.input_layernorm, eps, h);
    if (!first) debug("hidden_states." + std::to_string(i), residual);
    debug(p + ".input_layernorm.out", h);
    attn_out = attention(i, h, d, cache);  // [T, H]
  }
  if (comm_) comm_->all_reduce_sum(attn_out);  // o_proj's partial sums over the heads of each rank
  debug(p + ".self_attn.out0", attn_out);
  be.add_rms_norm(residual, attn_out, L.post_attention_layernorm, eps, h);
  debug(p + ".post_attention_layernorm.out", h);
  prev = L.moe ? moe(i, *L.moe, h) : mlp(*L.mlp, h);  // [T, H]
  if (comm_) comm_->all_reduce_sum(prev);             // down_proj's partial sums over each rank's intermediate part
  debug(p + ".mlp.out", prev);
}

Tensor DeepseekV3Model::compute_logits(const Tensor& hn, const DeviceBatch& d) {
  Backend& be = backend_;
  const int64_t T = hn.dim(0), H = config_.hidden_size;
  // Only the rows whose logits are wanted go through lm_head.
  const int64_t N = d.logits_indices.numel();
  if (N == 0) return be.empty(DType::F32, {0, config_.vocab_size});
  Tensor rows = hn;  // decode: every row, in order (no gather kernel)
  if (!d.logits_all_rows || N != T) {
    rows = be.empty(hn.dtype(), {N, H});
    be.gather_rows(hn, d.logits_indices, rows);
  }
  Tensor logits = d.logits_out.data() ? d.logits_out.rows(0, N) : be.empty(DType::F32, {N, config_.vocab_size});
  if (comm_) {  // each rank's vocabulary rows, then every rank's columns
    Tensor part = be.empty(DType::F32, {N, weights_.lm_head.out_features()});
    be.linear(rows, weights_.lm_head, part);  // [N, V / ranks]
    comm_->all_gather_columns(part, logits);
  } else {
    be.linear(rows, weights_.lm_head, logits);  // [N, V]
  }
  debug("logits", logits);
  return logits;
}

Tensor DeepseekV3Model::attention(int layer, const Tensor& h, const DeviceBatch& d, KvCache& cache) {
  Backend& be = backend_;
  const AttentionWeights& w = weights_.layers[size_t(layer)].self_attn;
  const int64_t T = h.dim(0), heads = heads_;
  const int64_t nope = config_.qk_nope_head_dim, rope_dim = config_.qk_rope_head_dim;
  const int64_t L = config_.kv_latent_dim();
  const DType act = be.activation_dtype();
  const float eps = float(config_.rms_norm_eps);

  // q_a(x) and the latent KV, from one stacked projection when fused.
  Tensor qa, kv;  // [T, q_lora_rank], [T, kv_lora + rope]
  if (w.fused_qkv_a_proj_with_mqa) {
    const int64_t qr = *config_.q_lora_rank;
    Tensor qkv = be.empty(act, {T, qr + L});
    be.linear(h, *w.fused_qkv_a_proj_with_mqa, qkv);  // [T, q_lora_rank + kv_lora + rope]
    split_qkv_a(qkv, &qa, kv);
  } else {
    if (!w.q_proj) {
      qa = be.empty(act, {T, *config_.q_lora_rank});
      be.linear(h, w.q_a_proj, qa);
    }
    kv = be.empty(act, {T, L});
    be.linear(h, w.kv_a_proj_with_mqa, kv);
  }

  // q = q_b(norm(q_a(x))) or q_proj(x): [T, heads, nope + rope]
  Tensor q = be.empty(act, {T, heads, nope + rope_dim});
  Tensor q2d = q.view({T, heads * (nope + rope_dim)});
  if (w.q_proj) {
    be.linear(h, *w.q_proj, q2d);
  } else {
    Tensor qan = be.empty(act, {T, *config_.q_lora_rank});
    be.rms_norm(qa, w.q_a_layernorm, eps, qan);
    be.linear(qan, w.q_b_proj, q2d);  // [T, heads * qk_head_dim]
  }
  return attention_core(layer, q, kv, d, cache);
}

void DeepseekV3Model::split_qkv_a(const Tensor& qkv, Tensor* qa, Tensor& kv) {
  Backend& be = backend_;
  const int64_t T = qkv.dim(0), qr = *config_.q_lora_rank, L = config_.kv_latent_dim();
  if (T == 1) {  // one row: both parts are contiguous already
    if (qa) *qa = qkv.view({qr + L}).rows(0, qr).view({1, qr});
    kv = qkv.view({qr + L}).rows(qr, qr + L).view({1, L});
    return;
  }
  if (qa) {
    *qa = be.empty(qkv.dtype(), {T, qr});
    be.copy_columns(qkv, 0, *qa);
  }
  kv = be.empty(qkv.dtype(), {T, L});
  be.copy_columns(qkv, qr, kv);
}

Tensor DeepseekV3Model::attention_core(int layer, Tensor q, const Tensor& kv, const DeviceBatch& d, KvCache& cache) {
  Backend& be = backend_;
  const AttentionWeights& w = weights_.layers[size_t(layer)].self_attn;
  const AttentionMetadata& m = d.attn;
  const int64_t T = q.dim(0), heads = heads_;
  const int64_t nope = config_.qk_nope_head_dim, rope_dim = config_.qk_rope_head_dim;
  const int64_t kv_lora = config_.kv_lora_rank, v_dim = config_.v_head_dim, L = config_.kv_latent_dim();
  const DType act = be.activation_dtype();
  const float eps = float(config_.rms_norm_eps);
  // Every row is absorbed unless some sequences take the expanded form (the
  // graph runner's batches never do, and leave d.absorbed unset). When every
  // row is, q_rope's rotation rides on the absorption (one launch fewer).
  const bool all_absorbed = d.expanded.empty();
  if (!all_absorbed) be.rope(q, int(nope), int(rope_dim), m.positions, rope_);

  // Latent KV: [T, kv_lora + rope] -> normed c_kv | roped k_pe, into the cache.
  Tensor& layer_cache = cache.layers[size_t(layer)];
  be.mla_write_kv(kv, w.kv_a_layernorm, eps, rope_, m, layer_cache);

  Tensor o = be.empty(act, {T, heads, v_dim});  // [T, heads, v_head_dim]
  const AttentionMetadata& ma = all_absorbed ? m : d.absorbed;
  const int64_t Ta = ma.num_tokens;
  if (Ta > 0) {
    // Absorb W_UK into the query: [Ta, heads, kv_lora + rope].
    Tensor q_latent = be.empty(act, {Ta, heads, L});
    be.mla_absorb_q(q.rows(0, Ta), w.w_uk, q_latent, all_absorbed ? &m.positions : nullptr,
                    all_absorbed ? &rope_ : nullptr);
    Tensor o_latent = be.empty(act, {Ta, heads, kv_lora});
    be.mla_attention(q_latent, layer_cache, ma, rope_tables_.softmax_scale, int(kv_lora), o_latent);
    // Take W_UV out of the latent: [Ta, heads, v_head_dim].
    Tensor oa = o.rows(0, Ta);
    be.head_matmul(o_latent, w.w_uv, /*transposed=*/true, oa);
  }
  for (const ExpandedSeq& s : d.expanded) {
    Tensor os = o.rows(s.token_begin, s.token_begin + s.num_tokens);
    attention_expanded(w, q.rows(s.token_begin, s.token_begin + s.num_tokens), s, layer_cache, os);
  }
  Tensor out = be.empty(act, {T, config_.hidden_size});
  be.linear(o.view({T, heads * v_dim}), w.o_proj, out);
  return out;
}

void DeepseekV3Model::attention_expanded(const AttentionWeights& w, const Tensor& q, const ExpandedSeq& s,
                                         const Tensor& layer_cache, Tensor& out) {
  Backend& be = backend_;
  const DType act = be.activation_dtype();
  const int64_t heads = heads_, nope = config_.qk_nope_head_dim, rope_dim = config_.qk_rope_head_dim,
                kv_lora = config_.kv_lora_rank, v_dim = config_.v_head_dim;
  const int q_pos0 = s.seq_len - s.num_tokens;
  Tensor lse = be.empty(DType::F32, {s.num_tokens, heads});
  const int chunk = std::max(1, mla_chunk_keys_);
  // Keys in chunks, each up-projected and attended, merged by log-sum-exp.
  for (int k0 = 0; k0 < s.seq_len; k0 += chunk) {
    const int n = std::min(chunk, s.seq_len - k0);
    Tensor c_kv = be.empty(act, {n, kv_lora}), k_pe = be.empty(act, {n, rope_dim});
    be.mla_read_kv(layer_cache, s.key_slots.rows(k0, k0 + n), c_kv, k_pe);  // latents of keys [k0, k0 + n)
    Tensor kv = be.empty(act, {n, heads * (nope + v_dim)});
    be.linear(c_kv, w.kv_b_proj, kv);  // [n, heads, k_nope | v]
    be.mla_attention_expanded(q, kv.view({n, heads, nope + v_dim}), k_pe, q_pos0, k0, rope_tables_.softmax_scale,
                              /*accumulate=*/k0 > 0, out, lse);
  }
}

Tensor DeepseekV3Model::mlp(const MlpWeights& w, const Tensor& h) {
  Backend& be = backend_;
  const int64_t T = h.dim(0), I = w.gate_proj.out_features();
  const DType act = be.activation_dtype();
  Tensor gate = be.empty(act, {T, I}), up = be.empty(act, {T, I});
  be.linear(h, w.gate_proj, gate);
  be.linear(h, w.up_proj, up);
  be.silu_and_mul(gate, up, gate);  // [T, I]
  Tensor out = be.empty(act, {T, h.dim(1)});
  be.linear(gate, w.down_proj, out);
  return out;
}

Tensor DeepseekV3Model::moe(int layer, const MoeWeights& w, const Tensor& h) {
  Backend& be = backend_;
  const int64_t T = h.dim(0), E = config_.n_routed_experts, K = config_.num_experts_per_tok;
  const std::string p = "model.layers." + std::to_string(layer) + ".mlp";
  // The router runs in float32: in bf16, routes flip.
  Tensor logits = be.empty(DType::F32, {T, E});
  be.linear(h, w.gate, logits);  // [T, E]
  debug(p + ".gate.out0", logits);
  // Routed experts in columns [0, K), the fused shared experts after them.
  MoeRoutingParams routing = routing_;
  routing.num_shared = w.num_shared;
  routing.expert_begin = w.expert_begin;  // expert parallelism: the rank's experts
  routing.local_experts = w.local_experts();
  Tensor ids = be.empty(DType::I32, {T, K + w.num_shared}), weights = be.empty(DType::F32, {T, K + w.num_shared});
  be.moe_route(logits, w.e_score_correction_bias, routing, ids, weights);
  debug(p + ".gate.out1", weights);  // [T, K + num_shared]: the reference's topk_weight, then 1s
  debug(p + ".gate.ids", ids);       // [T, K + num_shared] I32: the routed experts, then the shared ones
  Tensor out = be.empty(be.activation_dtype(), {T, h.dim(1)});
  be.moe_experts(h, ids, weights, w.experts, out);
  if (w.shared_experts) {
    Tensor shared = mlp(*w.shared_experts, h);
    be.add_inplace(out, shared);
  }
  return out;
}

}  // namespace sable
