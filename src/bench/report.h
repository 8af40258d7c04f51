// One benchmark run's report, the same for `bench serve` and `bench offline`:
// the table in vLLM's layout (so a reader compares line by line) with the
// floor estimate beside the figures it bounds, and the JSON results under
// vLLM's keys (so scripts written for vLLM's result files read ours), with
// Sable's extras under "sable".
#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "bench/floor.h"
#include "bench/spec_decode_stats.h"
#include "bench/stats.h"

namespace sable::bench {

struct BenchRun {
  std::string mode;        // serve | offline
  std::string preset;      // single | concurrent32 | long100k | "" (custom)
  std::string backend;     // openai | openai-chat | sable-engine
  std::string model_id;
  std::string base_url, endpoint;  // serve only
  std::string tokenizer_id;
  std::string dataset;
  int num_prompts = 0, input_len = 0, output_len = 0;
  int max_concurrency = 0;  // 0: unlimited
  double request_rate = 0;  // inf when unlimited
  double burstiness = 1;
  uint64_t seed = 0;
  SloConfig slo;
  std::vector<double> percentiles;
  BenchMetrics metrics;
  std::vector<RequestResult> results;
  std::optional<Floors> floors;
  std::string floor_note;  // what the floor assumed (bandwidth, peak, dtype), or why none
  std::string device;      // what ran the model, when known (offline), else ""
  std::string command;     // the command line, for the record
  // The server's (or engine's) speculative decoding over the run, when it drafts.
  std::optional<SpecDecodeStats> spec_decode;
};

void print_report(std::FILE* out, const BenchRun& run);
nlohmann::ordered_json run_to_json(const BenchRun& run);
// A sweep's one-line-per-run summary (concurrency, throughput, medians).
void print_sweep_table(std::FILE* out, const std::vector<BenchRun>& runs);

// Writes results (one run: its object; several: a list) to path.
Status write_results_json(const std::string& path, const std::vector<BenchRun>& runs);
// Draws the PNGs with bench/plot_results.py when python3 and matplotlib are
// there; otherwise says how to draw them later. Returns the files written.
std::vector<std::string> write_plots(const std::string& results_json, const std::string& plot_dir);

// "abc1234" from $SABLE_COMMIT or `git rev-parse`, else "unknown".
std::string current_commit();
// "Intel(R) Xeon(R) ... x 2 cores" for the record.
std::string host_description();

}  // namespace sable::bench
