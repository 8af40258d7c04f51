// Flags shared by `sable bench serve` and `sable bench offline` (vLLM's
// names where vLLM has them, its short aliases too), the presets for the
// scenarios teams quote for DeepSeek-V3, and the outputs every run writes.
#pragma once

#include <CLI/CLI.hpp>

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "bench/dataset.h"
#include "bench/floor.h"
#include "bench/report.h"
#include "bench/stats.h"
#include "core/status.h"
#include "model/config.h"

namespace sable::bench {

struct Preset {
  const char* name;
  int num_prompts, max_concurrency, input_len, output_len;
  const char* about;
};
// single, concurrent32, long100k.
const std::vector<Preset>& presets();
const Preset* find_preset(const std::string& name);

struct CommonOptions {
  DatasetOptions dataset;
  std::string preset;
  std::string concurrency;  // "" (no limit) or "1,2,4,..." (a sweep)
  double request_rate = std::numeric_limits<double>::infinity();
  double burstiness = 1.0;
  std::string slo_spec, percentiles_spec = "50,90,99";
  int num_warmups = 1;
  bool ignore_eos = true;
  bool no_progress = false;
  std::string result_json, plot_dir, label;
  // Floor inputs.
  std::string bandwidth = "";   // GB/s, or "auto" (host memcpy; CPU only)
  double peak_tflops = 0;

  // Parsed by finalize():
  SloConfig slo;
  std::vector<double> percentiles;
  std::vector<int> concurrencies;  // {0} when unlimited

  void add_flags(CLI::App& app, bool with_seed = true);
  // Applies the preset to flags the user did not give, and parses lists.
  Status finalize(const CLI::App& app);
  // --preset a,b,c: one finalized copy per preset (one copy without).
  Result<std::vector<CommonOptions>> expand(const CLI::App& app) const;
  // Seeds of the k-th run of a sweep: fresh prompts each run, so no run
  // finds another's prompts in the prefix cache.
  uint64_t run_seed(size_t k) const { return dataset.seed + 1000003ull * k; }
};

// A run's record from what serve and offline share: the preset, dataset,
// load shape, SLO and percentiles of `o`, and the results with their metrics.
// The caller adds the mode, backend, model, device and command.
BenchRun make_run(const CommonOptions& o, int num_prompts, int max_concurrency, uint64_t seed,
                  std::vector<RequestResult> results, double duration_s);

// Fills run.floors and run.floor_note for a model config (null: none known).
void attach_floors(BenchRun& run, const ModelConfig* config, bool fp8_weights, int kv_value_bytes,
                   const CommonOptions& o, bool host_is_device);

// Prints the sweep table (several runs), writes --result-json and the plots.
int finish_runs(const std::vector<BenchRun>& runs, const CommonOptions& o);

// The command line as one string, for the record.
std::string join_command(int argc, char** argv, const char* prefix);

}  // namespace sable::bench
