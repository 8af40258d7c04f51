// sable serve: the OpenAI-compatible HTTP server, a drop-in for `vllm serve`
// (same flags, same endpoints, same metrics). With no model it serves the
// demo model so that one command gives a working server.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "apps/command.h"
#include "apps/model_options.h"
#include "apps/vllm_only_flags.h"
#include "backend/device_select.h"
#include "core/logging.h"
#include "engine/engine.h"
#include "model/presets.h"
#include "model/tensor_parallel.h"
#include "model/tensor_specs.h"
#include "runner/host_memory.h"
#include "runner/memory_planner.h"
#include "server/engine_client.h"
#include "server/http_server.h"
#include "server/reasoning_parser.h"
#include "server/server_context.h"
#include "server/tool_call_parser.h"
#include "tokenizer/tokenizer.h"

namespace sable {
namespace {

// "32k" / "32K" / "1m" / "131072": vLLM's human-readable sizes (lowercase
// suffixes are powers of 1000, uppercase of 1024).
std::optional<int64_t> parse_size(const std::string& s) {
  if (s.empty()) return std::nullopt;
  std::string num = s;
  int64_t mult = 1;
  std::string suffix;
  while (!num.empty() && std::isalpha(static_cast<unsigned char>(num.back()))) {
    suffix.insert(suffix.begin(), num.back());
    num.pop_back();
  }
  if (suffix == "k") mult = 1000;
  else if (suffix == "K" || suffix == "KiB" || suffix == "KB") mult = 1024;
  else if (suffix == "m") mult = 1000000;
  else if (suffix == "M" || suffix == "MiB" || suffix == "MB") mult = 1 << 20;
  else if (suffix == "g") mult = 1000000000;
  else if (suffix == "G" || suffix == "GiB" || suffix == "GB") mult = int64_t(1) << 30;
  else if (!suffix.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(num.c_str(), &end);
  if (num.empty() || *end != '\0' || v < 0 || v * double(mult) > 9e18) return std::nullopt;
  return int64_t(v * double(mult));
}

Result<std::string> read_chat_template(const std::string& arg) {
  if (std::filesystem::is_regular_file(arg)) {
    std::ifstream f(arg, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    if (!f.good() && !f.eof()) return io_error("cannot read --chat-template file " + arg);
    return ss.str();
  }
  // vLLM also takes the template itself on the command line.
  if (arg.find("{{") != std::string::npos || arg.find("{%") != std::string::npos) return arg;
  return not_found("--chat-template: no file '" + arg + "' (and the value is not a Jinja template)");
}

struct ServeFlags {
  std::string positional_model;
  std::vector<std::string> served_model_names;
  std::vector<std::string> api_keys;
  std::string max_model_len;
  std::string kv_cache_memory;
  std::string kv_cache_dtype = "auto";
  std::string chat_template;
  int pipeline_parallel_size = 1, data_parallel_size = 1;
  int nnodes = 1, node_rank = 0, master_port = 29500;
  std::string master_addr;
  double shutdown_timeout_s = 30;
  double header_timeout_s = 30, body_timeout_s = 60, keep_alive_timeout_s = 5;
  int64_t max_request_body_bytes = 8 << 20;
  bool enforce_eager = false, trust_remote_code = false, disable_log_requests = false;
  bool disable_log_stats = false, disable_access_log = false, dry_run = false;
  std::string speculative_config;  // --speculative-config (vLLM's JSON)
  double plan_device_memory_gib = 0;
  bool enable_prefix_caching = true, enable_chunked_prefill = true;
  std::string uvicorn_log_level, tokenizer_mode, revision, download_dir;
  std::string generation_config = "auto";
  std::string distributed_executor_backend, tool_call_parser, reasoning_parser;
  bool enable_auto_tool_choice = false, trust_request_chat_template = false;
  std::string scheduling_policy = "fcfs";
  bool return_tokens_as_token_ids = false;
  VllmOnlyFlags vllm_only;  // vLLM's flags Sable has no setting for
};

// The --dry-run report: the config's memory plan on the GPU (present, or
// the size given), or the CPU's KV budget. fits == false: the GPU plan does
// not fit, and advice says by how much and which flags would make it fit.
struct DryRunReport {
  std::string plan;
  bool fits = true;
  std::string advice;
};
Result<DryRunReport> dry_run_plan(const ModelOptions& mo, const EngineConfig& ec, double device_gib) {
  ModelConfig cfg;
  std::string name = mo.model;
  if (mo.model.empty()) {
    SABLE_ASSIGN_OR_RETURN(cfg, preset_config("tiny"));
    name = "sable-demo";
  } else {
    SABLE_ASSIGN_OR_RETURN(cfg, load_model_config(mo.model + "/config.json"));
  }
  SABLE_RETURN_IF_ERROR(check_tensor_parallel(cfg, mo.tensor_parallel_size, mo.enable_expert_parallel));
  std::string out = "Sable serve plan (--dry-run): " + name + ", " + std::to_string(cfg.num_hidden_layers) +
                    " layers, " + (cfg.quantization.is_fp8() ? "FP8" : "BF16") + " checkpoint" +
                    (mo.quantization == "fp8" ? ", --quantization fp8" : "") + "\n";
  if (ec.speculative.enabled())
    out += std::string("  speculative decoding: ") + speculative_method_name(ec.speculative.method) + ", " +
           std::to_string(ec.speculative.num_speculative_tokens) + " draft token(s) a step" +
           (ec.speculative.method == SpeculativeConfig::Method::kMtp
                ? std::string(cfg.num_nextn_predict_layers < 1 ? " (this config has no MTP layer: serving will fail)"
                                                               : " (the MTP layer: one more layer of weights and KV)")
                : std::string()) +
           "\n";
  if (mo.enable_expert_parallel && mo.tensor_parallel_size > 1 && cfg.n_routed_experts > 0)
    out += "  expert parallel: " + std::to_string(cfg.n_routed_experts / mo.tensor_parallel_size) +
           " routed experts whole on each of " + std::to_string(mo.tensor_parallel_size) +
           " ranks (the same bytes a rank as split experts)\n";
  int64_t device_memory = int64_t(device_gib * double(1ll << 30));
  int multiprocessors = 0;  // the GPU's, when planned for the one present
  // Without a GPU, the rule the CUDA build's knob gives (the backend's once
  // one is present).
  MlaSplitRule graph_rule = cuda_mla_graph_split_rule();
  std::string device = mo.device;
  if (device_memory <= 0 && device != "cpu" && cuda_available()) {
    SABLE_ASSIGN_OR_RETURN(Backend * be, select_backend_by_name("cuda"));
    size_t free_b = 0, total_b = 0;
    if (be->memory_info(&free_b, &total_b)) device_memory = int64_t(total_b);
    multiprocessors = be->multiprocessors();
    graph_rule = be->mla_graph_split_rule();
  }
  if (device_memory <= 0 && device == "cuda")
    return unavailable(
        "--device cuda --dry-run: no CUDA device is visible to this process, so there is no GPU memory to plan "
        "for; add --plan-device-memory-gib N to plan for a GPU of N GiB (e.g. 141 for an H200, 80 for an H100)");
  // What the host holds (runner/host_memory.h): the demo model and
  // --load-format dummy make their weights in memory.
  const HostMemoryPlanInput hin =
      host_memory_input(mo, cfg, mo.model.empty() || mo.load_format == "dummy", device_memory <= 0, ec);
  const HostMemoryPlan host = plan_host_memory(hin, probe_host_memory());
  if (device_memory <= 0) {
    // CPU: the KV budget is a flag.
    const int64_t per_token = int64_t(cfg.num_hidden_layers) * cfg.kv_latent_dim() * 4;
    const int64_t kv = hin.kv_cache_bytes;
    // Under tensor parallelism every rank holds the whole latent cache: the
    // budget is shared, the tokens divide.
    const int tp = mo.tensor_parallel_size;
    char buf[640];
    std::snprintf(buf, sizeof buf,
                  "  device         cpu (float32 activations and KV)%s\n"
                  "  weights        %.3f GB (kept in their stored dtype)\n"
                  "  KV cache       %.2f GiB: %lld tokens (%lld bytes per token%s)\n",
                  tp > 1 ? (", " + std::to_string(tp) + " tensor-parallel ranks").c_str() : "",
                  double(weight_bytes(cfg, mo.quantization == "fp8")) / 1e9, double(kv) / double(1ll << 30),
                  (long long)(kv / per_token / tp), (long long)per_token, tp > 1 ? " on every rank" : "");
    return DryRunReport{out + buf + "  " + host.to_string() + "\n", host.fits, host.advice};
  }
  MemoryPlanInput in;
  in.config = cfg;
  if (ec.speculative.method == SpeculativeConfig::Method::kMtp) in.config.num_hidden_layers += 1;  // the MTP layer
  in.quantize_fp8 = mo.quantization == "fp8";
  in.device_memory = device_memory;
  in.gpu_memory_utilization = ec.gpu_memory_utilization;
  in.max_model_len = ec.max_model_len;
  in.max_num_seqs = ec.max_num_seqs;
  in.max_num_batched_tokens = ec.max_num_batched_tokens;
  in.block_size = ec.block_size;
  in.kv_dtype = ec.kv_cache_dtype.value_or(DType::BF16);
  in.cuda_graphs = !ec.enforce_eager;
  if (ec.speculative.enabled()) in.logits_rows_per_seq = 1 + ec.speculative.num_speculative_tokens;
  in.mtp = ec.speculative.method == SpeculativeConfig::Method::kMtp;
  in.tensor_parallel_size = mo.tensor_parallel_size;
  if (multiprocessors > 0) in.gpu_multiprocessors = multiprocessors;
  in.graph_split_rule = graph_rule;
  MemoryPlan p = plan_memory(in);
  std::string plan = out + p.to_string();
  // This host's memory says something only about a load on this host (not
  // a plan for a GPU of --plan-device-memory-gib elsewhere).
  const bool host_here = multiprocessors > 0;
  if (host_here && hin.dummy_weights) plan += "  " + host.to_string() + "\n";
  if (mo.tensor_parallel_size > 1 && device != "cpu" && !cuda_tensor_parallel_opted_in())
    plan +=
        "note: tensor parallelism across GPUs has not been validated on a multi-GPU machine yet; serving this "
        "plan needs SABLE_CUDA_TENSOR_PARALLEL=1\n";
  if (host_here && !host.fits) return DryRunReport{plan, false, p.fits ? host.advice : p.advice + "\n" + host.advice};
  return DryRunReport{plan, p.fits, p.advice};
}

int run_serve(int argc, char** argv) {
  CLI::App app{"OpenAI-compatible HTTP server (vLLM's flags); without a model, serves the demo model",
               "sable serve"};
  ModelOptions mo;
  mo.add_flags(app, false);
  ServeFlags f;
  server::ServerConfig sc;
  EngineConfig ec;
  app.add_option("model_tag", f.positional_model, "Model directory (vLLM's positional form of --model)");
  app.add_option("--host", sc.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", sc.port, "Port to listen on (0: any free port)")->capture_default_str();
  app.add_option("--served-model-name", f.served_model_names, "Model name(s) in the API; the first is reported");
  app.add_option("--api-key", f.api_keys, "Require 'Authorization: Bearer <key>' (also VLLM_API_KEY / SABLE_API_KEY)");
  app.add_option("--max-model-len", f.max_model_len, "Context length (prompt + completion); e.g. 32768, 32k, 128K");
  app.add_option("--chat-template", f.chat_template, "Chat template file (or the template itself)");
  app.add_option("--max-waiting-requests", ec.max_waiting_requests, "Waiting queue size; beyond it requests get 503 (0: unlimited)");
  app.add_option("--shutdown-timeout", f.shutdown_timeout_s, "Seconds running requests may take to finish on SIGTERM")
      ->capture_default_str();
  app.add_option("--pipeline-parallel-size", f.pipeline_parallel_size, "Pipeline stages (1)");
  app.add_option("--data-parallel-size", f.data_parallel_size, "Data-parallel replicas (1)");
  app.add_option("--nnodes", f.nnodes, "Nodes in a multi-node replica (1 for now)");
  app.add_option("--node-rank", f.node_rank, "This node's rank in a multi-node replica");
  app.add_option("--master-addr", f.master_addr, "Rank 0's address for a multi-node replica");
  app.add_option("--master-port", f.master_port, "Rank 0's port for a multi-node replica");
  app.add_option("--gpu-memory-utilization", ec.gpu_memory_utilization, "Fraction of GPU memory to use")
      ->capture_default_str();
  app.add_option("--max-num-seqs", ec.max_num_seqs, "Sequences per step")->capture_default_str();
  app.add_option("--max-num-batched-tokens", ec.max_num_batched_tokens, "Tokens per step")->capture_default_str();
  app.add_option("--block-size", ec.block_size, "Tokens per KV-cache block")->capture_default_str();
  app.add_option("--num-kv-blocks,--num-gpu-blocks-override", ec.num_kv_blocks, "KV-cache blocks (0: from memory)");
  app.add_option("--kv-cache-memory,--kv-cache-memory-bytes", f.kv_cache_memory, "KV-cache budget in bytes (e.g. 4G)");
  app.add_option("--kv-cache-dtype", f.kv_cache_dtype, "auto | fp8 | fp8_e4m3 | bfloat16 | float32")
      ->check(CLI::IsMember({"auto", "fp8", "fp8_e4m3", "bfloat16", "bf16", "float32", "fp32"}));
  app.add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", f.enable_prefix_caching, "Prefix caching (on)");
  app.add_flag("--enable-chunked-prefill,!--no-enable-chunked-prefill", f.enable_chunked_prefill, "Chunked prefill (on)");
  app.add_flag("--enforce-eager", f.enforce_eager, "No CUDA graphs");
  app.add_option("--speculative-config", f.speculative_config,
                 "Speculative decoding, as vLLM's JSON: '{\"method\": \"deepseek_mtp\", \"num_speculative_tokens\": "
                 "1}' (the checkpoint's MTP layer drafts) or '{\"method\": \"ngram\", \"num_speculative_tokens\": 3}'");
  app.add_flag("--trust-remote-code", f.trust_remote_code, "Accepted for compatibility (no effect)");
  app.add_flag("--disable-log-requests", f.disable_log_requests, "No per-request log lines");
  app.add_flag("--disable-log-stats", f.disable_log_stats, "No periodic throughput log");
  app.add_flag("--disable-uvicorn-access-log,--disable-access-log", f.disable_access_log, "No HTTP access log");
  app.add_option("--uvicorn-log-level", f.uvicorn_log_level, "Accepted for compatibility (use --log-level)");
  app.add_option("--generation-config", f.generation_config,
                 "auto: default sampling parameters from the model's generation_config.json (as vLLM); vllm: "
                 "OpenAI's defaults; or a folder holding a generation_config.json");
  app.add_option("--tokenizer-mode", f.tokenizer_mode, "Accepted for compatibility");
  app.add_option("--revision", f.revision, "Accepted for compatibility (local directories only)");
  app.add_option("--download-dir", f.download_dir, "Accepted for compatibility (local directories only)");
  app.add_option("--distributed-executor-backend", f.distributed_executor_backend, "Accepted for compatibility");
  app.add_flag("--trust-request-chat-template", f.trust_request_chat_template,
               "Render a chat request's own chat_template (else such requests are refused)");
  app.add_flag("--enable-auto-tool-choice", f.enable_auto_tool_choice,
               "Chat requests with tools get the model's tool calls as tool_calls (needs --tool-call-parser)");
  app.add_option("--tool-call-parser", f.tool_call_parser,
                 "The model's tool-call format: deepseek_v3 (DeepSeek-V3/R1), deepseek_v31, hermes (Qwen3)")
      ->check(CLI::IsMember(server::tool_call_parser_names()));
  app.add_option("--reasoning-parser", f.reasoning_parser,
                 "Chat responses put the model's <think> text in reasoning (and reasoning_content): deepseek_r1, qwen3")
      ->check(CLI::IsMember(server::reasoning_parser_names()));
  app.add_flag("--dry-run", f.dry_run,
               "Print the memory plan (weights, activations, CUDA graphs, KV blocks) and exit, loading nothing");
  app.add_option("--plan-device-memory-gib", f.plan_device_memory_gib,
                 "With --dry-run: plan for a GPU of this many GiB (default: the GPU present)");
  // Limits of the HTTP layer (not in vLLM, which has none).
  app.add_option("--max-request-body-bytes", f.max_request_body_bytes, "Larger request bodies get 413")
      ->capture_default_str();
  app.add_option("--http-header-timeout", f.header_timeout_s, "Seconds a client may take to send its headers")
      ->capture_default_str();
  app.add_option("--http-body-timeout", f.body_timeout_s, "Seconds a client may take to send its body")
      ->capture_default_str();
  app.add_option("--http-keep-alive-timeout", f.keep_alive_timeout_s, "Seconds an idle keep-alive connection stays open")
      ->capture_default_str();
  app.add_option("--http-threads", sc.io_threads, "Threads running the HTTP event loop")->capture_default_str();
  app.add_option("--max-logprobs", sc.max_logprobs, "Most top logprobs a request may ask for")->capture_default_str();
  app.add_option("--scheduling-policy", f.scheduling_policy,
                 "fcfs: arrival order, a request's non-zero priority is refused (vLLM's default); priority: the "
                 "waiting queue runs lowest priority value first, then by arrival, and out of KV blocks the "
                 "running request of the highest value, then latest arrival, is preempted first")
      ->check(CLI::IsMember({"fcfs", "priority"}))
      ->capture_default_str();
  app.add_flag("--return-tokens-as-token-ids", f.return_tokens_as_token_ids,
               "Logprobs' token strings are 'token_id:N' unless a request says otherwise");
  app.add_option("--response-role", sc.response_role, "The role of chat responses after a generation prompt")
      ->capture_default_str();
  app.add_flag("--enable-force-include-usage", sc.force_include_usage,
               "Every streamed response ends with a usage chunk, as if it asked for stream_options.include_usage");
  app.add_flag("--enable-server-load-tracking", sc.server_load_tracking,
               "GET /load reports the requests in flight ({\"server_load\": N}); without it, 0");
  f.vllm_only.add_to(app);
  // vLLM's two-letter short forms, which CLI11 cannot name.
  std::vector<std::string> args_store(argv, argv + argc);
  for (auto& a : args_store) {
    a = normalize_vllm_flag_name(a);  // vLLM takes --max_model_len for --max-model-len
    if (a == "-tp") a = "--tensor-parallel-size";
    else if (a == "-pp") a = "--pipeline-parallel-size";
    else if (a == "-dp") a = "--data-parallel-size";
  }
  std::vector<char*> args;
  for (auto& a : args_store) args.push_back(a.data());
  try {
    app.parse(int(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    // --help exits 0; any parse error 2, as vLLM's argparse does.
    return app.exit(e) == 0 ? 0 : 2;
  }

  auto fail = [](const std::string& msg, int code = 2) {
    std::fprintf(stderr, "sable serve: %s\n", msg.c_str());
    return code;
  };
  // Flags.
  std::vector<std::string> no_effect;
  if (Status st = f.vllm_only.check(&no_effect); !st.is_ok()) return fail(st.message());
  for (const std::string& w : no_effect) LOG_WARN("{}", w);
  sc.priority_scheduling = f.scheduling_policy == "priority";
  sc.return_tokens_as_token_ids = f.return_tokens_as_token_ids;
  if (!f.positional_model.empty()) {
    if (!mo.model.empty() && mo.model != f.positional_model)
      return fail("the model is given twice ('" + f.positional_model + "' and --model '" + mo.model + "')");
    mo.model = f.positional_model;
  }
  if (f.pipeline_parallel_size != 1 || f.data_parallel_size != 1)
    return fail("--pipeline-parallel-size and --data-parallel-size must be 1 for now; run one server per replica");
  if (f.nnodes != 1)
    return fail("--nnodes must be 1 for now (multi-node serving is not built; run one server per node)");
  if (sc.port < 0 || sc.port > 65535) return fail("--port must be in [0, 65535]");
  sc.reasoning_parser = f.reasoning_parser;
  sc.trust_request_chat_template = f.trust_request_chat_template;
  if (f.enable_auto_tool_choice) {
    if (f.tool_call_parser.empty())
      return fail("--enable-auto-tool-choice needs --tool-call-parser (deepseek_v3 for DeepSeek-V3, hermes for Qwen3)");
    sc.tool_call_parser = f.tool_call_parser;
  }
  if (!f.max_model_len.empty()) {
    auto v = parse_size(f.max_model_len);
    if (!v || *v < 1 || *v > INT32_MAX) return fail("--max-model-len: '" + f.max_model_len + "' is not a length");
    ec.max_model_len = int(*v);
  }
  if (!f.kv_cache_memory.empty()) {
    auto v = parse_size(f.kv_cache_memory);
    if (!v) return fail("--kv-cache-memory: '" + f.kv_cache_memory + "' is not a size in bytes");
    ec.kv_cache_memory = *v;
  }
  if (f.kv_cache_dtype == "fp8" || f.kv_cache_dtype == "fp8_e4m3") ec.kv_cache_dtype = DType::F8_E4M3;
  else if (f.kv_cache_dtype == "bfloat16" || f.kv_cache_dtype == "bf16") ec.kv_cache_dtype = DType::BF16;
  else if (f.kv_cache_dtype == "float32" || f.kv_cache_dtype == "fp32") ec.kv_cache_dtype = DType::F32;
  ec.enable_prefix_caching = f.enable_prefix_caching;
  ec.enable_chunked_prefill = f.enable_chunked_prefill;
  ec.priority_scheduling = sc.priority_scheduling;  // the victim of preemption (engine_config.h)
  ec.seed = mo.seed;
  ec.enforce_eager = f.enforce_eager;
  if (!f.speculative_config.empty()) {
    auto spec = parse_speculative_config(f.speculative_config);
    if (!spec.is_ok()) return fail(spec.status().message());
    ec.speculative = *spec;
  }
  mo.load_mtp = ec.speculative.method == SpeculativeConfig::Method::kMtp;
  if (f.max_request_body_bytes < 1024) return fail("--max-request-body-bytes must be at least 1024");
  sc.max_body_bytes = size_t(f.max_request_body_bytes);
  auto secs = [](double s) { return std::chrono::milliseconds(int64_t(std::max(0.0, s) * 1000)); };
  sc.shutdown_timeout = secs(f.shutdown_timeout_s);
  sc.header_timeout = secs(f.header_timeout_s);
  sc.body_timeout = secs(f.body_timeout_s);
  sc.keep_alive_timeout = secs(f.keep_alive_timeout_s);
  sc.io_threads = std::clamp(sc.io_threads, 1, 64);
  sc.log_requests = !f.disable_log_requests;
  sc.log_stats = !f.disable_log_stats;
  sc.access_log = !f.disable_access_log;
  sc.api_keys = f.api_keys;
  if (sc.api_keys.empty()) {
    for (const char* env : {"SABLE_API_KEY", "VLLM_API_KEY"})
      if (const char* k = std::getenv(env); k && *k) {
        sc.api_keys.emplace_back(k);
        break;
      }
  }
  for (const auto& k : sc.api_keys)
    if (k.empty()) return fail("--api-key must not be empty");

  if (!f.chat_template.empty()) {
    auto t = read_chat_template(f.chat_template);
    if (!t.is_ok()) return fail(t.status().message());
    mo.chat_template = std::move(t).value();
  }
  // vLLM's --generation-config: the model creator's sampling defaults.
  if (f.generation_config != "vllm") {
    const bool from_model = f.generation_config == "auto";
    if (!from_model && !std::filesystem::is_regular_file(f.generation_config + "/generation_config.json"))
      return fail("--generation-config: no generation_config.json in '" + f.generation_config +
                  "' (pass a folder that has one, auto for the model's, or vllm for none)");
    const std::string dir = from_model ? mo.model : f.generation_config;
    if (!dir.empty()) {
      auto d = server::load_generation_defaults(dir);
      if (!d.is_ok()) return fail(d.status().message());
      sc.sampling_defaults = *d;
      if (!d->empty())
        LOG_INFO(
            "default sampling parameters from {}/generation_config.json: {} (a request's own fields override "
            "them; --generation-config vllm turns them off)",
            dir, d->describe());
    }
  }
  // --dry-run: the memory plan from the config alone, before any weight is read.
  if (f.dry_run) {
    auto report = dry_run_plan(mo, ec, f.plan_device_memory_gib);
    if (!report.is_ok()) return fail(report.status().message(), 1);
    // The plan on stdout either way; a plan that does not fit is also the
    // error (stderr, exit 1), as serving with it would be.
    std::printf("%s", report->plan.c_str());
    std::fflush(stdout);
    if (!report->fits) return fail(report->advice, 1);
    return 0;
  }

  // The model (on a GPU, refused before loading when the plan does not fit).
  auto lm = load_model(mo, /*allow_demo=*/true, &ec);
  if (!lm.is_ok()) return fail(lm.status().message(), 1);
  sc.served_model_names = f.served_model_names.empty() ? std::vector<std::string>{lm->model_name}
                                                       : f.served_model_names;
  sc.model_root = lm->model_name;

  // Testing only (tests/e2e/test_engine_fault.py): the Nth forward throws
  // once its logits are computed, as a CUDA fault would mid-step, so that
  // the fatal path (requests failed with the cause, the drain, exit status
  // 1) is exercised end to end. The debug hook it uses turns off fused paths.
  if (const char* v = std::getenv("SABLE_INJECT_FAULT_AT_FORWARD"); v && std::atoi(v) > 0) {
    LOG_WARN("SABLE_INJECT_FAULT_AT_FORWARD={}: forward {} will fail (a test of the fatal path)", v, v);
    lm->model->debug_hook = [at = std::atoi(v), n = 0](const std::string& name, const Tensor&) mutable {
      if (name == "logits" && ++n == at)
        throw std::runtime_error("injected fault at forward " + std::to_string(at) +
                                 " (SABLE_INJECT_FAULT_AT_FORWARD)");
    };
  }
  auto engine = Engine::create(ec, *lm->model, lm->tokenizer);
  if (!engine.is_ok()) return fail(engine.status().message(), 1);
  std::unique_ptr<server::EngineClient> client = server::make_engine_client(**engine);
  (*engine)->start();

  server::ServerContext ctx;
  ctx.config = sc;
  ctx.engine = client.get();
  ctx.tokenizer = lm->tokenizer;
  ctx.started_at = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  if (!sc.api_keys.empty()) LOG_INFO("API key authentication is on ({} key(s))", sc.api_keys.size());

  std::signal(SIGPIPE, SIG_IGN);  // a vanished client must not kill the server
  // One descriptor per client: the usual soft limit of 1024 would cap the
  // server at about a thousand connections. Raise it to the hard limit, as
  // vLLM does.
  if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rlim_t want = std::min<rlim_t>(rl.rlim_max, 65536);
    if (want > rl.rlim_cur) {
      rl.rlim_cur = want;
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0) LOG_WARN("could not raise the open-file limit");
    }
  }
  {
    server::HttpServer http(ctx);
    Status st = http.listen();
    if (!st.is_ok()) {
      (*engine)->shutdown(std::chrono::milliseconds(0));
      return fail(st.message(), 1);
    }
    // An engine that stops for good (a CUDA fault, a failed tensor-parallel
    // rank) has failed its requests with the cause; the server then drains
    // and exits with an error, as vLLM does, so that a supervisor restarts it.
    (*engine)->set_on_fatal([&http](const std::string&) { http.shutdown(); });
    http.run(/*handle_signals=*/true);
    (*engine)->set_on_fatal(nullptr);
  }
  // The drain already stopped the engine; this is a no-op then.
  (*engine)->shutdown(std::chrono::milliseconds(0));
  if (const std::string fatal = (*engine)->fatal_error(); !fatal.empty())
    return fail("the engine stopped after an unrecoverable error: " + fatal, 1);
  return 0;
}

}  // namespace
}  // namespace sable

SABLE_COMMAND(serve, "OpenAI-compatible HTTP server (vLLM's flags); no --model: the demo model", sable::run_serve);
