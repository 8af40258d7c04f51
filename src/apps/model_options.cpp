#include "apps/model_options.h"

#include <chrono>
#include <cstdlib>

#include "core/logging.h"
#include "backend/device_select.h"

namespace sable {

void ModelOptions::add_flags(CLI::App& app, bool model_required) {
  auto* m = app.add_option("--model", model, "Model directory (Hugging Face checkpoint layout)");
  if (model_required) m->required();
  app.add_option("--load-format", load_format, "auto | safetensors | dummy (random weights from config.json)")
      ->check(CLI::IsMember({"auto", "safetensors", "dummy"}));
  app.add_option("--device", device, "auto | cpu | cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--dtype", dtype, "auto | bfloat16 | float32 (accepted as in vLLM; CPU computes in float32)")
      ->check(CLI::IsMember({"auto", "bfloat16", "bf16", "float32", "half", "float16"}));
  app.add_option("--quantization,-q", quantization, "fp8: quantize BF16 weights to 128x128-block FP8 at load")
      ->check(CLI::IsMember({"", "fp8"}));
  app.add_option("--seed", seed, "Seed for --load-format dummy weights (and sampling where applicable)");
  app.add_option("--log-level", log_level, "debug | info | warning | error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
}

Result<Backend*> select_backend(const std::string& device) { return select_backend_by_name(device); }

Result<LoadedModel> load_model(const ModelOptions& o) {
  set_log_level(o.log_level);
  LoadedModel lm;
  SABLE_ASSIGN_OR_RETURN(lm.backend, select_backend(o.device));
  SABLE_ASSIGN_OR_RETURN(lm.source, open_weight_source(o.model, o.load_format, o.seed));
  auto t0 = std::chrono::steady_clock::now();
  LoadOptions lo;
  lo.quantize_fp8 = o.quantization == "fp8";
  SABLE_ASSIGN_OR_RETURN(lm.model, DeepseekV3Model::load(*lm.source, *lm.backend, lo));
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  LOG_INFO("loaded {} on {}: {} layers, {:.2f} GB of weights, {:.1f} s", lm.source->describe(),
           lm.backend->name(), lm.model->config().num_hidden_layers, double(lm.model->weight_bytes()) / 1e9, s);
  return lm;
}

Result<std::vector<int32_t>> parse_id_list(const std::string& s) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',' || s[i] == '\t' || s[i] == '[' || s[i] == ']')) ++i;
    if (i >= s.size()) break;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != ',' && s[j] != '\t' && s[j] != ']') ++j;
    std::string item = s.substr(i, j - i);
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 0 || v > INT32_MAX)
      return invalid_argument("token id '" + item + "' is not a non-negative integer");
    ids.push_back(int32_t(v));
    i = j;
  }
  if (ids.empty()) return invalid_argument("no token ids given");
  return ids;
}

}  // namespace sable
