#include "runner/model_runner.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <numeric>
#include <string>

#include "core/logging.h"
#include "runner/decode_graph.h"
#include "runner/memory_planner.h"

namespace sable {

int kv_blocks_for_budget(const DeepseekV3Model& model, int64_t bytes, int block_size, DType dtype) {
  const int64_t per_block = int64_t(model.kv_bytes_per_token(dtype)) * block_size;
  return int(std::max<int64_t>(0, bytes / per_block));
}

namespace {
// Verification graphs and graphs that keep hidden states; SABLE_SPEC_GRAPHS=0
// turns them off (speculative steps then run eagerly), for A/B runs. Their
// CUDA test, CudaSpeculative.VerificationGraphsMatchEagerSteps, passed on an
// H100 (bench/results/2026-12-05-6568e5d.md). Read at each capture.
bool spec_graphs_enabled() {
  const char* v = std::getenv("SABLE_SPEC_GRAPHS");
  return v == nullptr || std::string(v) != "0";
}

// The longest context a step may have: the graphs are captured for it.
int max_model_len(const DeepseekV3Model& model, const KvPoolOptions& o) {
  return o.max_model_len > 0 ? o.max_model_len : int(model.config().max_position_embeddings);
}

// The graph pools' estimate for this runner's shapes (memory planner).
int64_t planned_graph_bytes(const DeepseekV3Model& model, const KvPoolOptions& o) {
  const int k = spec_graphs_enabled() ? std::max(0, o.num_speculative_tokens) : 0;
  return cuda_graph_bytes(model.config(),
                          cuda_graph_shapes(o.max_num_seqs, o.max_num_batched_tokens, k, model.has_mtp()),
                          model.tensor_parallel_size(), max_model_len(model, o), model.backend().multiprocessors(),
                          model.backend().mla_graph_split_rule());
}
}  // namespace

ModelRunner::~ModelRunner() = default;

ModelRunner::ModelRunner(DeepseekV3Model& model, const KvPoolOptions& o) : model_(model) {
  Backend& be = model.backend();
  int blocks = o.num_blocks;
  size_t free_b = 0, total_b = 0;
  const bool device_memory = be.memory_info(&free_b, &total_b);
  const int tp = model.tensor_parallel_size();
  if (device_memory && tp > 1) {
    // Every rank holds the same cache: the GPU with the least free memory
    // (each asked on its own thread, its device current) sets the budget.
    std::vector<size_t> fr(static_cast<size_t>(tp)), tot(static_cast<size_t>(tp));
    model.for_each_rank([&](int r, DeepseekV3Model& m) { m.backend().memory_info(&fr[size_t(r)], &tot[size_t(r)]); });
    for (int r = 0; r < tp; ++r)
      if (fr[size_t(r)] < free_b) {
        free_b = fr[size_t(r)];
        total_b = tot[size_t(r)];
      }
  }
  if (blocks <= 0) {
    int64_t budget = o.memory_bytes;
    if (budget <= 0 && device_memory) {
      // What --gpu-memory-utilization leaves once the weights are loaded
      // (already counted in total - free), less the activation peak and the
      // graph pools.
      const int64_t used = int64_t(total_b - free_b);
      const int64_t act = activation_peak_bytes(model.config(), o.max_num_batched_tokens,
                                                o.max_num_seqs * (1 + o.num_speculative_tokens), tp,
                                                max_model_len(model, o), be.multiprocessors());
      const int64_t graphs = o.enforce_eager ? 0 : planned_graph_bytes(model, o);
      budget = int64_t(double(total_b) * o.gpu_memory_utilization) - used - act - graphs;
      LOG_INFO("KV budget: {:.2f} GiB = {:.2f} x {:.1f} GiB - {:.2f} GiB in use - {:.2f} GiB activations - {:.2f} GiB graphs",
               double(budget) / (1 << 30), o.gpu_memory_utilization, double(total_b) / (1 << 30),
               double(used) / (1 << 30), double(act) / (1 << 30), double(graphs) / (1 << 30));
    }
    if (budget <= 0 && !device_memory) budget = kCpuKvCacheDefaultBytes;
    // Host memory (the CPU stand-in for tensor parallelism) is one budget
    // for all ranks, each of which holds the whole latent cache.
    if (!device_memory) budget /= tp;
    blocks = kv_blocks_for_budget(model, budget, o.block_size, o.dtype) - 1;
  }
  num_blocks_ = std::max(blocks, 0);
  pad_block_ = num_blocks_;
  cache_ = model.allocate_kv_cache(num_blocks_ + 1, o.block_size, o.dtype);
  LOG_INFO("KV cache: {} blocks of {} tokens ({} tokens, {:.1f} MiB, {} bytes per token)", num_blocks_, o.block_size,
           int64_t(num_blocks_) * o.block_size, double(kv_bytes()) / (1 << 20), model.kv_bytes_per_token(o.dtype));
  if (!o.enforce_eager && num_blocks_ > 0) capture_decode_graphs(o);
}

namespace {
size_t cache_bytes(const KvCache& c) {
  size_t b = 0;
  for (const auto& t : c.layers) b += t.nbytes();
  for (const auto& p : c.peers) b += cache_bytes(p);
  return b;
}

}  // namespace

size_t ModelRunner::kv_bytes() const { return cache_bytes(cache_); }

void ModelRunner::capture_decode_graphs(const KvPoolOptions& o) {
  Backend& be = model_.backend();
  // Probe: backends without graphs return null.
  if (!be.capture_graph([] {}, 0)) return;
  const auto t0 = std::chrono::steady_clock::now();
  const int bs = cache_.block_size;
  const int max_len = max_model_len(model_, o);
  graph_max_blocks_ = (max_len + bs - 1) / bs;

  // A profile step at the largest prefill first, so that every workspace
  // reaches its final size before any graph records its address.
  {
    const int T = std::max(1, std::min({o.max_num_batched_tokens, num_blocks_ * bs, max_len - 1}));
    ForwardBatch fb;
    fb.max_blocks = (T + bs - 1) / bs;
    fb.block_size = bs;
    for (int i = 0; i < T; ++i) {
      fb.token_ids.push_back(0);
      fb.positions.push_back(i);
      fb.token_seq.push_back(0);
      fb.slot_mapping.push_back(i);
    }
    fb.seq_lens.push_back(T);
    for (int b = 0; b < fb.max_blocks; ++b) fb.block_tables.push_back(b);
    fb.logits_indices.push_back(T - 1);
    auto r = model_.forward(fb, cache_);
    if (!r.is_ok()) {
      LOG_WARN("profile step failed ({}); running without CUDA graphs", r.status().message());
      return;
    }
    be.synchronize();
  }
  // What the graphs take (their memory pool, outputs and inputs), from the
  // device's free memory around them.
  size_t free_before = 0, total = 0;
  const bool measured = be.memory_info(&free_before, &total);

  // Decode graphs (q = 1); with k drafts a step, verification graphs
  // (q = k + 1) and the MTP module's (cuda_graph_shapes). Every graph keeps
  // its hidden states then, for the MTP module (drafts of n-gram matching
  // need none; keeping them costs no work). In capture order: the decode
  // graphs first (a verification graph that cannot be captured leaves them
  // in place), each set largest first (later, smaller captures reuse the
  // workspaces larger ones grew).
  const int k = spec_graphs_enabled() ? std::max(0, o.num_speculative_tokens) : 0;
  const std::vector<CudaGraphShape> shapes =
      cuda_graph_shapes(o.max_num_seqs, o.max_num_batched_tokens, k, model_.has_mtp());
  std::vector<CudaGraphShape> order;  // the model's steps; the MTP's are the rest of `shapes`
  for (const CudaGraphShape& g : shapes)
    if (!g.mtp) order.push_back(g);
  graphs_keep_hidden_ = k > 0;
  const int64_t V = model_.config().vocab_size;
  // Every rank captures its own graphs on its own thread (its device), at
  // the same time: the collectives inside are recorded on every rank.
  const int ranks = model_.tensor_parallel_size();
  std::vector<std::vector<std::unique_ptr<DecodeGraph>>> captured(static_cast<size_t>(ranks));
  std::vector<std::string> failed(static_cast<size_t>(ranks));
  std::string no_verify;  // why there are no verification graphs (one rank)
  // The MTP module's graphs where the model has it and steps keep hidden states.
  const bool with_mtp = graphs_keep_hidden_ && model_.has_mtp();
  std::vector<std::vector<std::unique_ptr<DecodeGraph>>> captured_mtp(static_cast<size_t>(ranks));
  std::string no_mtp;  // why the MTP has no graphs (one rank)
  // The graphs of a set write their logits into one buffer (a step's are
  // read before the next step of the set): the model's steps, the MTP's.
  const int main_rows = cuda_graph_logits_rows(shapes, false), mtp_rows = cuda_graph_logits_rows(shapes, true);
  // Under tensor parallelism a rank's failure aborts the group and throws out
  // of here: the group cannot be used after, eagerly or not (restart with
  // --enforce-eager). One rank alone runs eagerly, as before.
  model_.run_on_ranks(cache_, [&](int r, DeepseekV3Model& m, KvCache& cache) {
    Backend& rb = m.backend();
    // One memory pool for all of this rank's graphs: they replay one at a
    // time, and what a step's caller reads after a replay (logits, kept
    // hidden states) is held, so a graph reuses the memory of those
    // captured before it (largest first).
    const int pool = rb.new_graph_pool();
    const Tensor logits_main = rb.empty(DType::F32, {main_rows, V});
    const Tensor logits_mtp = with_mtp ? rb.empty(DType::F32, {mtp_rows, V}) : Tensor();
    // One graph of B sequences of q tokens: the model's step, or the MTP
    // module's. Throws where capture fails; null where it captured nothing.
    auto capture = [&](int B, int q, bool mtp) -> std::unique_ptr<DecodeGraph> {
      const int T = B * q;
      auto g = std::make_unique<DecodeGraph>();
      g->batch = B;
      g->q = q;
      g->mtp = mtp;
      const int64_t n = g->packed_size(graph_max_blocks_);
      g->packed = rb.empty(DType::I32, {n});
      g->host.assign(size_t(n), 0);
      auto view = [&](int64_t offset, Shape shape) {
        return Tensor(g->packed.ptr<int32_t>() + offset, DType::I32, shape, g->packed.device(), g->packed.owner());
      };
      DeviceBatch& d = g->inputs;
      d.token_ids = view(0, {T});
      d.attn.positions = view(T, {T});
      d.attn.token_seq = view(2 * int64_t(T), {T});
      d.attn.slot_mapping = view(3 * int64_t(T), {T});
      d.attn.seq_lens = view(g->seq_lens_at(), {B});
      d.logits_indices = view(g->logits_at(), {g->logits_rows()});
      d.logits_all_rows = !mtp;  // row t is token t's (host[logits_at + t] = t below)
      d.attn.block_tables = view(g->tables_at(), {B, graph_max_blocks_});
      d.attn.num_seqs = B;
      d.attn.num_tokens = T;
      d.attn.max_blocks = graph_max_blocks_;
      d.attn.max_seq_len = max_len;  // replays at every context up to max_len
      d.attn.max_seq_len_bound = true;
      d.attn.all_decode = q == 1;
      d.keep_hidden = graphs_keep_hidden_;
      d.logits_out = mtp ? logits_mtp : logits_main;
      // Inputs of an all-padding batch: valid, harmless (hidden-state row 0).
      for (int t = 0; t < T; ++t) {
        g->host[size_t(2 * T + t)] = t / q;
        g->host[size_t(3 * T + t)] = pad_block_ * bs;
      }
      for (int i = 0; i < g->logits_rows(); ++i) g->host[size_t(g->logits_at() + i)] = mtp ? i * q + q - 1 : i;
      for (int s = 0; s < B; ++s) {
        g->host[size_t(g->seq_lens_at() + s)] = 1;
        for (int j = 0; j < graph_max_blocks_; ++j)
          g->host[size_t(g->tables_at() + int64_t(s) * graph_max_blocks_ + j)] = pad_block_;
      }
      rb.copy_from_host(g->host.data(), g->packed);
      if (mtp) g->h_in = rb.to_device(Tensor::zeros(DType::F32, {T, int64_t(m.config().hidden_size)}));
      auto step = [&] { return mtp ? m.forward_mtp_device(d, g->h_in, cache) : m.forward_device(d, cache); };
      (void)step();  // warm-up: lazy initialisation outside capture
      rb.synchronize();
      g->graph = rb.capture_graph([&] { g->logits = step(); }, pool);
      if (graphs_keep_hidden_) g->hidden = m.kept_hidden();
      if (!g->graph || g->logits.dim(0) != g->logits_rows() || g->logits.dim(1) != V ||
          (graphs_keep_hidden_ && (!g->hidden.data() || g->hidden.dim(0) != T)))
        return nullptr;
      return g;
    };
    auto what = [](const CudaGraphShape& s, bool mtp) {
      return std::string(mtp        ? "MTP step of " + std::to_string(s.q) + " tokens a sequence at batch "
                         : s.q == 1 ? "decode batch "
                                    : "verification of " + std::to_string(s.q - 1) + " drafts at batch ") +
             std::to_string(s.batch);
    };
    auto& out = captured[size_t(r)];
    for (const CudaGraphShape& shape : order) {
      std::unique_ptr<DecodeGraph> g;
      try {
        g = capture(shape.batch, shape.q, false);
      } catch (const std::exception& e) {
        const std::string why = "CUDA graph capture failed at " + what(shape, false) + " (" + e.what() + ")";
        // The other ranks may be waiting in a collective this one will not
        // join: fail the group (RankThreads aborts the communicators).
        if (ranks > 1) throw;
        if (shape.q > 1) {  // keep the decode graphs; verification steps run eagerly
          no_verify = why;
          std::erase_if(out, [](const auto& x) { return x->q > 1; });
          break;
        }
        failed[size_t(r)] = why;
        return;
      }
      if (!g) {
        failed[size_t(r)] = "no graph captured at " + what(shape, false);
        if (ranks > 1) throw std::runtime_error(failed[size_t(r)] + " on rank " + std::to_string(r));
        return;
      }
      out.push_back(std::move(g));
    }
    auto by_shape = [](const auto& a, const auto& b) { return a->q != b->q ? a->q < b->q : a->batch < b->batch; };
    std::stable_sort(out.begin(), out.end(), by_shape);
    // The MTP module's steps at the same shapes: its first call of a step
    // runs over each sequence's verified positions (up to k + 1), its chain
    // one position a sequence. One that cannot be captured leaves the MTP
    // eager.
    if (!with_mtp) return;
    auto& mo = captured_mtp[size_t(r)];
    for (const CudaGraphShape& shape : shapes) {
      if (!shape.mtp) continue;
      std::unique_ptr<DecodeGraph> g;
      std::string why;
      try {
        g = capture(shape.batch, shape.q, true);
        if (!g) why = "no graph captured at " + what(shape, true);
      } catch (const std::exception& e) {
        if (ranks > 1) throw;
        why = "CUDA graph capture failed at " + what(shape, true) + " (" + e.what() + ")";
      }
      if (!g) {
        if (ranks > 1) throw std::runtime_error(why + " on rank " + std::to_string(r));
        no_mtp = why;
        mo.clear();
        return;
      }
      mo.push_back(std::move(g));
    }
    std::stable_sort(mo.begin(), mo.end(), by_shape);
  });
  for (int r = 0; r < ranks; ++r)
    if (!failed[size_t(r)].empty()) {
      LOG_WARN("{} on rank {}; running without CUDA graphs", failed[size_t(r)], r);
      return;
    }
  if (!no_verify.empty()) LOG_WARN("{}; verification steps run eagerly", no_verify);
  if (!no_mtp.empty()) LOG_WARN("{}; the MTP module runs eagerly", no_mtp);
  graphs_ = std::move(captured);
  if (with_mtp && !captured_mtp[0].empty()) mtp_graphs_ = std::move(captured_mtp);
  const auto& g0 = graphs_[0];
  if (g0.empty()) return;
  int decode = 0, verify = 0;
  const DecodeGraph* last_decode = nullptr;
  for (const auto& g : g0) {
    if (g->q == 1) {
      ++decode;
      last_decode = g.get();
    } else {
      ++verify;
    }
  }
  const std::string verifying =
      verify == 0 ? std::string()
                  : fmt::format(", and {} verifying {} drafts at batches 1..{} ({} kernels at {})", verify, k,
                                g0.back()->batch, be.graph_kernels(g0.back()->graph.get()), g0.back()->batch);
  const std::string mtp_steps =
      mtp_graphs_.empty() ? std::string()
                          : fmt::format(", {} of the MTP module ({} kernels at batch 1)", mtp_graphs_[0].size(),
                                        be.graph_kernels(mtp_graphs_[0].front()->graph.get()));
  size_t free_after = free_before;
  if (measured) be.memory_info(&free_after, &total);
  graph_memory_bytes_ = free_before > free_after ? int64_t(free_before - free_after) : 0;
  graph_memory_planned_ =
      cuda_graph_bytes(model_.config(), shapes, ranks, max_len, be.multiprocessors(), be.mla_graph_split_rule());
  LOG_INFO(
      "captured {} CUDA graphs for decode batches 1..{}{}{} in {:.1f} s, {:.2f} GiB (planned {:.2f}) ({} kernels "
      "and {} memsets at batch {}, {} kernels at {}){}",
      decode, last_decode->batch, verifying, mtp_steps,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
      double(graph_memory_bytes_) / double(1 << 30), double(graph_memory_planned_) / double(1 << 30),
      be.graph_kernels(g0.front()->graph.get()), be.graph_memsets(g0.front()->graph.get()), g0.front()->batch,
      be.graph_kernels(last_decode->graph.get()), last_decode->batch,
      ranks > 1 ? " on each of " + std::to_string(ranks) + " ranks" : std::string());
}

int ModelRunner::graph_for(const std::vector<RunnerSeq>& seqs) const {
  if (graphs_.empty() || seqs.empty() || (speculative_ && !graphs_keep_hidden_)) return -1;
  int q = 1;
  for (const auto& s : seqs) {
    if (s.num_new != 1 || !s.need_logits || s.prompt_logits != 0 || int(s.block_table->size()) > graph_max_blocks_)
      return -1;
    q = std::max(q, 1 + s.num_draft());
  }
  // The fewest tokens a sequence, then the smallest batch, that hold the step.
  const auto& g = graphs_[0];
  for (size_t i = 0; i < g.size(); ++i)
    if (g[i]->q >= q && g[i]->batch >= int(seqs.size())) return int(i);
  return -1;
}

void ModelRunner::DecodeGraph::upload(Backend& be, Tensor& dst, int max_blocks, int width) const {
  auto view = [&](int64_t at, int64_t n) {
    return Tensor(dst.ptr<int32_t>() + at, DType::I32, {n}, dst.device(), dst.owner());
  };
  Tensor head = view(0, tables_at());  // token ids .. the rows a step returns
  be.copy_from_host(host.data(), head);
  const size_t pitch = size_t(max_blocks) * sizeof(int32_t);
  be.copy_from_host_2d(host.data() + tables_at(), pitch, dst, size_t(tables_at()) * sizeof(int32_t), pitch,
                       size_t(std::clamp(width, 1, max_blocks)) * sizeof(int32_t), size_t(batch));
}

Tensor ModelRunner::run_graph(size_t index, const std::vector<RunnerSeq>& seqs) {
  DecodeGraph& g = *graphs_[0][index];
  const int B = g.batch, q = g.q, T = g.tokens(), n = int(seqs.size()), bs = cache_.block_size;
  const int64_t V = model_.config().vocab_size;
  int rows = 0;         // logits rows the step returns
  bool leading = true;  // they are rows [0, rows) of the graph's (every sequence has q - 1 drafts)
  step_first_row_.assign(size_t(n), 0);
  step_first_pos_.assign(size_t(n), 0);
  step_num_rows_.assign(size_t(n), 0);
  auto clamp_id = [&](int32_t id) { return std::clamp<int32_t>(id, 0, int32_t(V - 1)); };
  int width = 1;  // block table columns the step uses
  for (const RunnerSeq& rs : seqs) width = std::max(width, int(rs.block_table->size()));
  for (int s = 0; s < B; ++s) {
    const bool real = s < n;
    const RunnerSeq* rs = real ? &seqs[size_t(s)] : nullptr;
    const int pos0 = real ? rs->num_computed : 0, nd = real ? rs->num_draft() : 0;
    leading = leading && (!real || nd == q - 1);
    // Row j of the sequence runs its token (j = 0) or draft j; rows after its
    // drafts repeat its last row's token and position and write the padding
    // block, so they change nothing it reads. Ids were validated at
    // submission (the engine) or come from sampling and drafting.
    for (int j = 0; j < q; ++j) {
      const int t = s * q + j, jj = std::min(j, nd), pos = pos0 + jj;
      int32_t tok = 0;
      if (real) tok = clamp_id(jj == 0 ? (*rs->tokens)[size_t(pos0)] : (*rs->draft)[size_t(jj - 1)]);
      g.host[size_t(t)] = tok;
      g.host[size_t(T + t)] = pos;
      const bool writes = real && j <= nd;
      g.host[size_t(3 * T + t)] = writes ? (*rs->block_table)[size_t(pos / bs)] * bs + pos % bs : pad_block_ * bs;
      if (writes) g.host[size_t(g.rows_at() + rows++)] = t;
    }
    g.host[size_t(g.seq_lens_at() + s)] = real ? pos0 + nd + 1 : 1;
    int32_t* table = g.host.data() + g.tables_at() + int64_t(s) * graph_max_blocks_;
    if (real) {
      const auto& bt = *rs->block_table;
      std::copy(bt.begin(), bt.end(), table);
      std::fill(table + bt.size(), table + width, pad_block_);
      step_first_row_[size_t(s)] = s * q;
      step_first_pos_[size_t(s)] = pos0;
      step_num_rows_[size_t(s)] = 1 + nd;
    } else {
      std::fill(table, table + width, pad_block_);
    }
  }
  // Every rank replays its graph of this shape with the same inputs; the
  // MTP module reads the hidden states the graph kept.
  model_.run_on_ranks(cache_, [&](int r, DeepseekV3Model& m, KvCache&) {
    DecodeGraph& gr = *graphs_[size_t(r)][index];
    g.upload(m.backend(), gr.packed, graph_max_blocks_, width);
    m.backend().replay_graph(gr.graph.get());
    if (gr.hidden.data()) m.set_kept_hidden(gr.hidden);
  });
  last_graphed_ = true;
  if (leading) return g.logits.rows(0, rows);
  Backend& be = model_.backend();
  const Tensor which(g.packed.ptr<int32_t>() + g.rows_at(), DType::I32, {rows}, g.packed.device(), g.packed.owner());
  Tensor out = be.empty(DType::F32, {rows, V});
  be.gather_rows(g.logits, which, out);  // [rows, V]: each sequence's token and drafts, in order
  return out;
}

Result<Tensor> ModelRunner::run(const std::vector<RunnerSeq>& seqs) {
  SABLE_ASSIGN_OR_RETURN(Tensor dev, run_device(seqs));
  if (dev.device() == Device::kCPU) return dev;
  Tensor host = Tensor::empty(DType::F32, dev.shape());
  model_.backend().copy_to_host(dev, host.data());
  return host;
}

Result<Tensor> ModelRunner::run_device(const std::vector<RunnerSeq>& seqs) {
  const int bs = cache_.block_size;
  if (const int g = graph_for(seqs); g >= 0) return run_graph(size_t(g), seqs);
  last_graphed_ = false;
  ForwardBatch b;
  int max_blocks = 1;
  for (const auto& s : seqs) max_blocks = std::max(max_blocks, int(s.block_table->size()));
  b.max_blocks = max_blocks;
  b.block_size = bs;
  // The sequences whose attention takes MLA's expanded form go last (the
  // model runs it for a suffix of the batch), the rest keep their order; the
  // logits rows stay in the callers' order.
  std::vector<size_t> order(seqs.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::vector<char> expanded(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int n = seqs[i].num_new + (seqs[i].need_logits ? seqs[i].num_draft() : 0);
    expanded[i] = model_.use_expanded(n, seqs[i].num_computed + n);
  }
  std::stable_partition(order.begin(), order.end(), [&](size_t i) { return !expanded[i]; });
  std::vector<int32_t> last_row(seqs.size());  // each sequence's last new token (before its drafts)
  step_first_row_.assign(seqs.size(), 0);
  step_first_pos_.assign(seqs.size(), 0);
  step_num_rows_.assign(seqs.size(), 0);
  b.keep_hidden = speculative_;
  for (size_t k = 0; k < order.size(); ++k) {
    const RunnerSeq& s = seqs[order[k]];
    const int nd = s.need_logits ? s.num_draft() : 0, n = s.num_new + nd;
    step_first_row_[order[k]] = int32_t(b.token_ids.size());
    step_first_pos_[order[k]] = s.num_computed;
    step_num_rows_[order[k]] = n;
    for (int i = 0; i < n; ++i) {
      const int pos = s.num_computed + i;
      b.token_ids.push_back(i < s.num_new ? (*s.tokens)[size_t(pos)] : (*s.draft)[size_t(i - s.num_new)]);
      b.positions.push_back(pos);
      b.token_seq.push_back(int32_t(k));
      b.slot_mapping.push_back((*s.block_table)[size_t(pos / bs)] * bs + pos % bs);
    }
    last_row[order[k]] = int32_t(b.token_ids.size()) - 1 - nd;
    b.seq_lens.push_back(s.num_computed + n);
    for (int i = 0; i < max_blocks; ++i)
      b.block_tables.push_back(i < int(s.block_table->size()) ? (*s.block_table)[size_t(i)] : 0);
  }
  for (size_t si = 0; si < seqs.size(); ++si)
    if (seqs[si].need_logits)
      for (int j = 0; j <= seqs[si].num_draft(); ++j) b.logits_indices.push_back(last_row[si] + j);
  for (size_t si = 0; si < seqs.size(); ++si) {
    const int first = last_row[si] - seqs[si].num_new + 1;
    for (int i = 0; i < std::min(seqs[si].prompt_logits, seqs[si].num_new); ++i) b.logits_indices.push_back(first + i);
  }
  return model_.forward(b, cache_);
}

void ModelRunner::copy_block(int src, int dst) {
  // Each rank copies its own cache on its own device.
  model_.run_on_ranks(cache_, [&](int, DeepseekV3Model& m, KvCache& c) {
    for (Tensor& layer : c.layers) {
      Tensor s = layer.rows(src, src + 1), d = layer.rows(dst, dst + 1);
      m.backend().convert(s, d);
    }
  });
}

}  // namespace sable
