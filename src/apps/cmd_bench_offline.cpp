// sable bench offline: the engine's throughput and latency with no HTTP in
// between (vLLM's `bench throughput`, reported like `bench serve`): the same
// prompts, arrivals and concurrency limit, submitted straight to the engine
// thread, each output timestamped when the engine hands it over.
#include <CLI/CLI.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "bench/options.h"
#include "bench/progress.h"
#include "apps/engine_options.h"
#include "apps/model_options.h"
#include "core/logging.h"
#include "engine/engine.h"
#include "model/presets.h"
#include "tokenizer/tokenizer.h"

namespace sable::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Outcome {
  std::vector<RequestResult> results;
  double duration_s = 0;
};

// The engine's speculative decoding counters, as the server exports them
// (bench serve reads them from /metrics).
SpecDecodeCounters spec_counters(const EngineMetrics& m) {
  SpecDecodeCounters c;
  c.present = m.spec_positions > 0;
  c.num_drafts = double(m.spec_num_drafts.load());
  c.draft_tokens = double(m.spec_num_draft_tokens.load());
  c.accepted_tokens = double(m.spec_num_accepted_tokens.load());
  for (int j = 0; j < std::min(m.spec_positions, EngineMetrics::kMaxSpecPositions); ++j)
    c.accepted_per_pos.push_back(double(m.spec_accepted_per_pos[size_t(j)].load()));
  return c;
}

// Drives the engine thread from this one: a notify callback per request
// wakes us, and every output polled at a wake-up gets that moment's time.
Outcome run_engine_load(Engine& engine, const std::vector<BenchPrompt>& prompts, int max_concurrency,
                        const std::vector<double>& arrivals, bool ignore_eos, ProgressBar* bar,
                        const std::string& id_prefix) {
  Outcome out;
  out.results.resize(prompts.size());
  std::mutex mu;
  std::condition_variable cv;
  bool woken = false;
  auto wake = [&] {
    std::lock_guard<std::mutex> l(mu);
    woken = true;
    cv.notify_one();
  };
  struct Live {
    size_t index;
    std::shared_ptr<RequestHandle> h;
    Clock::time_point st, last;
    int chunks = 0;
  };
  std::vector<Live> live;
  std::deque<size_t> ready;
  size_t next = 0;
  int done = 0;
  int64_t tokens = 0;
  const auto t0 = Clock::now();
  auto end = t0;
  while (done < int(prompts.size())) {
    const double now_s = seconds(Clock::now() - t0);
    while (next < prompts.size() && (next >= arrivals.size() || arrivals[next] <= now_s)) ready.push_back(next++);
    bool launched = false;
    while (!ready.empty() && (max_concurrency <= 0 || int(live.size()) < max_concurrency)) {
      launched = true;
      const size_t i = ready.front();
      ready.pop_front();
      GenerateRequest req;
      req.request_id = id_prefix + std::to_string(i);
      req.prompt_ids = prompts[i].ids;
      req.params.max_tokens = prompts[i].output_len;
      req.params.temperature = 0;
      req.params.ignore_eos = ignore_eos;
      Live l{i, nullptr, Clock::now(), {}, 0};
      out.results[i].prompt_len = prompts[i].prompt_len;
      out.results[i].expected_output_len = prompts[i].output_len;
      out.results[i].start_time = seconds(l.st - t0);
      auto h = engine.submit(std::move(req));
      if (!h.is_ok()) {
        out.results[i].error = h.status().message();
        ++done;
        continue;
      }
      l.h = *h;
      // Outputs pushed before this are still queued: the poll below takes them.
      l.h->set_notify(wake);
      live.push_back(std::move(l));
    }
    {
      std::unique_lock<std::mutex> lk(mu);
      // After a submit, poll at once: outputs pushed before set_notify woke nobody.
      if (!woken && !launched) {
        if (next < prompts.size() && next < arrivals.size() && ready.empty())
          cv.wait_until(lk, t0 + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(arrivals[next])),
                        [&] { return woken; });
        else if (!live.empty())
          cv.wait_for(lk, std::chrono::milliseconds(200), [&] { return woken; });
      }
      woken = false;
    }
    const auto now = Clock::now();
    for (size_t k = 0; k < live.size();) {
      Live& l = live[k];
      RequestResult& r = out.results[l.index];
      for (RequestOutput& o : l.h->poll()) {
        if (!o.token_ids.empty()) {
          if (l.chunks == 0) r.ttft = seconds(now - l.st);
          else r.itl.push_back(seconds(now - l.last));
          l.last = now;
          ++l.chunks;
          tokens += int64_t(o.token_ids.size());
        }
        if (o.finish_reason) {
          r.output_tokens = o.completion_tokens;
          r.server_prompt_tokens = o.prompt_tokens;
          if (*o.finish_reason == FinishReason::kError || *o.finish_reason == FinishReason::kAbort)
            r.error = o.error.empty() ? finish_reason_name(*o.finish_reason) : o.error;
        }
      }
      if (l.h->done()) {
        r.success = r.error.empty() && l.chunks > 0;
        if (r.error.empty() && l.chunks == 0) r.error = "no token generated";
        r.latency = l.chunks > 0 ? seconds(l.last - l.st) : 0;
        ++done;
        end = now;
        live[k] = std::move(live.back());
        live.pop_back();
      } else {
        ++k;
      }
    }
    if (bar) bar->update(done, int(live.size()), tokens, seconds(now - t0));
  }
  out.duration_s = seconds(end - t0);
  if (bar) bar->finish(out.duration_s);
  return out;
}

int run_bench_offline(int argc, char** argv) {
  CLI::App app{"Engine throughput and latency without HTTP, reported as `bench serve` reports",
               "sable bench offline"};
  CommonOptions o;
  o.add_flags(app, /*with_seed=*/false);  // ModelOptions has --seed
  ModelOptions mo;
  mo.add_flags(app, false);
  EngineOptions eo;
  eo.add_flags(app);
  std::string model_preset;
  int layers = 0;
  app.add_option("--model-preset", model_preset,
                 "Random weights at a preset's dims instead of --model (tiny | small-moe | dsv3-slice | dsv3)");
  app.add_option("--layers", layers, "With --model-preset: the layer count");
  CLI11_PARSE(app, argc, argv);
  o.dataset.seed = mo.seed;  // one --seed: dummy weights, prompts and arrivals
  auto fail = [](const Status& st) {
    std::fprintf(stderr, "sable bench offline: %s\n", st.message().c_str());
    return 2;
  };
  auto plan = o.expand(app);
  if (!plan.is_ok()) return fail(plan.status());
  std::string tmp_dir;
  if (!model_preset.empty()) {
    // A preset becomes a config-only model directory, loaded as dummy weights.
    auto cfg = preset_config(model_preset, layers);
    if (!cfg.is_ok()) return fail(cfg.status());
    tmp_dir = (fs::temp_directory_path() / ("sable-bench-" + std::to_string(::getpid()))).string();
    fs::create_directories(tmp_dir);
    std::ofstream(tmp_dir + "/config.json") << model_config_to_json(*cfg) << "\n";
    mo.model = tmp_dir;
    mo.load_format = "dummy";
  }
  mo.load_mtp = eo.needs_mtp();
  mo.engine = eo.to_config();
  auto lm = load_model(mo, /*allow_demo=*/true);
  if (!tmp_dir.empty()) fs::remove_all(tmp_dir);
  if (!lm.is_ok()) return fail(lm.status());
  set_log_level("warning");
  EngineConfig ec = eo.to_config();
  // The longest request must fit.
  if (ec.max_model_len == 0) {
    int64_t need = 0;
    for (const CommonOptions& po : *plan)
      need = std::max<int64_t>(need, int64_t(po.dataset.input_len) * (po.dataset.name == "random" ? 1 : 4) +
                                         po.dataset.output_len + 16);
    if (lm->model->config().max_position_embeddings < need) ec.max_model_len = int(need);
  }
  auto engine = Engine::create(ec, *lm->model, lm->tokenizer);
  if (!engine.is_ok()) return fail(engine.status());
  (*engine)->start();
  const ModelConfig& cfg = (*engine)->model_config();
  const Tokenizer* tok = lm->tokenizer.get();
  const DType kv_dtype = ec.kv_cache_dtype.value_or(lm->backend->activation_dtype());

  {  // Warm-up: a prompt of the first run's length but its own text (the
     // first long prefill's allocations), 4 tokens out.
    DatasetOptions d;
    d.input_len = plan->front().dataset.input_len;
    d.output_len = 4;
    d.num_prompts = std::max(1, o.num_warmups);
    d.seed = o.dataset.seed ^ 0x5eedull;
    auto w = make_prompts(d, tok, cfg.vocab_size);
    if (!w.is_ok()) return fail(w.status());
    (void)run_engine_load(**engine, *w, 0, {}, true, nullptr, "warmup-");
  }

  std::vector<BenchRun> runs;
  for (const CommonOptions& po : *plan) {
    for (size_t k = 0; k < po.concurrencies.size(); ++k) {
      DatasetOptions d = po.dataset;
      d.seed = po.run_seed(k);
      auto prompts = make_prompts(d, tok, cfg.vocab_size);
      if (!prompts.is_ok()) return fail(prompts.status());
      std::string label = po.label.empty() ? "offline" : po.label;
      if (po.concurrencies.size() > 1) label += " c=" + std::to_string(po.concurrencies[k]);
      ProgressBar bar(int(prompts->size()), !po.no_progress, label);
      const auto arrivals = arrival_times(int(prompts->size()), po.request_rate, po.burstiness, d.seed);
      const SpecDecodeCounters spec_before = spec_counters((*engine)->metrics());
      Outcome out = run_engine_load(**engine, *prompts, po.concurrencies[k], arrivals, po.ignore_eos, &bar,
                                    "bench" + std::to_string(runs.size()) + "-");
      const SpecDecodeCounters spec_after = spec_counters((*engine)->metrics());
      BenchRun r = make_run(po, int(prompts->size()), po.concurrencies[k], d.seed, std::move(out.results),
                            out.duration_s);
      r.mode = "offline";
      r.backend = "sable-engine";
      r.model_id = lm->model_name + (model_preset.empty() ? "" : " (preset " + model_preset + ")");
      r.tokenizer_id = tok ? "model's" : "none (token ids)";
      r.device = lm->backend->name();
      r.command = join_command(argc, argv, "sable bench offline");
      r.spec_decode = spec_decode_delta(spec_before, spec_after);
      const bool fp8 = mo.quantization == "fp8" || cfg.quantization.is_fp8();
      attach_floors(r, &cfg, fp8, int(dtype_size(kv_dtype)), po, lm->backend->device() == Device::kCPU);
      print_report(stdout, r);
      runs.push_back(std::move(r));
    }
  }
  (*engine)->shutdown(std::chrono::milliseconds(0));
  return finish_runs(runs, o);
}

}  // namespace

int bench_offline_main(int argc, char** argv) { return run_bench_offline(argc, argv); }

}  // namespace sable::bench
