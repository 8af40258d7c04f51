// sable bench serve: a load client for any OpenAI-compatible server (Sable,
// vLLM, SGLang, ...), reporting what `vllm bench serve` reports, with the same
// definitions (bench/stats.h), plus a floor estimate when the model's
// config is known.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "bench/http_load.h"
#include "bench/options.h"
#include "bench/spec_decode_stats.h"
#include "core/logging.h"
#include "core/paths.h"
#include "model/presets.h"
#include "tokenizer/tokenizer.h"

namespace sable::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The tokenizer that counts prompt tokens: --tokenizer, else --model when it
// is a directory with one, else the bundled DeepSeek-V3 tokenizer (what
// Sable's demo model and DeepSeek-V3 itself use).
Result<std::shared_ptr<Tokenizer>> load_bench_tokenizer(std::string dir, const std::string& model) {
  if (dir.empty() && fs::exists(fs::path(model) / "tokenizer.json")) dir = model;
  if (dir.empty() || !fs::exists(fs::path(dir) / "tokenizer.json")) {
    std::string named = dir.empty() ? "deepseek-v3" : dir;
    std::string asset = find_asset("tokenizers/" + named);
    if (asset.empty() && !dir.empty()) return not_found("--tokenizer: no tokenizer.json in '" + dir + "'");
    if (asset.empty()) return not_found("no tokenizer: give --tokenizer DIR");
    dir = asset;
  }
  return Tokenizer::load(dir);
}

// --model-config: a directory with config.json, a config.json, or a preset
// name (dsv3-slice, dsv3, ...; --layers picks the slice's depth).
Result<ModelConfig> load_floor_config(const std::string& spec, int layers) {
  if (fs::is_directory(spec)) return load_model_config((fs::path(spec) / "config.json").string());
  if (fs::is_regular_file(spec)) return load_model_config(spec);
  return preset_config(spec, layers);
}

// Waits for the server to answer a real completion (vLLM's ready check),
// then runs the warmups: prompts of the benchmark's length (the first long
// prefill touches memory nothing touched before) but of their own text, so
// the measured prompts still meet a cold prefix cache; 4 output tokens.
Status warm_up(const HttpLoadOptions& base, const Tokenizer* tok, const CommonOptions& o, double ready_timeout_s) {
  DatasetOptions d;
  d.input_len = o.dataset.input_len;
  d.output_len = 4;
  d.num_prompts = std::max(1, o.num_warmups);
  d.seed = o.dataset.seed ^ 0x5eedull;
  auto prompts = make_prompts(d, tok, tok ? tok->vocab_size() : 0);
  if (!prompts.is_ok()) return prompts.status();
  HttpLoadOptions w = base;
  w.progress = false;
  w.max_concurrency = 0;
  w.arrivals.clear();
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(ready_timeout_s));
  for (;;) {
    std::vector<BenchPrompt> first(prompts->begin(), prompts->begin() + 1);
    LoadOutcome r = run_http_load(w, first);
    if (!r.results.empty() && r.results[0].success) break;
    const std::string err = r.results.empty() ? "no result" : r.results[0].error;
    // Only an unreachable server is worth waiting for; an HTTP error is a
    // wrong model name or flag, and waiting would not fix it.
    if (err.rfind("connect:", 0) != 0 || Clock::now() > deadline)
      return unavailable("the server did not answer a test request: " + err);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  if (o.num_warmups > 1) {
    std::vector<BenchPrompt> rest(prompts->begin() + 1, prompts->end());
    (void)run_http_load(w, rest);
  }
  return Status::ok();
}

// The server's speculative decoding counters (vLLM's names on /metrics), as
// `vllm bench serve` reads them around a run; none when /metrics is not
// there or has none (the report then has no such section).
SpecDecodeCounters server_spec_counters(const HttpLoadOptions& lo) {
  auto body = http_get(lo.target, "/metrics", lo.api_key, 10.0);
  return body.is_ok() ? parse_spec_decode_counters(*body) : SpecDecodeCounters{};
}

int run_bench_serve(int argc, char** argv) {
  CLI::App app{"Load an OpenAI-compatible server with streaming requests and report vLLM's serving metrics",
               "sable bench serve"};
  CommonOptions o;
  o.add_flags(app);
  std::string base_url, host = "127.0.0.1", endpoint = "/v1/completions", model, served_name, tokenizer_dir;
  std::string prompt_format = "text", model_config, extra_body, api_key;
  int port = 8000, layers = 0, kv_bytes = 2;
  bool fp8 = false;
  double ready_timeout = 600, request_timeout = 6 * 3600;
  app.add_option("--base-url", base_url, "Server URL, e.g. http://127.0.0.1:8000 (default: --host/--port)");
  app.add_option("--host", host);
  app.add_option("--port", port);
  app.add_option("--endpoint", endpoint, "/v1/completions | /v1/chat/completions");
  app.add_option("--model", model, "Model name sent in requests (default: the server's first model)");
  app.add_option("--served-model-name", served_name, "Name to send, when --model is a local path");
  app.add_option("--tokenizer", tokenizer_dir,
                 "Tokenizer directory for exact prompt lengths (default: --model's, else DeepSeek-V3's)");
  app.add_option("--prompt-format", prompt_format, "text | ids (token ids; /v1/completions only)")
      ->check(CLI::IsMember({"text", "ids"}));
  app.add_option("--api-key", api_key, "Bearer token (default: $OPENAI_API_KEY)");
  app.add_option("--extra-body", extra_body, "JSON object merged into every request body");
  app.add_option("--model-config", model_config,
                 "The served model's config (directory, config.json or preset name) for the floor estimate");
  app.add_option("--layers", layers, "With a preset --model-config: its layer count");
  app.add_flag("--fp8", fp8, "Floor: the server holds FP8 weights (an FP8 checkpoint sets this itself)");
  app.add_option("--kv-bytes", kv_bytes, "Floor: bytes per KV cache value (2: BF16)");
  app.add_option("--ready-check-timeout-sec", ready_timeout, "Wait this long for the server to come up");
  app.add_option("--request-timeout", request_timeout, "Seconds before a request is abandoned");
  CLI11_PARSE(app, argc, argv);
  auto fail = [](const Status& st) {
    std::fprintf(stderr, "sable bench serve: %s\n", st.message().c_str());
    return 2;
  };
  auto plan = o.expand(app);
  if (!plan.is_ok()) return fail(plan.status());
  if (base_url.empty()) base_url = "http://" + host + ":" + std::to_string(port);

  HttpLoadOptions lo;
  auto target = parse_base_url(base_url);
  if (!target.is_ok()) return fail(target.status());
  lo.target = *target;
  lo.endpoint = endpoint;
  if (endpoint.find("chat/completions") != std::string::npos) lo.kind = Endpoint::kChatCompletions;
  else if (endpoint.find("completions") != std::string::npos) lo.kind = Endpoint::kCompletions;
  else return fail(invalid_argument("--endpoint must be a (chat) completions path"));
  lo.send_ids = prompt_format == "ids";
  if (lo.send_ids && lo.kind == Endpoint::kChatCompletions)
    return fail(invalid_argument("--prompt-format ids needs /v1/completions"));
  lo.api_key = !api_key.empty() ? api_key : (std::getenv("OPENAI_API_KEY") ? std::getenv("OPENAI_API_KEY") : "");
  lo.ignore_eos = o.ignore_eos;
  lo.progress = !o.no_progress;
  lo.timeout_s = request_timeout;
  if (!extra_body.empty()) {
    lo.extra_body = nlohmann::json::parse(extra_body, nullptr, false);
    if (!lo.extra_body.is_object()) return fail(invalid_argument("--extra-body must be a JSON object"));
  }
  lo.model = !served_name.empty() ? served_name : model;
  if (lo.model.empty()) {
    // As vLLM's client: ask the server which model it serves.
    // The server may still be loading: retry while nothing listens.
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(ready_timeout));
    auto body = http_get(lo.target, "/v1/models", lo.api_key, 30.0);
    while (!body.is_ok() && body.status().message().find("refused") != std::string::npos && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      body = http_get(lo.target, "/v1/models", lo.api_key, 30.0);
    }
    if (!body.is_ok()) return fail(body.status().with_context("--model not given and /v1/models failed"));
    auto j = nlohmann::json::parse(*body, nullptr, false);
    if (j.is_discarded() || !j.contains("data") || !j["data"].is_array() || j["data"].empty() ||
        !j["data"][0].contains("id"))
      return fail(invalid_argument("--model not given and /v1/models lists none"));
    lo.model = j["data"][0]["id"].get<std::string>();
  }

  set_log_level("warning");
  auto tok = load_bench_tokenizer(tokenizer_dir, model);
  if (!tok.is_ok()) return fail(tok.status());
  std::optional<ModelConfig> floor_cfg;
  if (!model_config.empty()) {
    auto c = load_floor_config(model_config, layers);
    if (!c.is_ok()) return fail(c.status());
    floor_cfg = *c;
  }

  if (Status st = warm_up(lo, tok->get(), plan->front(), ready_timeout); !st.is_ok()) return fail(st);

  std::vector<BenchRun> runs;
  for (const CommonOptions& po : *plan) {
    for (size_t k = 0; k < po.concurrencies.size(); ++k) {
      DatasetOptions d = po.dataset;
      d.seed = po.run_seed(k);
      auto t0 = Clock::now();
      auto prompts = make_prompts(d, tok->get(), (*tok)->vocab_size());
      if (!prompts.is_ok()) return fail(prompts.status());
      const double prep_s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (prep_s > 2) std::fprintf(stderr, "prompts built in %.1f s\n", prep_s);
      HttpLoadOptions run_o = lo;
      run_o.max_concurrency = po.concurrencies[k];
      run_o.arrivals = arrival_times(int(prompts->size()), po.request_rate, po.burstiness, d.seed);
      run_o.label = po.label.empty() ? "bench" : po.label;
      if (po.concurrencies.size() > 1) run_o.label += " c=" + std::to_string(po.concurrencies[k]);
      const SpecDecodeCounters spec_before = server_spec_counters(lo);
      LoadOutcome out = run_http_load(run_o, *prompts);
      const SpecDecodeCounters spec_after = server_spec_counters(lo);

      BenchRun r = make_run(po, int(prompts->size()), po.concurrencies[k], d.seed, std::move(out.results),
                            out.duration_s);
      r.mode = "serve";
      r.backend = lo.kind == Endpoint::kChatCompletions ? "openai-chat" : "openai";
      r.model_id = lo.model;
      r.base_url = base_url;
      r.endpoint = endpoint;
      r.tokenizer_id = tokenizer_dir.empty() ? "deepseek-v3" : tokenizer_dir;
      r.command = join_command(argc, argv, "sable bench serve");
      r.spec_decode = spec_decode_delta(spec_before, spec_after);
      const bool cfg_fp8 = fp8 || (floor_cfg && floor_cfg->quantization.is_fp8());
      attach_floors(r, floor_cfg ? &*floor_cfg : nullptr, cfg_fp8, kv_bytes, po, /*host_is_device=*/false);
      print_report(stdout, r);
      runs.push_back(std::move(r));
    }
  }
  return finish_runs(runs, o);
}

}  // namespace

int bench_serve_main(int argc, char** argv) { return run_bench_serve(argc, argv); }

}  // namespace sable::bench
