// Speculative decoding's drafts from DeepSeek-V3's MTP module
// (ModelRunner::propose_mtp; the module is MtpWeights, its forward
// DeepseekV3Model::forward_mtp).
//
// After a step, the MTP module runs over every position the main model just
// computed whose next token is now known (a prompt chunk's, or a verified
// step's accepted positions and the token sampled after them), so that its
// own latent cache holds every position a later draft attends to. The last
// row of each sampling sequence gives the first draft; further drafts chain
// one position at a time from the module's own hidden state, as vLLM's
// DeepSeek MTP proposer does with num_speculative_tokens > 1.
#include <algorithm>

#include "runner/decode_graph.h"
#include "runner/model_runner.h"

namespace sable {

namespace {
// The argmax of each row of F32 logits [N, V], wherever they are.
std::vector<int32_t> argmax_rows(Backend& be, const Tensor& logits) {
  const int64_t N = logits.dim(0), V = logits.dim(1);
  std::vector<int32_t> out(static_cast<size_t>(N), 0);
  if (N == 0) return out;
  if (logits.device() != Device::kCPU) {
    std::vector<TokenSamplingRow> greedy(static_cast<size_t>(N));  // temperature 0: the argmax
    if (be.sample_tokens(logits, greedy, out.data())) return out;
  }
  std::vector<float> host;
  const float* p = nullptr;
  if (logits.device() == Device::kCPU) {
    p = logits.ptr<float>();
  } else {
    host.resize(size_t(N * V));
    be.copy_to_host(logits, host.data());
    p = host.data();
  }
  for (int64_t i = 0; i < N; ++i) out[size_t(i)] = int32_t(std::max_element(p + i * V, p + (i + 1) * V) - (p + i * V));
  return out;
}
}  // namespace

Result<std::vector<std::vector<int32_t>>> ModelRunner::propose_mtp(const std::vector<MtpSeq>& seqs) {
  if (!speculative_) return failed_precondition("propose_mtp: the runner is not in speculative mode");
  const int bs = cache_.block_size;
  std::vector<std::vector<int32_t>> drafts(seqs.size());
  auto slot = [&](const MtpSeq& s, int pos) { return (*s.block_table)[size_t(pos / bs)] * bs + pos % bs; };
  int max_blocks = 1;
  for (const MtpSeq& s : seqs) {
    if (s.step_seq < 0 || s.step_seq >= int(step_first_row_.size()))
      return invalid_argument("propose_mtp: no sequence " + std::to_string(s.step_seq) + " in the last step");
    const int p0 = step_first_pos_[size_t(s.step_seq)];
    if (s.num < 1 || s.first < p0 || s.first + s.num > p0 + step_num_rows_[size_t(s.step_seq)] ||
        s.first + s.num >= int(s.tokens->size()))
      return invalid_argument("propose_mtp: positions outside the last step's rows or without a next token");
    const int last = s.first + s.num - 1 + std::max(0, s.num_drafts - 1);  // the chain's last position
    if (last / bs >= int(s.block_table->size()))
      return invalid_argument("propose_mtp: the block table does not cover position " + std::to_string(last));
    max_blocks = std::max(max_blocks, int(s.block_table->size()));
  }
  auto tables = [&](ForwardBatch& b, const std::vector<size_t>& which) {
    b.max_blocks = max_blocks;
    b.block_size = bs;
    for (size_t k : which)
      for (int i = 0; i < max_blocks; ++i)
        b.block_tables.push_back(i < int(seqs[k].block_table->size()) ? (*seqs[k].block_table)[size_t(i)] : 0);
  };

  // 1. Every position the step computed and whose next token is known.
  ForwardBatch b;
  std::vector<int32_t> hidden_rows;
  std::vector<size_t> all(seqs.size()), wanting;  // wanting: the entries that draft
  for (size_t k = 0; k < seqs.size(); ++k) {
    const MtpSeq& s = seqs[k];
    all[k] = k;
    const int row0 = step_first_row_[size_t(s.step_seq)] + (s.first - step_first_pos_[size_t(s.step_seq)]);
    for (int j = 0; j < s.num; ++j) {
      const int pos = s.first + j;
      b.token_ids.push_back((*s.tokens)[size_t(pos) + 1]);
      b.positions.push_back(pos);
      b.token_seq.push_back(int32_t(k));
      b.slot_mapping.push_back(slot(s, pos));
      hidden_rows.push_back(row0 + j);
    }
    b.seq_lens.push_back(s.first + s.num);
    if (s.num_drafts > 0) {
      b.logits_indices.push_back(int32_t(b.token_ids.size()) - 1);
      wanting.push_back(k);
    }
  }
  tables(b, all);
  last_mtp_graphed_ = 0;
  // from: the rows of the MTP's kept hidden states each drafting entry continues from.
  std::vector<int32_t> from;
  SABLE_ASSIGN_OR_RETURN(std::vector<int32_t> next, mtp_step(b, hidden_rows, from));
  for (size_t w = 0; w < wanting.size(); ++w) drafts[wanting[w]].push_back(next[w]);

  // 2. The chain: one position further per draft, from the MTP's own hidden state.
  for (int step = 1;; ++step) {
    std::vector<size_t> cont, cont_w;  // entries that want more, and their index in `wanting`
    for (size_t w = 0; w < wanting.size(); ++w)
      if (seqs[wanting[w]].num_drafts > step) {
        cont.push_back(wanting[w]);
        cont_w.push_back(w);
      }
    if (cont.empty()) break;
    ForwardBatch c;
    std::vector<int32_t> rows;
    for (size_t i = 0; i < cont.size(); ++i) {
      const MtpSeq& s = seqs[cont[i]];
      const int pos = s.first + s.num - 1 + step;
      c.token_ids.push_back(drafts[cont[i]].back());
      c.positions.push_back(pos);
      c.token_seq.push_back(int32_t(i));
      c.slot_mapping.push_back(slot(s, pos));
      c.seq_lens.push_back(pos + 1);
      c.logits_indices.push_back(int32_t(i));
      rows.push_back(from[cont_w[i]]);
    }
    tables(c, cont);
    std::vector<int32_t> kept;
    SABLE_ASSIGN_OR_RETURN(std::vector<int32_t> nx, mtp_step(c, rows, kept));
    for (size_t i = 0; i < cont.size(); ++i) {
      drafts[cont[i]].push_back(nx[i]);
      from[cont_w[i]] = kept[i];
    }
  }
  return drafts;
}

Result<std::vector<int32_t>> ModelRunner::mtp_step(const ForwardBatch& b, const std::vector<int32_t>& hidden_rows,
                                                   std::vector<int32_t>& kept_rows) {
  // Each sequence's rows [row0[s], row0[s] + count[s]).
  const int n = b.num_seqs(), T = b.num_tokens();
  std::vector<int> row0(size_t(n), 0), count(size_t(n), 0);
  for (int t = 0; t < T; ++t) {
    const int s = b.token_seq[size_t(t)];
    if (count[size_t(s)]++ == 0) row0[size_t(s)] = t;
  }
  // A graph holds the call when every logits row is its sequence's last and
  // no row is at position 0 (whose embedding the module zeroes eagerly).
  int q = 1;
  bool fits =
      use_mtp_graphs_ && !mtp_graphs_.empty() && b.max_blocks <= graph_max_blocks_ && hidden_rows.size() == size_t(T);
  for (int s = 0; s < n && fits; ++s) {
    fits = count[size_t(s)] > 0;
    q = std::max(q, count[size_t(s)]);
  }
  for (int t = 0; t < T && fits; ++t) fits = b.positions[size_t(t)] > 0;
  std::vector<char> has_logits(size_t(n), 0);
  for (int32_t i : b.logits_indices) {
    if (!fits) break;
    const int s = b.token_seq[size_t(i)];
    fits = i == row0[size_t(s)] + count[size_t(s)] - 1 && !has_logits[size_t(s)];
    has_logits[size_t(s)] = 1;
  }
  int index = -1;
  if (fits) {
    const auto& g = mtp_graphs_[0];
    for (size_t i = 0; i < g.size() && index < 0; ++i)
      if (g[i]->q >= q && g[i]->batch >= n) index = int(i);
  }
  if (index < 0) {
    SABLE_ASSIGN_OR_RETURN(Tensor logits, model_.forward_mtp(b, hidden_rows, cache_));
    kept_rows = b.logits_indices;
    return argmax_rows(model_.backend(), logits);
  }

  DecodeGraph& g = *mtp_graphs_[0][size_t(index)];
  const int B = g.batch, Q = g.q, GT = g.tokens(), mb = graph_max_blocks_, bs = cache_.block_size;
  const int32_t V = int32_t(model_.config().vocab_size);
  const int64_t kept = model_.kept_hidden().data() ? model_.kept_hidden().dim(0) : 0;
  for (int32_t r : hidden_rows)
    if (r < 0 || r >= kept)
      return failed_precondition("propose_mtp: hidden-state row " + std::to_string(r) + " is not among the " +
                                 std::to_string(kept) + " the previous forward kept");
  const int64_t hidden_at = g.rows_at();
  for (int s = 0; s < B; ++s) {
    const bool real = s < n;
    const int c = real ? count[size_t(s)] : 1;
    // Rows past a sequence's own repeat its last one (token, position,
    // hidden state) and write the padding block; its logits row is its last
    // own row's.
    for (int j = 0; j < Q; ++j) {
      const int t = s * Q + j, src = real ? row0[size_t(s)] + std::min(j, c - 1) : -1;
      // Ids come from validated sequences and from drafting; the graph has
      // no check of its own (upload() makes the eager path's), so clamp.
      g.host[size_t(t)] = real ? std::clamp<int32_t>(b.token_ids[size_t(src)], 0, V - 1) : 0;
      g.host[size_t(GT + t)] = real ? b.positions[size_t(src)] : 0;
      g.host[size_t(3 * GT + t)] = real && j < c ? b.slot_mapping[size_t(src)] : pad_block_ * bs;
      g.host[size_t(hidden_at + t)] = real ? hidden_rows[size_t(src)] : 0;
    }
    g.host[size_t(g.seq_lens_at() + s)] = real ? b.seq_lens[size_t(s)] : 1;
    g.host[size_t(g.logits_at() + s)] = s * Q + c - 1;
    int32_t* table = g.host.data() + g.tables_at() + int64_t(s) * mb;
    if (real) {
      const int32_t* bt = b.block_tables.data() + int64_t(s) * b.max_blocks;
      std::copy(bt, bt + b.max_blocks, table);
    } else {
      std::fill(table, table + b.max_blocks, pad_block_);
    }
  }
  // Every rank gathers its own kept hidden states into the graph's input and
  // replays; the module's output states are the next call's.
  model_.run_on_ranks(cache_, [&](int r, DeepseekV3Model& m, KvCache&) {
    DecodeGraph& gr = *mtp_graphs_[size_t(r)][size_t(index)];
    g.upload(m.backend(), gr.packed, mb, b.max_blocks);
    const Tensor rows(gr.packed.ptr<int32_t>() + hidden_at, DType::I32, {GT}, gr.packed.device(), gr.packed.owner());
    m.gather_kept_hidden(rows, gr.h_in);  // [GT, H]
    m.backend().replay_graph(gr.graph.get());
    m.set_kept_hidden(gr.hidden);
  });
  ++last_mtp_graphed_;
  std::vector<int32_t> out;
  kept_rows.clear();
  if (b.logits_indices.empty()) return out;  // the module's cache slots filled only
  const std::vector<int32_t> tokens = argmax_rows(model_.backend(), g.logits.rows(0, n));  // [n]
  for (int32_t i : b.logits_indices) {
    const int s = b.token_seq[size_t(i)];
    out.push_back(tokens[size_t(s)]);
    kept_rows.push_back(s * Q + count[size_t(s)] - 1);
  }
  return out;
}

}  // namespace sable
