#include "model/config.h"

#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

namespace sable {

namespace {

using json = nlohmann::json;

// nlohmann's message without its "[json.exception.parse_error.101] " tag.
std::string parse_error_text(const nlohmann::json::exception& e) {
  std::string s = e.what();
  size_t p = s.find("] ");
  return s.rfind("[json.exception", 0) == 0 && p != std::string::npos ? s.substr(p + 2) : s;
}

// Integer fields are dimensions, counts and ids; anything past int32 would
// overflow the products the forward computes from them, so it is rejected here.
constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();

// A JSON value as it appears in an error, shortened so that a pasted blob
// cannot flood the message.
std::string show(const json& v) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

Status field_error(const std::string& source, const std::string& field, const std::string& problem) {
  return invalid_argument(source + ": field '" + field + "' " + problem);
}

std::string min_phrase(int64_t min) {
  return min == 1 ? "a positive integer" : min == 0 ? "a non-negative integer"
                                                     : "an integer >= " + std::to_string(min);
}

// The range rule shared by parsing and validation, so that a config built in
// code and one read from disk get the same message.
Status check_int(const std::string& source, const std::string& field, int64_t v, int64_t min) {
  if (v < min) return field_error(source, field, "must be " + min_phrase(min) + ", got " + std::to_string(v));
  if (v > kMaxInt)
    return field_error(source, field, "must be at most " + std::to_string(kMaxInt) + ", got " + std::to_string(v));
  return Status::ok();
}

Status check_positive(const std::string& source, const std::string& field, double v) {
  if (!std::isfinite(v) || v <= 0) return field_error(source, field, "must be a positive number, got " + num(v));
  return Status::ok();
}

enum class Need { kRequired, kOptional };

// Typed access to one JSON object's fields. Optional fields that are absent
// or null leave the output untouched (it holds the default); required ones
// report "is missing".
class FieldReader {
 public:
  FieldReader(const json& obj, const std::string& source, std::string prefix)
      : obj_(obj), source_(source), prefix_(std::move(prefix)) {}

  const json* find(const char* key) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  bool contains(const char* key) const { return obj_.contains(key); }
  std::string name(const char* key) const { return prefix_ + key; }
  Status bad(const char* key, const std::string& problem) const {
    return field_error(source_, name(key), problem);
  }
  Status missing(const char* key) const { return bad(key, "is missing"); }

  Status integer(const char* key, int64_t& out, int64_t min, Need need) const {
    const json* v = find(key);
    if (!v) {
      if (need == Need::kOptional) return Status::ok();
      return contains(key) ? bad(key, "must be " + min_phrase(min) + ", got null") : missing(key);
    }
    if (v->is_number_unsigned()) {
      uint64_t u = v->get<uint64_t>();
      if (u > uint64_t(kMaxInt))
        return bad(key, "must be at most " + std::to_string(kMaxInt) + ", got " + show(*v));
      out = int64_t(u);
    } else if (v->is_number_integer()) {
      out = v->get<int64_t>();
    } else {
      return bad(key, "must be " + min_phrase(min) + ", got " + show(*v));
    }
    return check_int(source_, name(key), out, min);
  }
  Status integer(const char* key, int& out, int64_t min, Need need) const {
    int64_t v = out;
    SABLE_RETURN_IF_ERROR(integer(key, v, min, need));
    out = int(v);
    return Status::ok();
  }

  Status number(const char* key, double& out, Need need) const {
    const json* v = find(key);
    if (!v) {
      if (need == Need::kOptional) return Status::ok();
      return contains(key) ? bad(key, "must be a number, got null") : missing(key);
    }
    if (!v->is_number()) return bad(key, "must be a number, got " + show(*v));
    out = v->get<double>();
    if (!std::isfinite(out)) return bad(key, "must be a finite number, got " + show(*v));
    return Status::ok();
  }
  Status positive(const char* key, double& out, Need need) const {
    SABLE_RETURN_IF_ERROR(number(key, out, need));
    return check_positive(source_, name(key), out);
  }

  Status boolean(const char* key, bool& out) const {
    const json* v = find(key);
    if (!v) return Status::ok();
    if (!v->is_boolean()) return bad(key, "must be true or false, got " + show(*v));
    out = v->get<bool>();
    return Status::ok();
  }

  Status string(const char* key, std::string& out, Need need) const {
    const json* v = find(key);
    if (!v) {
      if (need == Need::kOptional) return Status::ok();
      return contains(key) ? bad(key, "must be a string, got null") : missing(key);
    }
    if (!v->is_string()) return bad(key, "must be a string, got " + show(*v));
    out = v->get<std::string>();
    return Status::ok();
  }

  // A token id: a non-negative integer, or null for "none".
  Status token_id(const char* key, std::optional<int64_t>& out) const {
    if (!contains(key)) return Status::ok();
    if (obj_.at(key).is_null()) {
      out.reset();
      return Status::ok();
    }
    int64_t v = 0;
    SABLE_RETURN_IF_ERROR(integer(key, v, 0, Need::kRequired));
    out = v;
    return Status::ok();
  }

 private:
  const json& obj_;
  const std::string& source_;
  std::string prefix_;
};

Status parse_rope(const json& top, const std::string& source, ModelConfig& c) {
  FieldReader t(top, source, "");
  double top_theta = 10000.0;
  SABLE_RETURN_IF_ERROR(t.positive("rope_theta", top_theta, Need::kOptional));
  c.rope_theta = top_theta;

  // transformers: a truthy rope_scaling wins over rope_parameters.
  const char* key = nullptr;
  for (const char* k : {"rope_scaling", "rope_parameters"}) {
    const json* v = t.find(k);
    if (v && !(v->is_object() && v->empty())) {
      key = k;
      break;
    }
  }
  c.rope_scaling = RopeScaling{};
  if (!key) return Status::ok();
  const json& rs = top.at(key);
  if (!rs.is_object()) return t.bad(key, "must be an object, got " + show(rs));
  FieldReader r(rs, source, std::string(key) + ".");

  std::string type = "default";
  if (r.find("rope_type")) {
    SABLE_RETURN_IF_ERROR(r.string("rope_type", type, Need::kRequired));
  } else {
    SABLE_RETURN_IF_ERROR(r.string("type", type, Need::kOptional));
  }
  SABLE_RETURN_IF_ERROR(r.positive("rope_theta", c.rope_theta, Need::kOptional));
  if (type == "default") return Status::ok();
  if (type != "yarn")
    return r.bad(r.find("rope_type") ? "rope_type" : "type",
                 "is '" + type + "'; only 'yarn' and 'default' are supported");

  RopeScaling& y = c.rope_scaling;
  y.type = "yarn";
  SABLE_RETURN_IF_ERROR(r.positive("factor", y.factor, Need::kRequired));
  // As transformers: a top-level original_max_position_embeddings wins, then
  // the rope object's, then max_position_embeddings.
  y.original_max_position_embeddings = c.max_position_embeddings;
  SABLE_RETURN_IF_ERROR(r.integer("original_max_position_embeddings", y.original_max_position_embeddings, 1,
                                  Need::kOptional));
  SABLE_RETURN_IF_ERROR(t.integer("original_max_position_embeddings", y.original_max_position_embeddings, 1,
                                  Need::kOptional));
  SABLE_RETURN_IF_ERROR(r.number("beta_fast", y.beta_fast, Need::kOptional));
  SABLE_RETURN_IF_ERROR(r.number("beta_slow", y.beta_slow, Need::kOptional));
  // transformers uses `beta or default`: 0 means the default too.
  if (y.beta_fast == 0) y.beta_fast = 32.0;
  if (y.beta_slow == 0) y.beta_slow = 1.0;
  // Absent stays absent: transformers derives the attention factor
  // differently when one of the two is missing.
  for (auto [k, out] : {std::pair{"mscale", &y.mscale}, std::pair{"mscale_all_dim", &y.mscale_all_dim}}) {
    out->reset();
    if (!r.find(k)) continue;
    double v = 0;
    SABLE_RETURN_IF_ERROR(r.number(k, v, Need::kRequired));
    *out = v;
  }
  if (r.find("attention_factor")) {
    double af = 0;
    SABLE_RETURN_IF_ERROR(r.positive("attention_factor", af, Need::kRequired));
    y.attention_factor = af;
  }
  SABLE_RETURN_IF_ERROR(r.boolean("truncate", y.truncate));
  return Status::ok();
}

Status parse_quantization(const json& top, const std::string& source, QuantizationConfig& q) {
  q = QuantizationConfig{};
  FieldReader t(top, source, "");
  const json* v = t.find("quantization_config");
  if (!v) return Status::ok();
  if (!v->is_object()) return t.bad("quantization_config", "must be an object, got " + show(*v));
  FieldReader r(*v, source, "quantization_config.");
  SABLE_RETURN_IF_ERROR(r.string("quant_method", q.quant_method, Need::kRequired));
  if (q.quant_method != "fp8")
    return r.bad("quant_method", "is '" + q.quant_method + "'; only 'fp8' is supported");
  SABLE_RETURN_IF_ERROR(r.string("fmt", q.fmt, Need::kOptional));
  SABLE_RETURN_IF_ERROR(r.string("activation_scheme", q.activation_scheme, Need::kOptional));
  if (r.contains("weight_block_size")) {
    const json& b = v->at("weight_block_size");
    // null would mean one scale per tensor, a different format.
    if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer())
      return r.bad("weight_block_size", "must be [block_out, block_in] (two positive integers), got " + show(b));
    int64_t bo = b[0].get<int64_t>(), bi = b[1].get<int64_t>();
    SABLE_RETURN_IF_ERROR(check_int(source, "quantization_config.weight_block_size[0]", bo, 1));
    SABLE_RETURN_IF_ERROR(check_int(source, "quantization_config.weight_block_size[1]", bi, 1));
    q.block_out = int(bo);
    q.block_in = int(bi);
  }
  return Status::ok();
}

Status parse_fields(const json& j, const std::string& source, ModelConfig& c) {
  FieldReader r(j, source, "");
  // model_type first: a config for another architecture should say so rather
  // than complain about some field it lacks.
  SABLE_RETURN_IF_ERROR(r.string("model_type", c.model_type, Need::kRequired));
  if (c.model_type != "deepseek_v3")
    return invalid_argument(source + ": model_type is '" + c.model_type +
                            "'; Sable supports only 'deepseek_v3' (DeepseekV3ForCausalLM)");

  // Dimensions are required: transformers would default them to the 671B
  // model's, which silently mis-shapes any other checkpoint.
  SABLE_RETURN_IF_ERROR(r.integer("vocab_size", c.vocab_size, 1, Need::kRequired));
  SABLE_RETURN_IF_ERROR(r.integer("hidden_size", c.hidden_size, 1, Need::kRequired));
  SABLE_RETURN_IF_ERROR(r.integer("intermediate_size", c.intermediate_size, 1, Need::kRequired));
  SABLE_RETURN_IF_ERROR(r.integer("moe_intermediate_size", c.moe_intermediate_size, 1, Need::kRequired));
  SABLE_RETURN_IF_ERROR(r.integer("num_hidden_layers", c.num_hidden_layers, 1, Need::kRequired));
  SABLE_RETURN_IF_ERROR(r.integer("num_attention_heads", c.num_attention_heads, 1, Need::kRequired));
  SABLE_RETURN_IF_ERROR(r.integer("n_routed_experts", c.n_routed_experts, 1, Need::kRequired));
  SABLE_RETURN_IF_ERROR(r.integer("num_experts_per_tok", c.num_experts_per_tok, 1, Need::kRequired));
  SABLE_RETURN_IF_ERROR(r.integer("kv_lora_rank", c.kv_lora_rank, 1, Need::kRequired));
  SABLE_RETURN_IF_ERROR(r.integer("qk_rope_head_dim", c.qk_rope_head_dim, 1, Need::kRequired));
  SABLE_RETURN_IF_ERROR(r.integer("qk_nope_head_dim", c.qk_nope_head_dim, 1, Need::kRequired));
  SABLE_RETURN_IF_ERROR(r.integer("v_head_dim", c.v_head_dim, 1, Need::kRequired));
  // q_lora_rank must be present: null means "no query compression", while an
  // absent key means 1536 to transformers; neither should be guessed.
  if (!r.contains("q_lora_rank"))
    return r.bad("q_lora_rank", "is missing (use null for a model without query compression)");
  c.q_lora_rank.reset();
  if (r.find("q_lora_rank")) {
    int64_t q = 0;
    SABLE_RETURN_IF_ERROR(r.integer("q_lora_rank", q, 1, Need::kRequired));
    c.q_lora_rank = q;
  }

  // Optional fields take transformers' DeepseekV3Config defaults.
  c.num_key_value_heads = c.num_attention_heads;  // transformers: None -> num_attention_heads
  SABLE_RETURN_IF_ERROR(r.integer("num_key_value_heads", c.num_key_value_heads, 1, Need::kOptional));
  c.n_shared_experts = 1;
  SABLE_RETURN_IF_ERROR(r.integer("n_shared_experts", c.n_shared_experts, 0, Need::kOptional));
  c.routed_scaling_factor = 2.5;
  SABLE_RETURN_IF_ERROR(r.positive("routed_scaling_factor", c.routed_scaling_factor, Need::kOptional));
  c.n_group = 8;
  SABLE_RETURN_IF_ERROR(r.integer("n_group", c.n_group, 1, Need::kOptional));
  c.topk_group = 4;
  SABLE_RETURN_IF_ERROR(r.integer("topk_group", c.topk_group, 1, Need::kOptional));
  c.first_k_dense_replace = 3;
  SABLE_RETURN_IF_ERROR(r.integer("first_k_dense_replace", c.first_k_dense_replace, 0, Need::kOptional));
  // Not a transformers field (its forward ignores it); DeepSeek's own code
  // reads it, and 1 makes every layer past the dense ones MoE.
  c.moe_layer_freq = 1;
  SABLE_RETURN_IF_ERROR(r.integer("moe_layer_freq", c.moe_layer_freq, 1, Need::kOptional));
  // transformers 5 calls it num_mtp_layers (default 1) and maps the old name on it.
  c.num_nextn_predict_layers = 1;
  SABLE_RETURN_IF_ERROR(r.integer("num_mtp_layers", c.num_nextn_predict_layers, 0, Need::kOptional));
  SABLE_RETURN_IF_ERROR(r.integer("num_nextn_predict_layers", c.num_nextn_predict_layers, 0, Need::kOptional));
  c.norm_topk_prob = true;
  SABLE_RETURN_IF_ERROR(r.boolean("norm_topk_prob", c.norm_topk_prob));
  c.topk_method = "noaux_tc";
  SABLE_RETURN_IF_ERROR(r.string("topk_method", c.topk_method, Need::kOptional));
  c.scoring_func = "sigmoid";
  SABLE_RETURN_IF_ERROR(r.string("scoring_func", c.scoring_func, Need::kOptional));
  c.hidden_act = "silu";
  SABLE_RETURN_IF_ERROR(r.string("hidden_act", c.hidden_act, Need::kOptional));
  c.max_position_embeddings = 4096;
  SABLE_RETURN_IF_ERROR(r.integer("max_position_embeddings", c.max_position_embeddings, 1, Need::kOptional));
  c.rms_norm_eps = 1e-6;
  SABLE_RETURN_IF_ERROR(r.positive("rms_norm_eps", c.rms_norm_eps, Need::kOptional));
  c.rope_interleave = true;
  SABLE_RETURN_IF_ERROR(r.boolean("rope_interleave", c.rope_interleave));
  c.tie_word_embeddings = false;
  SABLE_RETURN_IF_ERROR(r.boolean("tie_word_embeddings", c.tie_word_embeddings));
  c.attention_bias = false;
  SABLE_RETURN_IF_ERROR(r.boolean("attention_bias", c.attention_bias));
  // transformers 5 writes "dtype", earlier versions "torch_dtype".
  c.torch_dtype = "bfloat16";
  SABLE_RETURN_IF_ERROR(r.string("torch_dtype", c.torch_dtype, Need::kOptional));
  SABLE_RETURN_IF_ERROR(r.string("dtype", c.torch_dtype, Need::kOptional));

  c.bos_token_id = 0;
  SABLE_RETURN_IF_ERROR(r.token_id("bos_token_id", c.bos_token_id));
  c.eos_token_id = 1;
  c.eos_token_ids = {1};
  if (r.contains("eos_token_id") && j.at("eos_token_id").is_array()) {
    c.eos_token_ids.clear();
    for (const json& e : j.at("eos_token_id")) {
      if (!e.is_number_integer() || e.get<int64_t>() < 0)
        return r.bad("eos_token_id", "must be a non-negative integer or a list of them, got " +
                                          show(j.at("eos_token_id")));
      c.eos_token_ids.push_back(e.get<int64_t>());
    }
    c.eos_token_id.reset();
    if (!c.eos_token_ids.empty()) c.eos_token_id = c.eos_token_ids.front();
  } else {
    SABLE_RETURN_IF_ERROR(r.token_id("eos_token_id", c.eos_token_id));
    c.eos_token_ids.clear();
    if (c.eos_token_id) c.eos_token_ids.push_back(*c.eos_token_id);
  }

  SABLE_RETURN_IF_ERROR(parse_rope(j, source, c));
  SABLE_RETURN_IF_ERROR(parse_quantization(j, source, c.quantization));
  return Status::ok();
}

Status contradiction(const std::string& source, const std::string& what) {
  return invalid_argument(source + ": " + what);
}

std::string kv(const char* name, int64_t v) { return std::string(name) + " (" + std::to_string(v) + ")"; }

// DeepSeek's yarn_get_mscale.
double yarn_get_mscale(double scale, double m) {
  if (scale <= 1.0) return 1.0;
  return 0.1 * m * std::log(scale) + 1.0;
}

}  // namespace

double RopeScaling::cos_sin_scale() const {
  if (!is_yarn()) return 1.0;
  if (attention_factor) return *attention_factor;
  const double ms = mscale.value_or(0.0), ms_all = mscale_all_dim.value_or(0.0);
  if (ms != 0 && ms_all != 0) return yarn_get_mscale(factor, ms) / yarn_get_mscale(factor, ms_all);
  return yarn_get_mscale(factor, 1.0);
}

double RopeScaling::softmax_scale_multiplier() const {
  const double ms_all = mscale_all_dim.value_or(0.0);
  if (!is_yarn() || ms_all == 0) return 1.0;
  double m = yarn_get_mscale(factor, ms_all);
  return m * m;
}

double ModelConfig::softmax_scale() const {
  return rope_scaling.softmax_scale_multiplier() / std::sqrt(double(qk_head_dim()));
}

Status validate_model_config(const ModelConfig& c, const std::string& source) {
  if (c.model_type != "deepseek_v3")
    return invalid_argument(source + ": model_type is '" + c.model_type +
                            "'; Sable supports only 'deepseek_v3' (DeepseekV3ForCausalLM)");
  struct IntField { const char* name; int64_t value; int64_t min; };
  const IntField ints[] = {
      {"vocab_size", c.vocab_size, 1},
      {"hidden_size", c.hidden_size, 1},
      {"intermediate_size", c.intermediate_size, 1},
      {"moe_intermediate_size", c.moe_intermediate_size, 1},
      {"num_hidden_layers", c.num_hidden_layers, 1},
      {"num_attention_heads", c.num_attention_heads, 1},
      {"num_key_value_heads", c.num_key_value_heads, 1},
      {"n_routed_experts", c.n_routed_experts, 1},
      {"num_experts_per_tok", c.num_experts_per_tok, 1},
      {"n_shared_experts", c.n_shared_experts, 0},
      {"kv_lora_rank", c.kv_lora_rank, 1},
      {"qk_rope_head_dim", c.qk_rope_head_dim, 1},
      {"qk_nope_head_dim", c.qk_nope_head_dim, 1},
      {"v_head_dim", c.v_head_dim, 1},
      {"n_group", c.n_group, 1},
      {"topk_group", c.topk_group, 1},
      {"first_k_dense_replace", c.first_k_dense_replace, 0},
      {"moe_layer_freq", c.moe_layer_freq, 1},
      {"num_nextn_predict_layers", c.num_nextn_predict_layers, 0},
      {"max_position_embeddings", c.max_position_embeddings, 1},
  };
  for (const IntField& f : ints) SABLE_RETURN_IF_ERROR(check_int(source, f.name, f.value, f.min));
  if (c.q_lora_rank) SABLE_RETURN_IF_ERROR(check_int(source, "q_lora_rank", *c.q_lora_rank, 1));
  SABLE_RETURN_IF_ERROR(check_positive(source, "routed_scaling_factor", c.routed_scaling_factor));
  SABLE_RETURN_IF_ERROR(check_positive(source, "rms_norm_eps", c.rms_norm_eps));
  SABLE_RETURN_IF_ERROR(check_positive(source, "rope_theta", c.rope_theta));

  // What the forward implements; anything else would silently compute
  // something different from the reference.
  if (c.topk_method != "noaux_tc")
    return field_error(source, "topk_method", "is '" + c.topk_method + "'; only 'noaux_tc' is supported");
  if (c.scoring_func != "sigmoid")
    return field_error(source, "scoring_func", "is '" + c.scoring_func + "'; only 'sigmoid' is supported");
  if (c.hidden_act != "silu")
    return field_error(source, "hidden_act", "is '" + c.hidden_act + "'; only 'silu' is supported");
  if (c.attention_bias)
    return field_error(source, "attention_bias", "is true; attention projections with bias are not supported");

  if (c.num_attention_heads % c.num_key_value_heads != 0)
    return contradiction(source, kv("num_attention_heads", c.num_attention_heads) +
                                     " is not divisible by " + kv("num_key_value_heads", c.num_key_value_heads));
  if (c.qk_rope_head_dim % 2 != 0)
    return field_error(source, "qk_rope_head_dim",
                       "must be even (RoPE rotates pairs of dimensions), got " + std::to_string(c.qk_rope_head_dim));
  if (c.n_routed_experts % c.n_group != 0)
    return contradiction(source, kv("n_routed_experts", c.n_routed_experts) + " is not divisible by " +
                                     kv("n_group", c.n_group));
  // Group scores are the sum of each group's top-2 experts.
  if (c.n_routed_experts / c.n_group < 2)
    return contradiction(source, "n_routed_experts / n_group = " + std::to_string(c.n_routed_experts / c.n_group) +
                                     "; noaux_tc routing needs at least 2 experts per group");
  if (c.topk_group > c.n_group)
    return contradiction(source, kv("topk_group", c.topk_group) + " is greater than " + kv("n_group", c.n_group));
  if (c.num_experts_per_tok > c.n_routed_experts)
    return contradiction(source, kv("num_experts_per_tok", c.num_experts_per_tok) + " is greater than " +
                                     kv("n_routed_experts", c.n_routed_experts));
  int64_t selectable = int64_t(c.topk_group) * (c.n_routed_experts / c.n_group);
  if (c.num_experts_per_tok > selectable)
    return contradiction(source, kv("num_experts_per_tok", c.num_experts_per_tok) +
                                     " is greater than the experts in the kept groups: topk_group (" +
                                     std::to_string(c.topk_group) + ") x n_routed_experts / n_group (" +
                                     std::to_string(c.n_routed_experts / c.n_group) + ") = " +
                                     std::to_string(selectable));
  if (c.first_k_dense_replace > c.num_hidden_layers)
    return contradiction(source, kv("first_k_dense_replace", c.first_k_dense_replace) + " is greater than " +
                                     kv("num_hidden_layers", c.num_hidden_layers));

  const RopeScaling& y = c.rope_scaling;
  if (y.type != "default" && y.type != "yarn")
    return field_error(source, "rope_scaling.type", "is '" + y.type + "'; only 'yarn' and 'default' are supported");
  if (y.is_yarn()) {
    SABLE_RETURN_IF_ERROR(check_positive(source, "rope_scaling.factor", y.factor));
    SABLE_RETURN_IF_ERROR(check_int(source, "rope_scaling.original_max_position_embeddings",
                                    y.original_max_position_embeddings, 1));
    if (y.attention_factor) SABLE_RETURN_IF_ERROR(check_positive(source, "rope_scaling.attention_factor",
                                                                 *y.attention_factor));
  }

  const QuantizationConfig& q = c.quantization;
  if (!q.quant_method.empty()) {
    if (q.quant_method != "fp8")
      return field_error(source, "quantization_config.quant_method",
                         "is '" + q.quant_method + "'; only 'fp8' is supported");
    if (q.fmt != "e4m3")
      return field_error(source, "quantization_config.fmt", "is '" + q.fmt + "'; only 'e4m3' is supported");
    // Static activation scales would come as extra tensors that nothing reads.
    if (q.activation_scheme != "dynamic")
      return field_error(source, "quantization_config.activation_scheme",
                         "is '" + q.activation_scheme + "'; only 'dynamic' is supported");
    SABLE_RETURN_IF_ERROR(check_int(source, "quantization_config.weight_block_size[0]", q.block_out, 1));
    SABLE_RETURN_IF_ERROR(check_int(source, "quantization_config.weight_block_size[1]", q.block_in, 1));
  }
  return Status::ok();
}

Result<ModelConfig> parse_model_config(const std::string& json_text, const std::string& source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {  // syntax, or a number past double's range
    return invalid_argument(source + ": malformed JSON: " + parse_error_text(e));
  }
  if (!j.is_object()) return invalid_argument(source + ": expected a JSON object, got " + show(j));
  ModelConfig c;
  SABLE_RETURN_IF_ERROR(parse_fields(j, source, c));
  SABLE_RETURN_IF_ERROR(validate_model_config(c, source));
  return c;
}

Result<ModelConfig> load_model_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open config.json");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error(path + ": read failed");
  return parse_model_config(ss.str(), path);
}

std::string model_config_to_json(const ModelConfig& c) {
  // ordered_json keeps the published config's field order, so a written
  // config reads like the real one.
  nlohmann::ordered_json j;
  j["architectures"] = {"DeepseekV3ForCausalLM"};
  j["model_type"] = c.model_type.empty() ? "deepseek_v3" : c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["moe_intermediate_size"] = c.moe_intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_nextn_predict_layers"] = c.num_nextn_predict_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["n_shared_experts"] = c.n_shared_experts;
  j["n_routed_experts"] = c.n_routed_experts;
  j["routed_scaling_factor"] = c.routed_scaling_factor;
  j["kv_lora_rank"] = c.kv_lora_rank;
  j["q_lora_rank"] = c.q_lora_rank ? nlohmann::ordered_json(*c.q_lora_rank) : nlohmann::ordered_json(nullptr);
  j["qk_rope_head_dim"] = c.qk_rope_head_dim;
  j["v_head_dim"] = c.v_head_dim;
  j["qk_nope_head_dim"] = c.qk_nope_head_dim;
  j["topk_method"] = c.topk_method;
  j["n_group"] = c.n_group;
  j["topk_group"] = c.topk_group;
  j["num_experts_per_tok"] = c.num_experts_per_tok;
  j["moe_layer_freq"] = c.moe_layer_freq;
  j["first_k_dense_replace"] = c.first_k_dense_replace;
  j["norm_topk_prob"] = c.norm_topk_prob;
  j["scoring_func"] = c.scoring_func;
  j["hidden_act"] = c.hidden_act;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["rope_interleave"] = c.rope_interleave;
  const RopeScaling& y = c.rope_scaling;
  if (y.is_yarn()) {
    nlohmann::ordered_json rs;
    // Both spellings, as the published config and newer transformers read them.
    rs["type"] = "yarn";
    rs["rope_type"] = "yarn";
    rs["factor"] = y.factor;
    rs["original_max_position_embeddings"] = y.original_max_position_embeddings;
    rs["beta_fast"] = y.beta_fast;
    rs["beta_slow"] = y.beta_slow;
    if (y.mscale) rs["mscale"] = *y.mscale;
    if (y.mscale_all_dim) rs["mscale_all_dim"] = *y.mscale_all_dim;
    if (y.attention_factor) rs["attention_factor"] = *y.attention_factor;
    if (!y.truncate) rs["truncate"] = false;
    j["rope_scaling"] = rs;
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["bos_token_id"] = c.bos_token_id ? nlohmann::ordered_json(*c.bos_token_id) : nlohmann::ordered_json(nullptr);
  if (c.eos_token_ids.size() > 1) {
    j["eos_token_id"] = c.eos_token_ids;
  } else {
    j["eos_token_id"] = c.eos_token_id ? nlohmann::ordered_json(*c.eos_token_id) : nlohmann::ordered_json(nullptr);
  }
  j["torch_dtype"] = c.torch_dtype;
  j["attention_bias"] = c.attention_bias;
  if (c.quantization.is_fp8()) {
    nlohmann::ordered_json q;
    q["activation_scheme"] = c.quantization.activation_scheme;
    q["fmt"] = c.quantization.fmt;
    q["quant_method"] = c.quantization.quant_method;
    q["weight_block_size"] = {c.quantization.block_out, c.quantization.block_in};
    j["quantization_config"] = q;
  }
  return j.dump(2) + "\n";
}

}  // namespace sable
