#include "bench/options.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

namespace sable::bench {

const std::vector<Preset>& presets() {
  static const std::vector<Preset> p = {
      {"single", 1, 1, 1000, 500, "one request, 1000 tokens in, 500 out (latency)"},
      {"concurrent32", 32, 32, 1000, 500, "32 concurrent requests, 1000 in / 500 out (throughput at a batch of 32)"},
      {"long100k", 1, 1, 100000, 2000, "one 100K-token prompt, 2000 out (long-context prefill and decode)"},
  };
  return p;
}

const Preset* find_preset(const std::string& name) {
  for (const Preset& p : presets())
    if (name == p.name) return &p;
  return nullptr;
}

void CommonOptions::add_flags(CLI::App& app, bool with_seed) {
  std::string names;
  for (const Preset& p : presets()) names += std::string(names.empty() ? "" : " | ") + p.name;
  app.add_option("--preset", preset,
                 names + ": the scenarios quoted for DeepSeek-V3, one or a list run in turn (explicit flags win)");
  app.add_option("--dataset,--dataset-name", dataset.name, "random | sharegpt-like");
  app.add_option("--dataset-path", dataset.path, "ShareGPT JSON for --dataset sharegpt-like");
  app.add_option("--input-len,--random-input-len", dataset.input_len, "Prompt tokens per request");
  app.add_option("--output-len,--random-output-len", dataset.output_len, "Output tokens per request");
  app.add_option("--range-ratio,--random-range-ratio", dataset.range_ratio, "Lengths uniform in len*(1 +- R)");
  app.add_option("--num-prompts", dataset.num_prompts, "Requests per run");
  if (with_seed) app.add_option("--seed", dataset.seed, "Seed of prompts and arrivals");
  app.add_option("--max-concurrency", concurrency,
                 "Most requests in flight; a list (1,2,4,8) sweeps, one run each (default: no limit)");
  app.add_option("--request-rate", request_rate, "Requests/s, Poisson arrivals (default inf: all at once)");
  app.add_option("--burstiness", burstiness, "Gamma shape of the arrival gaps (1: Poisson)");
  app.add_option("--slo,--goodput", slo_spec, "SLOs for goodput, ms: ttft=500,tpot=50[,e2el=...]");
  app.add_option("--percentiles,--metric-percentiles", percentiles_spec, "Percentiles to report");
  app.add_option("--num-warmups", num_warmups, "Short untimed requests first (they do not share the prompts)");
  app.add_flag("--no-ignore-eos{false}", ignore_eos, "Stop at EOS (default: always generate --output-len tokens)");
  app.add_flag("--ignore-eos", ignore_eos, "Generate --output-len tokens whatever the model says (the default)");
  app.add_flag("--disable-tqdm,--no-progress", no_progress, "No progress bar");
  app.add_option("--result-json,--result-filename", result_json, "Write the results here (vLLM's keys)");
  app.add_option("--plot-dir", plot_dir, "Write PNG plots here (needs python3 + matplotlib)");
  app.add_option("--label", label, "A name for this run in the results");
  app.add_option("--bandwidth-gbs", bandwidth,
                 "Memory bandwidth for the decode floor, GB/s (measured; 'auto': a host memcpy, CPU only)");
  app.add_option("--peak-tflops", peak_tflops, "Peak dense TFLOP/s for the prefill floor (e.g. 989 for H200 BF16)");
}

Status CommonOptions::finalize(const CLI::App& app) {
  if (!preset.empty()) {
    const Preset* p = find_preset(preset);
    if (!p) return invalid_argument("--preset: unknown '" + preset + "'");
    if (!app.count("--input-len")) dataset.input_len = p->input_len;
    if (!app.count("--output-len")) dataset.output_len = p->output_len;
    if (!app.count("--num-prompts")) dataset.num_prompts = p->num_prompts;
    if (!app.count("--max-concurrency")) concurrency = std::to_string(p->max_concurrency);
    if (label.empty()) label = p->name;
  }
  if (!slo_spec.empty()) {
    auto s = parse_slo(slo_spec);
    if (!s.is_ok()) return s.status();
    slo = *s;
  }
  auto ps = parse_double_list(percentiles_spec);
  if (!ps.is_ok()) return invalid_argument("--percentiles: " + ps.status().message());
  percentiles = *ps;
  for (double p : percentiles)
    if (!(p >= 0 && p <= 100)) return invalid_argument("--percentiles: each must be in [0, 100]");
  if (concurrency.empty() || concurrency == "inf" || concurrency == "0") {
    concurrencies = {0};
  } else {
    auto c = parse_int_list(concurrency);
    if (!c.is_ok()) return invalid_argument("--max-concurrency: " + c.status().message());
    concurrencies = *c;
    for (int v : concurrencies)
      if (v < 1) return invalid_argument("--max-concurrency: each must be at least 1");
  }
  if (!(request_rate > 0)) return invalid_argument("--request-rate must be > 0 (inf: all at once)");
  if (!(burstiness > 0)) return invalid_argument("--burstiness must be > 0");
  return Status::ok();
}

Result<std::vector<CommonOptions>> CommonOptions::expand(const CLI::App& app) const {
  std::vector<CommonOptions> out;
  std::vector<std::string> names;
  std::stringstream ss(preset);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) names.push_back(item);
  if (names.empty()) names.push_back("");
  for (const std::string& n : names) {
    CommonOptions c = *this;
    c.preset = n;
    if (names.size() > 1) c.label.clear();  // each run is named after its preset
    SABLE_RETURN_IF_ERROR(c.finalize(app));
    out.push_back(std::move(c));
  }
  return out;
}

BenchRun make_run(const CommonOptions& o, int num_prompts, int max_concurrency, uint64_t seed,
                  std::vector<RequestResult> results, double duration_s) {
  BenchRun r;
  r.preset = o.preset;
  r.dataset = o.dataset.name;
  r.num_prompts = num_prompts;
  r.input_len = o.dataset.input_len;
  r.output_len = o.dataset.output_len;
  r.max_concurrency = max_concurrency;
  r.request_rate = o.request_rate;
  r.burstiness = o.burstiness;
  r.seed = seed;
  r.slo = o.slo;
  r.percentiles = o.percentiles;
  r.metrics = compute_metrics(results, duration_s, o.slo, o.percentiles);
  r.results = std::move(results);
  return r;
}

void attach_floors(BenchRun& run, const ModelConfig* config, bool fp8_weights, int kv_value_bytes,
                   const CommonOptions& o, bool host_is_device) {
  if (!config) {
    run.floor_note = "none (the model's config is unknown: give --model-config)";
    return;
  }
  double bw = 0;
  std::string bw_src;
  if (o.bandwidth == "auto") {
    if (host_is_device) {
      bw = measure_host_copy_bandwidth_gbs();
      bw_src = "host memcpy, measured now";
    }
  } else if (!o.bandwidth.empty()) {
    bw = std::strtod(o.bandwidth.c_str(), nullptr);
    bw_src = "--bandwidth-gbs";
  }
  if (bw <= 0 && o.peak_tflops <= 0) {
    run.floor_note = "none (give --bandwidth-gbs and --peak-tflops)";
    return;
  }
  const int batch = std::min(run.num_prompts, run.max_concurrency > 0 ? run.max_concurrency : run.num_prompts);
  FloorModel fm = floor_model(*config, fp8_weights, kv_value_bytes);
  run.floors = compute_floors(fm, run.input_len, run.output_len, batch, bw, o.peak_tflops);
  char pk[64] = "no --peak-tflops";
  if (o.peak_tflops > 0) std::snprintf(pk, sizeof pk, "%g TFLOP/s peak", o.peak_tflops);
  const std::string peak = pk;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "estimates. decode step of %d seqs at mid-output context reads %.2f GB (%s weights, KV %d B/value) "
                "at %.0f GB/s (%s); TTFT = one prompt's prefill alone, %s; expected distinct experts under "
                "uniform routing",
                batch, run.floors->step_bytes / 1e9, fp8_weights ? "FP8" : "BF16", kv_value_bytes, bw,
                bw > 0 ? bw_src.c_str() : "not given",
                peak.c_str());
  run.floor_note = buf;
}

int finish_runs(const std::vector<BenchRun>& runs, const CommonOptions& o) {
  if (runs.size() > 1) print_sweep_table(stdout, runs);
  std::string json_path = o.result_json;
  if (json_path.empty() && !o.plot_dir.empty()) json_path = o.plot_dir + "/results.json";
  if (!json_path.empty()) {
    Status st = write_results_json(json_path, runs);
    if (!st.is_ok()) {
      std::fprintf(stderr, "sable bench: %s\n", st.message().c_str());
      return 1;
    }
    std::printf("results: %s\n", json_path.c_str());
  }
  if (!o.plot_dir.empty())
    for (const std::string& f : write_plots(json_path, o.plot_dir)) std::printf("plot: %s\n", f.c_str());
  int completed = 0;
  for (const BenchRun& r : runs) completed += r.metrics.completed;
  return completed > 0 ? 0 : 1;
}

std::string join_command(int argc, char** argv, const char* prefix) {
  std::string s = prefix;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (i == 0) continue;  // the sub-mode name is in prefix
    s += ' ';
    s += a.find_first_of(" \t\"'") == std::string::npos ? a : "'" + a + "'";
  }
  return s;
}

}  // namespace sable::bench
