#include "apps/model_options.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "backend/device_select.h"
#include "core/logging.h"
#include "core/paths.h"
#include "model/presets.h"
#include "runner/host_memory.h"
#include "runner/memory_planner.h"
#include "runner/model_runner.h"
#include "tokenizer/tokenizer.h"

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
  app.add_option("--tokenizer", tokenizer, "Tokenizer directory (default: the model directory)");
  app.add_flag("--batch-invariant", batch_invariant,
               "A request's output does not depend on what else is batched with it (GPU: fixed GEMM "
               "kernels, slower; the CPU always is). Also SABLE_BATCH_INVARIANT=1 or VLLM_BATCH_INVARIANT=1");
  app.add_option("--tensor-parallel-size", tensor_parallel_size,
                 "Ranks the model is split over (attention heads, MLP and expert intermediate, vocabulary). "
                 "On the CPU backend, threads of this process that check the split (no speedup); across the "
                 "GPUs of this machine over NCCL, not yet validated there (opt in: SABLE_CUDA_TENSOR_PARALLEL=1)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_flag("--enable-expert-parallel", enable_expert_parallel,
               "Under --tensor-parallel-size, place the routed experts whole on the ranks (n_routed_experts / "
               "size each) instead of splitting every expert's intermediate; attention and the shared experts "
               "stay split");
  app.add_option("--seed", seed, "Seed for --load-format dummy weights (and sampling where applicable)");
  app.add_option("--log-level", log_level, "debug | info | warning | error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
}

Result<Backend*> select_backend(const std::string& device) { return select_backend_by_name(device); }

namespace {
Result<Backend*> backend_for(const ModelOptions& o) {
  BackendOptions bo;
  bo.quantize_fp8 = o.quantization == "fp8";
  bo.batch_invariant = o.batch_invariant;
  return select_backend_by_name(o.device, bo);
}
}  // namespace

Result<LoadedModel> load_model(const ModelOptions& o, bool allow_demo, const EngineConfig* plan) {
  set_log_level(o.log_level);
  LoadedModel lm;
  SABLE_ASSIGN_OR_RETURN(lm.backend, backend_for(o));
  std::string tok_dir = o.tokenizer;
  if (o.model.empty()) {
    if (!allow_demo) return invalid_argument("--model is required");
    SABLE_ASSIGN_OR_RETURN(ModelConfig cfg, preset_config("tiny"));
    // The demo model gains an MTP layer of random weights when asked for one.
    if (o.load_mtp) cfg.num_nextn_predict_layers = 1;
    lm.source = std::make_unique<DummyWeightSource>(cfg, o.seed, /*include_mtp=*/o.load_mtp);
    lm.model_name = "sable-demo";
    lm.is_demo = true;
    if (tok_dir.empty()) {
      tok_dir = find_asset("tokenizers/deepseek-v3");
      if (tok_dir.empty())
        return not_found("the demo model needs assets/tokenizers/deepseek-v3 (set SABLE_ASSETS to the assets folder)");
    }
    LOG_INFO("no --model given: serving the demo model (tiny DeepSeek-V3 dims, random weights, "
             "the DeepSeek-V3 tokenizer)");
  } else {
    SABLE_ASSIGN_OR_RETURN(lm.source, open_weight_source(o.model, o.load_format, o.seed, o.load_mtp));
    lm.model_name = o.model;
    if (tok_dir.empty() && std::filesystem::exists(o.model + "/tokenizer.json")) tok_dir = o.model;
  }
  if (!tok_dir.empty()) {
    SABLE_ASSIGN_OR_RETURN(std::shared_ptr<Tokenizer> tok, Tokenizer::load(tok_dir));
    if (tok->vocab_size() > lm.source->config().vocab_size)
      LOG_WARN("the tokenizer has {} tokens but the model's vocabulary is {}: ids past it are rejected",
               tok->vocab_size(), lm.source->config().vocab_size);
    if (!o.chat_template.empty()) tok->set_chat_template(o.chat_template);
    lm.tokenizer = std::move(tok);
  } else if (!o.chat_template.empty()) {
    return invalid_argument("--chat-template needs a tokenizer (the model has none; pass --tokenizer DIR)");
  }
  const bool dummy = dynamic_cast<const DummyWeightSource*>(lm.source.get()) != nullptr;
  {
    // Before any weight is made or read: a load the host cannot hold ends in
    // the kernel's OOM killer, with no message.
    const HostMemoryPlanInput hin =
        host_memory_input(o, lm.source->config(), dummy, lm.backend->device() == Device::kCPU,
                          plan ? *plan : o.engine.value_or(EngineConfig{}));
    const HostMemoryPlan hp = plan_host_memory(hin, probe_host_memory());
    LOG_DEBUG("{}", hp.to_string());
    if (!hp.warning.empty()) LOG_WARN("{}", hp.warning);
    if (!hp.fits) {
      if (host_memory_check_enabled()) return resource_exhausted(hp.advice);
      LOG_WARN("{} (loading anyway: SABLE_HOST_MEMORY_CHECK=0)", hp.advice);
    }
  }
  size_t free_b = 0, total_b = 0;
  if (plan && lm.backend->memory_info(&free_b, &total_b)) {
    MemoryPlanInput in;
    in.config = lm.source->config();
    // The MTP layer: one more MoE decoder layer and latent-cache layer (its
    // eh_proj, 2 H x H, is not counted).
    if (o.load_mtp) in.config.num_hidden_layers += 1;
    in.quantize_fp8 = o.quantization == "fp8";
    in.device_memory = int64_t(total_b);
    in.gpu_memory_utilization = plan->gpu_memory_utilization;
    in.max_model_len = plan->max_model_len;
    in.max_num_seqs = plan->max_num_seqs;
    in.max_num_batched_tokens = plan->max_num_batched_tokens;
    in.block_size = plan->block_size;
    in.kv_dtype = plan->kv_cache_dtype.value_or(lm.backend->activation_dtype());
    in.cuda_graphs = !plan->enforce_eager;
    if (plan->speculative.enabled()) in.logits_rows_per_seq = 1 + plan->speculative.num_speculative_tokens;
    in.mtp = o.load_mtp;
    in.tensor_parallel_size = o.tensor_parallel_size;
    if (lm.backend->multiprocessors() > 0) in.gpu_multiprocessors = lm.backend->multiprocessors();
    in.graph_split_rule = lm.backend->mla_graph_split_rule();
    MemoryPlan mp = plan_memory(in);
    LOG_INFO("{}", mp.to_string());
    if (!mp.fits) return resource_exhausted(mp.advice);
  }
  auto t0 = std::chrono::steady_clock::now();
  LoadOptions lo;
  lo.quantize_fp8 = o.quantization == "fp8" && !quantizes_at_prepare(*lm.backend);
  lo.backend_quantizes_fp8 = o.quantization == "fp8" && quantizes_at_prepare(*lm.backend);
  lo.tensor_parallel_size = o.tensor_parallel_size;
  lo.expert_parallel = o.enable_expert_parallel;
  lo.load_mtp = o.load_mtp;
  SABLE_ASSIGN_OR_RETURN(lm.model, DeepseekV3Model::load(*lm.source, *lm.backend, lo));
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int tp = lm.model->tensor_parallel_size();
  // Dummy weights: how much of it was generating them (a checkpoint's get
  // maps its files, so that split would say nothing about the disk).
  LOG_INFO("loaded {} on {}: {} layers, {:.2f} GB of weights{}, {:.1f} s{}", lm.source->describe(), lm.backend->name(),
           lm.model->config().num_hidden_layers, double(lm.model->weight_bytes()) / 1e9,
           tp > 1 ? " on rank 0 of " + std::to_string(tp) +
                        " (tensor parallel: " + std::to_string(lm.model->local_heads()) + " heads a rank" +
                        (o.enable_expert_parallel ? ", routed experts placed whole" : "") + ")"
                  : std::string(),
           s, dummy ? fmt::format(" ({:.1f} s of it generating them)", lm.model->load_source_seconds()) : "");
  return lm;
}

int64_t cpu_kv_cache_bytes(const ModelConfig& c, const EngineConfig& ec) {
  if (ec.kv_cache_memory > 0) return ec.kv_cache_memory;
  // The CPU cache is float32 latents, every layer.
  const int64_t per_token = int64_t(c.num_hidden_layers) * c.kv_latent_dim() * 4;
  if (ec.num_kv_blocks > 0) return int64_t(ec.num_kv_blocks) * ec.block_size * per_token;
  return kCpuKvCacheDefaultBytes;
}

HostMemoryPlanInput host_memory_input(const ModelOptions& o, const ModelConfig& cfg, bool dummy_weights,
                                      bool weights_on_host, const EngineConfig& ec) {
  HostMemoryPlanInput in;
  in.config = cfg;
  if (o.load_mtp) in.config.num_hidden_layers += 1;  // the MTP layer, as the GPU plan counts it
  in.quantize_fp8 = o.quantization == "fp8";
  in.dummy_weights = dummy_weights;
  in.weights_on_host = weights_on_host;
  in.tensor_parallel_size = o.tensor_parallel_size;
  in.expert_parallel = o.enable_expert_parallel;
  if (weights_on_host) in.kv_cache_bytes = cpu_kv_cache_bytes(in.config, ec);
  if (weights_on_host && !dummy_weights && !o.model.empty()) {
    std::error_code err;  // unreadable entries count as nothing
    for (const auto& e : std::filesystem::directory_iterator(o.model, err))
      if (e.path().extension() == ".safetensors") in.checkpoint_file_bytes += int64_t(e.file_size(err));
  }
  return in;
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
