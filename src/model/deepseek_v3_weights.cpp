#include "model/deepseek_v3_weights.h"

#include <chrono>
#include <cstring>
#include <string>

#include "backend/cpu/convert.h"
#include "backend/cpu/ops.h"
#include "core/logging.h"
#include "model/fp8_quantize.h"
#include "model/tensor_specs.h"

namespace sable {
namespace {

class Loader {
 public:
  Loader(WeightSource& src, Backend& backend, const LoadOptions& opts, TpShard shard)
      : src_(src), be_(backend), opts_(opts), c_(src.config()), tp_(shard) {}

  // Adds the seconds of its scope to a load-time counter: where a slow load's
  // time goes (the disk or the dummy generator, against the backend's uploads
  // and preparation).
  struct Timed {
    double& s;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    ~Timed() { s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
  };
  Result<Tensor> get(const std::string& name, const Shape& shape) {
    Timed t{source_s_};
    return src_.get(name, shape);
  }
  Tensor to_device(const Tensor& host) {
    Timed t{prepare_s_};
    return be_.to_device(host);
  }
  void prepare_linear(LinearWeight& w) {
    Timed t{prepare_s_};
    be_.prepare_linear(w);
  }
  void prepare_experts(MoeExperts& e) {
    Timed t{prepare_s_};
    be_.prepare_experts(e);
  }

  // How a linear weight splits over the tensor-parallel ranks.
  enum class Split { kNone, kRows, kCols };

  // rows: this rank's part of the rows (a vocabulary-parallel embedding).
  Result<Tensor> tensor(const std::string& name, Shape shape, bool rows = false) {
    SABLE_ASSIGN_OR_RETURN(Tensor t, get(name, shape));
    if (!is_float(t.dtype()))
      return invalid_argument(name + ": dtype " + dtype_name(t.dtype()) + " is not a float type");
    if (rows && tp_.size > 1) t = t.rows(tp_.begin(t.dim(0)), tp_.begin(t.dim(0)) + tp_.part(t.dim(0)));
    Tensor d = to_device(t);
    bytes_ += d.nbytes();
    return d;
  }

  // A linear layer's weight [out, in], with its FP8 block scales if stored
  // as FP8; quantised at load under --quantization fp8.
  // prepare: hand the weight to the backend now; experts are prepared
  // together by prepare_experts instead (the backend packs them).
  // split: this rank's part of the rows or columns (before any quantisation,
  // so that blocks quantised at load start at the part's first row).
  Result<LinearWeight> linear(const std::string& prefix, int64_t n_out, int64_t n_in, bool allow_quant = true,
                              bool prepare = true, Split split = Split::kNone) {
    LinearWeight w;
    SABLE_ASSIGN_OR_RETURN(w.weight, get(prefix + ".weight", {n_out, n_in}));
    if (w.weight.dtype() == DType::F8_E4M3) {
      w.block_out = c_.quantization.block_out;
      w.block_in = c_.quantization.block_in;
      const Shape ss = fp8_scale_shape(n_out, n_in, w.block_out, w.block_in);
      if (!src_.has(prefix + ".weight_scale_inv"))
        return not_found(prefix + ".weight is float8_e4m3fn but " + prefix +
                         ".weight_scale_inv is missing from the checkpoint");
      SABLE_ASSIGN_OR_RETURN(w.scale_inv, get(prefix + ".weight_scale_inv", ss));
      if (w.scale_inv.dtype() != DType::F32)
        return invalid_argument(prefix + ".weight_scale_inv must be F32, found " + dtype_name(w.scale_inv.dtype()));
    } else if (!is_float(w.weight.dtype())) {
      return invalid_argument(prefix + ".weight: dtype " + std::string(dtype_name(w.weight.dtype())) +
                              " is not supported for a linear weight");
    }
    if (tp_.size > 1 && split != Split::kNone) {
      const int64_t n = split == Split::kRows ? n_out : n_in, b = tp_.begin(n), e = b + tp_.part(n);
      const int64_t block = split == Split::kRows ? w.block_out : w.block_in;
      // check_tensor_parallel covers the config's split dimensions; this
      // catches any other FP8 tensor (an FP8 lm_head) a part would cut.
      if (w.is_fp8() && (b % block != 0 || (e % block != 0 && e != n)))
        return invalid_argument(prefix + ": tensor-parallel rank " + std::to_string(tp_.rank) + "'s part [" +
                                std::to_string(b) + ", " + std::to_string(e) + ") starts or ends inside a " +
                                std::to_string(block) + "-wide FP8 scale block; use another --tensor-parallel-size");
      w = split == Split::kRows ? slice_linear_rows(w, b, e) : slice_linear_cols(w, b, e);
    }
    if (w.weight.dtype() != DType::F8_E4M3 && opts_.quantize_fp8 && allow_quant) {
      w = quantize_fp8_blocks(w);
    }
    w.keep_precision = !allow_quant;
    if (opts_.backend_quantizes_fp8 && allow_quant && !w.is_fp8()) {
      // What quantize_fp8_blocks would make of this rank's part.
      const int64_t r = w.weight.dim(0), k = w.weight.dim(1);
      bytes_ += size_t(r * k) + size_t(fp8_scale_shape(r, k, 128, 128).numel()) * sizeof(float);
    } else {
      bytes_ += w.nbytes();
    }
    if (prepare) prepare_linear(w);
    return w;
  }

  // split: false for a routed expert under expert parallelism (held whole).
  Result<MlpWeights> mlp(const std::string& p, int64_t inter, bool prepare = true, bool split = true) {
    MlpWeights m;
    const Split rows = split ? Split::kRows : Split::kNone, cols = split ? Split::kCols : Split::kNone;
    SABLE_ASSIGN_OR_RETURN(m.gate_proj, linear(p + ".gate_proj", inter, c_.hidden_size, true, prepare, rows));
    SABLE_ASSIGN_OR_RETURN(m.up_proj, linear(p + ".up_proj", inter, c_.hidden_size, true, prepare, rows));
    SABLE_ASSIGN_OR_RETURN(m.down_proj, linear(p + ".down_proj", c_.hidden_size, inter, true, prepare, cols));
    return m;
  }

  // Splits kv_b_proj [heads * (nope + v), kv_lora] into per-head W_UK and
  // W_UV, and keeps it whole for the expanded-form prefill, all in one dtype:
  // BF16 stays BF16 (exact); FP8 is dequantised to F32 on CPU, to the
  // activation dtype elsewhere, so that both MLA forms use the same weights
  // (an FP8 up-projection would also quantize c_kv to e4m3: 2-3% per value).
  // Under tensor parallelism, the rank's heads only.
  Status absorb_weights(const std::string& prefix, AttentionWeights& a) {
    const int64_t all_heads = c_.num_attention_heads, nope = c_.qk_nope_head_dim, v = c_.v_head_dim,
                  r = c_.kv_lora_rank;
    const int64_t heads = tp_.part(all_heads);
    LinearWeight kvb;
    SABLE_ASSIGN_OR_RETURN(kvb.weight, get(prefix + ".weight", {all_heads * (nope + v), r}));
    if (kvb.weight.dtype() == DType::F8_E4M3) {
      kvb.block_out = c_.quantization.block_out;
      kvb.block_in = c_.quantization.block_in;
      SABLE_ASSIGN_OR_RETURN(
          kvb.scale_inv,
          get(prefix + ".weight_scale_inv", fp8_scale_shape(all_heads * (nope + v), r, kvb.block_out, kvb.block_in)));
    }
    if (tp_.size > 1) {
      const int64_t h0 = tp_.begin(all_heads) * (nope + v);
      kvb = slice_linear_rows(kvb, h0, h0 + heads * (nope + v));
    }
    const DType out_dt = kvb.weight.dtype() == DType::F8_E4M3 || !is_float(kvb.weight.dtype())
                             ? (be_.activation_dtype() == DType::F32 ? DType::F32 : be_.activation_dtype())
                             : kvb.weight.dtype();
    Tensor uk = Tensor::empty(out_dt, {heads, nope, r}), uv = Tensor::empty(out_dt, {heads, v, r});
    Tensor whole = Tensor::empty(out_dt, {heads * (nope + v), r});
    std::vector<float> row(static_cast<size_t>(r));
    const size_t in_esz = dtype_size(kvb.weight.dtype()), out_esz = dtype_size(out_dt);
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t j = 0; j < nope + v; ++j) {
        const int64_t o = h * (nope + v) + j;
        cpu::to_f32(kvb.weight.ptr<char>() + size_t(o * r) * in_esz, kvb.weight.dtype(), r, row.data());
        if (kvb.is_fp8()) {
          const float* sc = kvb.scale_inv.ptr<float>() + (o / kvb.block_out) * kvb.scale_inv.dim(1);
          for (int64_t i = 0; i < r; ++i) row[size_t(i)] *= sc[i / kvb.block_in];
        }
        char* dst = j < nope ? uk.ptr<char>() + size_t((h * nope + j) * r) * out_esz
                             : uv.ptr<char>() + size_t((h * v + (j - nope)) * r) * out_esz;
        cpu::from_f32(row.data(), out_dt, r, dst);
        cpu::from_f32(row.data(), out_dt, r, whole.ptr<char>() + size_t(o * r) * out_esz);
      }
    a.w_uk = to_device(uk);
    a.w_uv = to_device(uv);
    bytes_ += a.w_uk.nbytes() + a.w_uv.nbytes();
    a.kv_b_proj = LinearWeight{};
    a.kv_b_proj.weight = whole;
    a.kv_b_proj.keep_precision = true;
    bytes_ += a.kv_b_proj.nbytes();
    prepare_linear(a.kv_b_proj);
    return Status::ok();
  }

  // [a; b]: the rows of a, then those of b (host copies, same dtype and
  // input width); nullopt when a's rows end inside an FP8 scale block.
  static std::optional<LinearWeight> stack_rows(const LinearWeight& a, const LinearWeight& b) {
    if (a.weight.dtype() != b.weight.dtype() || a.in_features() != b.in_features() ||
        a.keep_precision != b.keep_precision)
      return std::nullopt;
    if (a.is_fp8() && (a.block_out != b.block_out || a.block_in != b.block_in || a.out_features() % a.block_out != 0))
      return std::nullopt;
    auto cat = [](const Tensor& x, const Tensor& y) {
      Tensor t = Tensor::empty(x.dtype(), {x.dim(0) + y.dim(0), x.dim(1)});
      std::memcpy(t.data(), x.data(), x.nbytes());
      std::memcpy(t.ptr<char>() + x.nbytes(), y.data(), y.nbytes());
      return t;
    };
    LinearWeight w = a;
    w.prepared.reset();
    w.weight = cat(a.weight, b.weight);
    if (a.is_fp8()) w.scale_inv = cat(a.scale_inv, b.scale_inv);
    return w;
  }

  // Appends the shared MLP (intermediate n_shared x I) to the routed
  // experts as n_shared experts of intermediate I: expert j takes rows
  // [jI, (j+1)I) of gate and up and the same columns of down, so the sum of
  // their outputs is the shared MLP's. False (nothing appended) when an FP8
  // scale block would straddle two of them.
  // Under tensor parallelism the rank holds part S x I / size of the shared
  // MLP's intermediate, split the same way into S experts of I / size, the
  // routed experts' part.
  bool fuse_shared(const MlpWeights& sh, MoeWeights& m) {
    const int S = c_.n_shared_experts;
    const int64_t I = tp_.part(c_.moe_intermediate_size);
    if (S == 1) {
      m.experts.gate.push_back(sh.gate_proj);
      m.experts.up.push_back(sh.up_proj);
      m.experts.down.push_back(sh.down_proj);
      return true;
    }
    const bool fp8 = sh.gate_proj.is_fp8() || sh.down_proj.is_fp8();
    if (fp8 && (I % sh.gate_proj.block_out != 0 || I % sh.up_proj.block_out != 0 || I % sh.down_proj.block_in != 0))
      return false;
    auto row_slice = [&](const LinearWeight& w, int j) { return slice_linear_rows(w, j * I, (j + 1) * I); };
    // Columns [c0, c0 + n) of a host matrix, copied.
    auto col_copy = [](const Tensor& t, int64_t c0, int64_t n) {
      Tensor out = Tensor::empty(t.dtype(), {t.dim(0), n});
      cpu::copy_columns(t, c0, out);
      return out;
    };
    for (int j = 0; j < S; ++j) {
      m.experts.gate.push_back(row_slice(sh.gate_proj, j));
      m.experts.up.push_back(row_slice(sh.up_proj, j));
      LinearWeight d = sh.down_proj;
      d.weight = col_copy(sh.down_proj.weight, j * I, I);
      if (d.is_fp8())
        d.scale_inv = col_copy(sh.down_proj.scale_inv, j * I / d.block_in, I / d.block_in);
      m.experts.down.push_back(std::move(d));
    }
    return true;
  }

  Result<DecoderLayerWeights> layer(int i) {
    const std::string p = "model.layers." + std::to_string(i);
    const int64_t H = c_.hidden_size, heads = c_.num_attention_heads;
    DecoderLayerWeights L;
    SABLE_ASSIGN_OR_RETURN(L.input_layernorm, tensor(p + ".input_layernorm.weight", {H}));
    SABLE_ASSIGN_OR_RETURN(L.post_attention_layernorm, tensor(p + ".post_attention_layernorm.weight", {H}));
    const std::string a = p + ".self_attn";
    AttentionWeights& at = L.self_attn;
    const bool fuse_qkv_a = c_.q_lora_rank && opts_.fuse_qkv_a;
    if (c_.q_lora_rank) {
      SABLE_ASSIGN_OR_RETURN(at.q_a_proj, linear(a + ".q_a_proj", *c_.q_lora_rank, H, true, !fuse_qkv_a));
      SABLE_ASSIGN_OR_RETURN(at.q_a_layernorm, tensor(a + ".q_a_layernorm.weight", {*c_.q_lora_rank}));
      SABLE_ASSIGN_OR_RETURN(
          at.q_b_proj, linear(a + ".q_b_proj", heads * c_.qk_head_dim(), *c_.q_lora_rank, true, true, Split::kRows));
    } else {
      SABLE_ASSIGN_OR_RETURN(at.q_proj, linear(a + ".q_proj", heads * c_.qk_head_dim(), H, true, true, Split::kRows));
    }
    SABLE_ASSIGN_OR_RETURN(at.kv_a_proj_with_mqa, linear(a + ".kv_a_proj_with_mqa", c_.kv_lora_rank + c_.qk_rope_head_dim,
                                                         H, true, !fuse_qkv_a));
    if (fuse_qkv_a) {
      if (auto f = stack_rows(at.q_a_proj, at.kv_a_proj_with_mqa)) {
        at.fused_qkv_a_proj_with_mqa = std::move(*f);
        at.q_a_proj = at.kv_a_proj_with_mqa = LinearWeight{};
        prepare_linear(*at.fused_qkv_a_proj_with_mqa);
      } else {
        prepare_linear(at.q_a_proj);
        prepare_linear(at.kv_a_proj_with_mqa);
      }
    }
    SABLE_ASSIGN_OR_RETURN(at.kv_a_layernorm, tensor(a + ".kv_a_layernorm.weight", {c_.kv_lora_rank}));
    SABLE_RETURN_IF_ERROR(absorb_weights(a + ".kv_b_proj", at));
    SABLE_ASSIGN_OR_RETURN(at.o_proj, linear(a + ".o_proj", H, heads * c_.v_head_dim, true, true, Split::kCols));
    if (c_.is_moe_layer(i)) {
      MoeWeights m;
      // The router stays in its stored precision: routes flip in low precision.
      SABLE_ASSIGN_OR_RETURN(m.gate, linear(p + ".mlp.gate", c_.n_routed_experts, H, /*allow_quant=*/false));
      const std::string bias = p + ".mlp.gate.e_score_correction_bias";
      if (c_.topk_method == "noaux_tc") {
        SABLE_ASSIGN_OR_RETURN(Tensor b, get(bias, {c_.n_routed_experts}));
        if (b.dtype() != DType::F32) {  // keep the bias in float32, as the reference does
          Tensor f = Tensor::empty(DType::F32, b.shape());
          cpu::to_f32(b.data(), b.dtype(), b.numel(), f.ptr<float>());
          b = f;
        }
        m.e_score_correction_bias = to_device(b);
      }
      // Expert parallelism: this rank's experts, whole; else every expert's part.
      const bool ep = tp_.expert_parallel && tp_.size > 1;
      const int e0 = ep ? int(tp_.begin(c_.n_routed_experts)) : 0;
      const int e1 = ep ? e0 + int(tp_.part(c_.n_routed_experts)) : c_.n_routed_experts;
      if (ep) {
        m.expert_begin = e0;
        m.experts.routed_experts = c_.n_routed_experts;
      }
      for (int e = e0; e < e1; ++e) {
        SABLE_ASSIGN_OR_RETURN(MlpWeights ex, mlp(p + ".mlp.experts." + std::to_string(e), c_.moe_intermediate_size,
                                                  /*prepare=*/false, /*split=*/!ep));
        m.experts.gate.push_back(std::move(ex.gate_proj));
        m.experts.up.push_back(std::move(ex.up_proj));
        m.experts.down.push_back(std::move(ex.down_proj));
      }
      if (c_.n_shared_experts > 0) {
        SABLE_ASSIGN_OR_RETURN(MlpWeights sh, mlp(p + ".mlp.shared_experts",
                                                  c_.moe_intermediate_size * c_.n_shared_experts, /*prepare=*/false));
        // Under expert parallelism the shared part (I / size a rank) is
        // narrower than the routed experts (I), so it cannot join them.
        if (opts_.fuse_shared_experts && !ep && fuse_shared(sh, m)) {
          m.num_shared = c_.n_shared_experts;
        } else {
          prepare_linear(sh.gate_proj);
          prepare_linear(sh.up_proj);
          prepare_linear(sh.down_proj);
          m.shared_experts = std::move(sh);
        }
      }
      prepare_experts(m.experts);
      L.moe = std::move(m);
    } else {
      SABLE_ASSIGN_OR_RETURN(MlpWeights d, mlp(p + ".mlp", c_.intermediate_size));
      L.mlp = std::move(d);
    }
    return L;
  }

  // The MTP module: its decoder layer (split over the ranks as any other)
  // and the replicated norms and eh_proj.
  Status load_mtp(DeepseekV3Weights& w) {
    if (c_.num_nextn_predict_layers < 1)
      return invalid_argument(
          "config.json's num_nextn_predict_layers is 0: this checkpoint has no MTP layer. DeepSeek-V3 and R1 "
          "checkpoints carry one (layer 61); use ngram speculative decoding ('{\"method\": \"ngram\", "
          "\"num_speculative_tokens\": 3}') or none");
    const int i = c_.num_hidden_layers;
    const std::string p = "model.layers." + std::to_string(i);
    const int64_t H = c_.hidden_size;
    SABLE_ASSIGN_OR_RETURN(DecoderLayerWeights L, layer(i));
    MtpWeights m;
    SABLE_ASSIGN_OR_RETURN(m.enorm, tensor(p + ".enorm.weight", {H}));
    SABLE_ASSIGN_OR_RETURN(m.hnorm, tensor(p + ".hnorm.weight", {H}));
    SABLE_ASSIGN_OR_RETURN(m.shared_head_norm, tensor(p + ".shared_head.norm.weight", {H}));
    SABLE_ASSIGN_OR_RETURN(LinearWeight eh, linear(p + ".eh_proj", H, 2 * H, true, /*prepare=*/false));
    if (eh.is_fp8() && H % eh.block_in != 0)
      return invalid_argument(p + ".eh_proj: hidden_size " + std::to_string(H) + " splits an FP8 scale block of " +
                              std::to_string(eh.block_in) + " columns");
    m.eh_proj_embed = slice_linear_cols(eh, 0, H);  // [H, H]: the embedding's half
    m.eh_proj_hidden = slice_linear_cols(eh, H, 2 * H);
    prepare_linear(m.eh_proj_embed);
    prepare_linear(m.eh_proj_hidden);
    w.layers.push_back(std::move(L));
    w.mtp = std::move(m);
    return Status::ok();
  }

  Result<DeepseekV3Weights> load() {
    DeepseekV3Weights w;
    // The rank's rows of the vocabulary, as vLLM's VocabParallelEmbedding.
    SABLE_ASSIGN_OR_RETURN(w.embed_tokens,
                           tensor("model.embed_tokens.weight", {c_.vocab_size, c_.hidden_size}, /*rows=*/true));
    w.vocab_begin = tp_.begin(c_.vocab_size);
    for (int i = 0; i < c_.num_hidden_layers; ++i) {
      SABLE_ASSIGN_OR_RETURN(DecoderLayerWeights L, layer(i));
      w.layers.push_back(std::move(L));
    }
    SABLE_ASSIGN_OR_RETURN(w.norm, tensor("model.norm.weight", {c_.hidden_size}));
    if (c_.tie_word_embeddings && !src_.has("lm_head.weight")) {
      w.lm_head.weight = w.embed_tokens;  // the same rows of the vocabulary
      prepare_linear(w.lm_head);
    } else {  // the rank's rows of the vocabulary
      SABLE_ASSIGN_OR_RETURN(w.lm_head, linear("lm_head", c_.vocab_size, c_.hidden_size, false, true, Split::kRows));
    }
    if (opts_.load_mtp) {
      auto st = load_mtp(w);
      if (!st.is_ok())
        return st.with_context("loading the multi-token-prediction (MTP) layer for speculative decoding");
    }
    w.bytes = bytes_;
    w.source_seconds = source_s_;
    w.prepare_seconds = prepare_s_;
    return w;
  }

 private:
  static bool is_float(DType t) {
    return t == DType::F32 || t == DType::BF16 || t == DType::F16 || t == DType::F8_E4M3;
  }
  WeightSource& src_;
  Backend& be_;
  LoadOptions opts_;
  const ModelConfig& c_;
  TpShard tp_;
  size_t bytes_ = 0;
  double source_s_ = 0;
  double prepare_s_ = 0;
};

}  // namespace

Result<DeepseekV3Weights> load_deepseek_v3_weights(WeightSource& src, Backend& backend, const LoadOptions& opts,
                                                   TpShard shard) {
  return Loader(src, backend, opts, shard).load();
}

}  // namespace sable
