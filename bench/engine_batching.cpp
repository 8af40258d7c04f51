// Continuous batching on CPU (issue 4): tokens/s of 64 prompts through the
// engine at once against the same prompts one at a time, same model, same
// run. Also checks that every output is the same both ways (the engine is
// batch-invariant).
//
//   build/bench/bench_engine_batching [--preset tiny] [--layers 0]
//       [--prompts 64] [--max-tokens 32] [--min-len 32] [--max-len 256]
//       [--markdown FILE]
//
// Greedy, EOS ignored, prefix caching off (distinct prompts; no run can
// reuse another's cache), dummy weights built in memory. The default model
// (tiny: DeepSeek-V3 layout at hidden 256, full 129K vocabulary) keeps a run
// under two minutes on 2 cores; --preset small-moe --layers 1 is the
// heavier choice.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "backend/backend.h"
#include "backend/cpu/gemm.h"
#include "core/logging.h"
#include "core/thread_pool.h"
#include "engine/engine.h"
#include "model/deepseek_v3.h"
#include "model/presets.h"
#include "model/weight_source.h"

using namespace sable;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

GenerateRequest request(const std::vector<int32_t>& prompt, int max_tokens, int i) {
  GenerateRequest r;
  r.request_id = "bench-" + std::to_string(i);
  r.prompt_ids = prompt;
  r.params.temperature = 0;
  r.params.ignore_eos = true;
  r.params.max_tokens = max_tokens;
  r.params.detokenize = false;
  return r;
}

std::vector<int32_t> collect(RequestHandle& h) {
  std::vector<int32_t> ids;
  for (auto& o : h.poll()) ids.insert(ids.end(), o.token_ids.begin(), o.token_ids.end());
  return ids;
}

struct Run {
  double seconds = 0;
  uint64_t steps = 0;
  std::vector<std::vector<int32_t>> outputs;
};

Result<Run> run_engine(DeepseekV3Model& model, const EngineConfig& cfg, const std::vector<std::vector<int32_t>>& prompts,
                       int max_tokens, bool together) {
  SABLE_ASSIGN_OR_RETURN(auto engine, Engine::create(cfg, model, nullptr));
  Run run;
  auto t0 = Clock::now();
  if (together) {
    std::vector<std::shared_ptr<RequestHandle>> hs;
    for (size_t i = 0; i < prompts.size(); ++i) {
      SABLE_ASSIGN_OR_RETURN(auto h, engine->submit(request(prompts[i], max_tokens, int(i))));
      hs.push_back(h);
    }
    while (engine->step()) ++run.steps;
    for (auto& h : hs) run.outputs.push_back(collect(*h));
  } else {
    for (size_t i = 0; i < prompts.size(); ++i) {
      SABLE_ASSIGN_OR_RETURN(auto h, engine->submit(request(prompts[i], max_tokens, int(i))));
      while (engine->step()) ++run.steps;
      run.outputs.push_back(collect(*h));
    }
  }
  run.seconds = seconds(Clock::now() - t0);
  return run;
}

std::string shell(const std::string& cmd) {
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char buf[512];
    while (fgets(buf, sizeof buf, f)) out += buf;
    pclose(f);
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"engine: 64 prompts at once vs one at a time"};
  std::string preset = "tiny", markdown;
  int layers = 0, n_prompts = 64, max_tokens = 32, min_len = 32, max_len = 256;
  app.add_option("--preset", preset);
  app.add_option("--layers", layers, "layers of the preset (0: the preset's own)");
  app.add_option("--prompts", n_prompts);
  app.add_option("--max-tokens", max_tokens, "output tokens per prompt");
  app.add_option("--min-len", min_len);
  app.add_option("--max-len", max_len);
  app.add_option("--markdown", markdown, "also write the results as markdown here");
  CLI11_PARSE(app, argc, argv);
  std::string command;
  for (int i = 0; i < argc; ++i) command += std::string(i ? " " : "") + argv[i];
  set_log_level("warn");

  auto cfg = preset_config(preset, layers, false);
  if (!cfg.is_ok()) { std::fprintf(stderr, "%s\n", cfg.status().to_string().c_str()); return 1; }
  DummyWeightSource src(*cfg, 1);
  auto model = DeepseekV3Model::load(src, cpu_backend());
  if (!model.is_ok()) { std::fprintf(stderr, "%s\n", model.status().to_string().c_str()); return 1; }

  // Lengths spread evenly over [min_len, max_len] in a shuffled order.
  std::vector<std::vector<int32_t>> prompts;
  int64_t prompt_tokens = 0;
  for (int i = 0; i < n_prompts; ++i) {
    const int len = min_len + int((int64_t(i) * 37 % n_prompts) * (max_len - min_len) / std::max(1, n_prompts - 1));
    std::vector<int32_t> ids;
    for (int j = 0; j < len; ++j) ids.push_back(int32_t(100 + (i * 7919 + j * 104729) % 100000));
    prompt_tokens += len;
    prompts.push_back(std::move(ids));
  }

  EngineConfig ec;
  ec.block_size = 16;
  ec.max_num_seqs = n_prompts;
  ec.max_num_batched_tokens = 4096;
  ec.enable_prefix_caching = false;
  ec.num_kv_blocks = n_prompts * ((max_len + max_tokens + ec.block_size - 1) / ec.block_size + 1);

  auto batched = run_engine(**model, ec, prompts, max_tokens, true);
  if (!batched.is_ok()) { std::fprintf(stderr, "%s\n", batched.status().to_string().c_str()); return 1; }
  auto serial = run_engine(**model, ec, prompts, max_tokens, false);
  if (!serial.is_ok()) { std::fprintf(stderr, "%s\n", serial.status().to_string().c_str()); return 1; }
  const bool same = batched->outputs == serial->outputs;

  const double out_tokens = double(n_prompts) * max_tokens;
  const double all_tokens = out_tokens + double(prompt_tokens);
  std::ostringstream t;
  t << "| mode | wall s | engine steps | output tok/s | prompt+output tok/s |\n|---|---|---|---|---|\n";
  for (auto [name, r] : {std::pair<const char*, const Run*>{"one at a time", &*serial}, {"64 at once", &*batched}})
    t << fmt::format("| {} | {:.2f} | {} | {:.1f} | {:.1f} |\n", name, r->seconds, r->steps, out_tokens / r->seconds,
                     all_tokens / r->seconds);
  t << fmt::format("\nspeedup (at once / one at a time): {:.2f}x; outputs identical both ways: {}\n",
                   serial->seconds / batched->seconds, same ? "yes" : "NO");
  const std::string header = fmt::format(
      "model: {} ({} layers, dummy bf16 weights), {} prompts of {}-{} tokens ({} in all), {} output tokens each, "
      "greedy; CPU kernels: {}, {} threads",
      preset, cfg->num_hidden_layers, n_prompts, min_len, max_len, prompt_tokens, max_tokens, cpu::gemm_kernels().name,
      ThreadPool::global().size());
  std::printf("%s\n\n%s", header.c_str(), t.str().c_str());
  if (!markdown.empty()) {
    std::ofstream f(markdown);
    f << "# Engine batching: " << n_prompts << " prompts at once vs one at a time\n\n";
    f << "- commit: " << shell(std::string("git -C ") + SABLE_SOURCE_DIR + " rev-parse --short HEAD") << "\n";
    f << "- CPU: " << shell("lscpu | sed -n 's/^Model name: *//p' | head -1") << "\n";
    f << "- command: `" << command << "`\n";
    f << "- " << header << "\n\n" << t.str();
  }
  return same ? 0 : 2;
}
