#include "apps/vllm_only_flags.h"

#include <string_view>

namespace sable {

namespace {

enum class Takes { kValue, kValues, kSwitch };  // kValues: vLLM's nargs="+"
enum class Kind { kNoEffect, kRefused };

struct Entry {
  std::string_view name;  // without the leading dashes
  Takes takes;
  Kind kind;
  std::string_view why;  // no effect: why; refused: why and what to do
};

constexpr std::string_view kNoTls =
    "Sable serves plain HTTP; terminate TLS in front of it (a Kubernetes Ingress, as the Helm chart's ingress does, "
    "or a sidecar proxy)";
constexpr std::string_view kNoCors =
    "Sable answers CORS for every origin, method and header (vLLM's default); restrict them at the ingress";
constexpr std::string_view kNoLora = "LoRA adapters are not supported; serve a checkpoint with the adapter merged";
constexpr std::string_view kLocal = "Sable loads local model directories only";
constexpr std::string_view kGraphs =
    "CUDA graphs are captured for the decode batch sizes up to --max-num-seqs (--enforce-eager: none)";
constexpr std::string_view kPrefill = "chunked prefill is bounded by --max-num-batched-tokens";
constexpr std::string_view kEplb = "expert-parallel load balancing is not built; experts stay put";
constexpr std::string_view kOldSpec =
    "vLLM's older form: use --speculative-config '{\"method\": \"deepseek_mtp\", \"num_speculative_tokens\": 1}'";

constexpr Entry kFlags[] = {
    // Tuning of how vLLM runs: no effect on what clients receive.
    {"swap-space", Takes::kValue, Kind::kNoEffect,
     "Sable preempts by recomputation and never swaps KV blocks to CPU memory"},
    {"disable-custom-all-reduce", Takes::kSwitch, Kind::kNoEffect, "tensor-parallel reductions go through NCCL"},
    {"max-seq-len-to-capture", Takes::kValue, Kind::kNoEffect,
     "the CUDA graphs serve decode steps at every context length"},
    {"cuda-graph-sizes", Takes::kValues, Kind::kNoEffect, kGraphs},
    {"max-cudagraph-capture-size", Takes::kValue, Kind::kNoEffect, kGraphs},
    {"compilation-config", Takes::kValue, Kind::kNoEffect, "Sable is compiled ahead of time (no torch.compile)"},
    {"num-scheduler-steps", Takes::kValue, Kind::kNoEffect, "the engine schedules every step"},
    {"use-v2-block-manager", Takes::kSwitch, Kind::kNoEffect, "Sable has one block manager"},
    {"disable-frontend-multiprocessing", Takes::kSwitch, Kind::kNoEffect,
     "the HTTP server and the engine are threads of one process"},
    {"async-scheduling", Takes::kSwitch, Kind::kNoEffect, "the engine's scheduling is its own"},
    {"long-prefill-token-threshold", Takes::kValue, Kind::kNoEffect, kPrefill},
    {"max-num-partial-prefills", Takes::kValue, Kind::kNoEffect, kPrefill},
    {"max-long-partial-prefills", Takes::kValue, Kind::kNoEffect, kPrefill},
    {"max-parallel-loading-workers", Takes::kValue, Kind::kNoEffect, "checkpoints are memory-mapped"},
    {"tokenizer-pool-size", Takes::kValue, Kind::kNoEffect, "tokenization runs on the HTTP threads"},
    {"guided-decoding-backend", Takes::kValue, Kind::kNoEffect,
     "structured output uses Sable's own JSON-schema matcher"},
    {"enable-reasoning", Takes::kSwitch, Kind::kNoEffect,
     "deprecated in vLLM: --reasoning-parser alone turns reasoning output on"},
    {"enable-prompt-tokens-details", Takes::kSwitch, Kind::kNoEffect,
     "usage.prompt_tokens_details.cached_tokens is always reported"},
    {"enable-request-id-headers", Takes::kSwitch, Kind::kNoEffect, "responses always carry X-Request-Id"},
    {"disable-fastapi-docs", Takes::kSwitch, Kind::kNoEffect, "Sable serves no /docs pages"},
    {"otlp-traces-endpoint", Takes::kValue, Kind::kNoEffect,
     "Sable exports no OpenTelemetry traces; request timings are in /metrics and the request log"},
    {"collect-detailed-traces", Takes::kValue, Kind::kNoEffect, "Sable exports no OpenTelemetry traces"},
    {"enable-eplb", Takes::kSwitch, Kind::kNoEffect, kEplb},
    {"eplb-config", Takes::kValue, Kind::kNoEffect, kEplb},
    {"num-redundant-experts", Takes::kValue, Kind::kNoEffect, kEplb},
    {"tokenizer-revision", Takes::kValue, Kind::kNoEffect, kLocal},
    {"code-revision", Takes::kValue, Kind::kNoEffect, kLocal},
    {"hf-token", Takes::kValue, Kind::kNoEffect, kLocal},
    {"ignore-patterns", Takes::kValue, Kind::kNoEffect, kLocal},
    {"model-loader-extra-config", Takes::kValue, Kind::kNoEffect, kLocal},
    // What clients get, or how they reach the server: refused, with what to do.
    {"ssl-keyfile", Takes::kValue, Kind::kRefused, kNoTls},
    {"ssl-certfile", Takes::kValue, Kind::kRefused, kNoTls},
    {"ssl-ca-certs", Takes::kValue, Kind::kRefused, kNoTls},
    {"ssl-cert-reqs", Takes::kValue, Kind::kRefused, kNoTls},
    {"root-path", Takes::kValue, Kind::kRefused,
     "Sable serves at the root; put it behind a proxy that strips the path prefix"},
    {"allowed-origins", Takes::kValue, Kind::kRefused, kNoCors},
    {"allowed-methods", Takes::kValue, Kind::kRefused, kNoCors},
    {"allowed-headers", Takes::kValue, Kind::kRefused, kNoCors},
    {"allow-credentials", Takes::kSwitch, Kind::kRefused, kNoCors},
    {"middleware", Takes::kValue, Kind::kRefused, "Python middleware cannot run in Sable"},
    {"enable-lora", Takes::kSwitch, Kind::kRefused, kNoLora},
    {"lora-modules", Takes::kValues, Kind::kRefused, kNoLora},
    {"max-loras", Takes::kValue, Kind::kRefused, kNoLora},
    {"max-lora-rank", Takes::kValue, Kind::kRefused, kNoLora},
    {"cpu-offload-gb", Takes::kValue, Kind::kRefused,
     "weights cannot be offloaded to CPU memory; use --quantization fp8 or more GPUs (--tensor-parallel-size), and "
     "`sable serve --dry-run` shows what fits"},
    {"kv-transfer-config", Takes::kValue, Kind::kRefused, "disaggregated prefill is not supported"},
    {"enable-sleep-mode", Takes::kSwitch, Kind::kRefused, "sleep mode (/sleep, /wake_up) is not supported"},
    {"override-generation-config", Takes::kValue, Kind::kRefused,
     "put the defaults in a generation_config.json in a folder and pass --generation-config FOLDER"},
    {"hf-overrides", Takes::kValue, Kind::kRefused, "edit config.json in the model directory instead"},
    {"config", Takes::kValue, Kind::kRefused, "Sable reads no YAML config file; give the flags on the command line"},
    {"speculative-model", Takes::kValue, Kind::kRefused, kOldSpec},
    {"num-speculative-tokens", Takes::kValue, Kind::kRefused, kOldSpec},
};

// vLLM's own default for each CORS list; giving it changes nothing.
bool is_cors_default(std::string_view name, const std::vector<std::string>& values) {
  if (name != "allowed-origins" && name != "allowed-methods" && name != "allowed-headers") return false;
  // CLI11 may have split a bracketed list into its items already.
  std::string v;
  for (const std::string& item : values)
    for (char c : item)
      if (c != ' ' && c != '\'' && c != '"' && c != '[' && c != ']') v += c;
  return v == "*";
}

}  // namespace

void VllmOnlyFlags::add_to(CLI::App& app) {
  given_.clear();
  given_.reserve(std::size(kFlags));
  for (const Entry& e : kFlags) {
    given_.push_back(Given{});
    Given& g = given_.back();
    std::string flag = "--" + std::string(e.name);
    if (e.name == "compilation-config") flag += ",-O";  // vLLM's -O3, -O '{...}'
    CLI::Option* o = nullptr;
    switch (e.takes) {
      case Takes::kSwitch:
        // vLLM's boolean flags take --no-X too.
        o = app.add_flag(flag + ",--no-" + std::string(e.name), g.count);
        break;
      case Takes::kValue:
        o = app.add_option(flag, g.values)->expected(1);
        break;
      case Takes::kValues:
        o = app.add_option(flag, g.values)->expected(1, -1);
        break;
    }
    o->group("");  // out of --help
  }
}

Status VllmOnlyFlags::check(std::vector<std::string>* warnings) const {
  for (size_t i = 0; i < given_.size(); ++i) {
    const Given& g = given_[i];
    const Entry& e = kFlags[i];
    if (g.count == 0 && g.values.empty()) continue;
    if (e.kind == Kind::kRefused && !is_cors_default(e.name, g.values))
      return invalid_argument("--" + std::string(e.name) + " (a vLLM flag) is not supported: " + std::string(e.why));
    if (e.kind == Kind::kNoEffect && warnings)
      warnings->push_back("--" + std::string(e.name) + " (a vLLM flag) has no effect in Sable: " + std::string(e.why));
  }
  return Status::ok();
}

std::string normalize_vllm_flag_name(const std::string& arg) {
  if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) return arg;
  std::string out = arg;
  const size_t end = std::min(out.find('='), out.size());
  for (size_t i = 2; i < end; ++i)
    if (out[i] == '_') out[i] = '-';
  return out;
}

}  // namespace sable
