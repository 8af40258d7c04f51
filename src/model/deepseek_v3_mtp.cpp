// DeepSeek-V3's multi-token-prediction module's forward (MtpWeights), for
// speculative decoding's drafts: DeepseekV3Model::forward_mtp. The module's
// decoder layer runs through the same decoder_layer() as the main model's,
// on its own slot of the latent cache.
#include <algorithm>
#include <optional>

#include "dist/communicator.h"
#include "model/deepseek_v3.h"

namespace sable {

Result<Tensor> DeepseekV3Model::forward_mtp(const ForwardBatch& batch, const std::vector<int32_t>& hidden_rows,
                                            KvCache& cache) {
  if (!has_mtp()) return failed_precondition("forward_mtp: the model was loaded without its MTP layer");
  if (!group_) return forward_mtp_rank(batch, hidden_rows, cache);
  const int n = tensor_parallel_size();
  if (int(cache.peers.size()) != n - 1)
    return failed_precondition("forward_mtp: the KV cache was not allocated for every tensor-parallel rank");
  std::vector<std::optional<Result<Tensor>>> out(static_cast<size_t>(n));
  run_on_ranks(cache, [&](int r, DeepseekV3Model& m, KvCache& c) {
    out[size_t(r)] = m.forward_mtp_rank(batch, hidden_rows, c);
  });
  return std::move(*out[0]);
}

Result<Tensor> DeepseekV3Model::forward_mtp_rank(const ForwardBatch& batch, const std::vector<int32_t>& hidden_rows,
                                                 KvCache& cache) {
  if (int(cache.layers.size()) != num_cache_layers())
    return failed_precondition("forward_mtp: the KV cache has no layer for the MTP module");
  if (hidden_rows.size() != batch.token_ids.size())
    return invalid_argument("forward_mtp: one hidden-state row per token is needed");
  const int64_t kept = hidden_.data() ? hidden_.dim(0) : 0;
  for (int32_t r : hidden_rows)
    if (r < 0 || r >= kept)
      return failed_precondition("forward_mtp: hidden-state row " + std::to_string(r) + " is not among the " +
                                 std::to_string(kept) + " the previous forward kept");
  SABLE_ASSIGN_OR_RETURN(DeviceBatch d, upload(batch));
  Backend& be = backend_;
  const int64_t T = batch.num_tokens(), H = config_.hidden_size;
  Tensor host_rows = Tensor::empty(DType::I32, {T});
  std::copy(hidden_rows.begin(), hidden_rows.end(), host_rows.ptr<int32_t>());
  const Tensor rows = be.to_device(host_rows);
  Tensor h_prev = be.empty(DType::F32, {T, H});
  gather_kept_hidden(rows, h_prev);  // [T, H]: h_i
  std::vector<int64_t> first_rows;
  for (int64_t t = 0; t < T; ++t)
    if (batch.positions[size_t(t)] == 0) first_rows.push_back(t);
  return forward_mtp_device(d, h_prev, cache, first_rows);
}

void DeepseekV3Model::gather_kept_hidden(const Tensor& rows, Tensor& out) {
  Backend& be = backend_;
  if (hidden_.dtype() == out.dtype()) {
    be.gather_rows(hidden_, rows, out);
    return;
  }
  // The main model keeps its normed output in the activation dtype, the MTP
  // its F32 residual: the module reads F32 either way (bf16 -> F32 is exact),
  // so that a graph's input buffer has one dtype.
  Tensor tmp = be.empty(hidden_.dtype(), out.shape());
  be.gather_rows(hidden_, rows, tmp);
  be.convert(tmp, out);
}

Tensor DeepseekV3Model::forward_mtp_device(const DeviceBatch& d, const Tensor& h_prev, KvCache& cache,
                                           const std::vector<int64_t>& first_rows) {
  Backend& be = backend_;
  const int64_t T = d.token_ids.numel(), H = config_.hidden_size;
  const DType act = be.activation_dtype();
  const float eps = float(config_.rms_norm_eps);
  const MtpWeights& w = *weights_.mtp;

  Tensor e = be.empty(DType::F32, {T, H});
  be.embedding(d.token_ids, weights_.embed_tokens, weights_.vocab_begin, e);  // [T, H]: embed(t_{i+1})
  if (comm_) comm_->all_reduce_sum(e);
  // As vLLM's DeepSeek MTP: the embedding of a row at position 0 is zeroed.
  if (!first_rows.empty()) {
    const Tensor zero = be.to_device(Tensor::zeros(DType::F32, {1, H}));
    for (int64_t t : first_rows) {
      Tensor row = e.rows(t, t + 1);
      be.convert(zero, row);
    }
  }
  Tensor en = be.empty(act, {T, H});
  be.rms_norm(e, w.enorm, eps, en);
  Tensor hn = be.empty(act, {T, H});
  be.rms_norm(h_prev, w.hnorm, eps, hn);
  // eh_proj([enorm(e) | hnorm(h)]) as its two halves, into the residual stream.
  Tensor residual = be.empty(DType::F32, {T, H}), part = be.empty(DType::F32, {T, H});
  be.linear(en, w.eh_proj_embed, residual);
  be.linear(hn, w.eh_proj_hidden, part);
  be.add_inplace(residual, part);
  debug("mtp.eh_proj.out", residual);

  Tensor prev;
  decoder_layer(config_.num_hidden_layers, /*first=*/true, residual, prev, d, cache);
  Tensor out = be.empty(act, {T, H});
  be.add_rms_norm(residual, prev, w.shared_head_norm, eps, out);  // residual: the MTP's hidden state
  hidden_ = residual;
  return compute_logits(out, d);
}

}  // namespace sable
