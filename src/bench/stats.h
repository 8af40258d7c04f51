// The statistics of `sable bench`, with the definitions of `vllm bench
// serve` (vllm/benchmarks/serve.py, calculate_metrics) so that a figure from
// Sable reads like the same figure from vLLM:
//
//   TTFT   time from sending the request to the first chunk that carries a token
//   ITL    every gap between two successive token chunks, pooled over requests
//   TPOT   per request, (e2e - ttft) / (output_tokens - 1); requests with one
//          output token have no TPOT (and count as 0 against a TPOT SLO)
//   E2EL   time from sending the request to its last token chunk
//   goodput  requests/s that met every given SLO (ttft, tpot, e2el; <=)
//   throughputs  totals over the benchmark's wall time
//
// Percentiles interpolate linearly between order statistics (numpy's
// default); std is the population std (ddof 0). Times are seconds inside,
// milliseconds in reports.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sable::bench {

// What one request did, as the client saw it.
struct RequestResult {
  bool success = false;
  int prompt_len = 0;          // the dataset's count (what vLLM sums as input tokens)
  int server_prompt_tokens = 0;  // usage.prompt_tokens (0 when not reported)
  int expected_output_len = 0;   // max_tokens asked for
  int output_tokens = 0;       // usage.completion_tokens, else the token-chunk count
  double start_time = 0;       // s since the benchmark started
  double ttft = 0;             // s
  double latency = 0;          // s, to the last token chunk
  std::vector<double> itl;     // s, gaps between successive token chunks
  std::string error;
};

struct Summary {
  double mean_ms = 0, median_ms = 0, std_ms = 0;
  std::vector<std::pair<double, double>> percentiles_ms;  // (p, value)
  size_t count = 0;
  double percentile(double p) const;  // one of percentiles_ms (NaN if absent)
};

// Service-level objectives in ms, as `--slo ttft=500,tpot=50[,e2el=...]`
// (vLLM spells it `--goodput ttft:500 tpot:50`; both spellings parse).
struct SloConfig {
  std::optional<double> ttft_ms, tpot_ms, e2el_ms;
  bool empty() const { return !ttft_ms && !tpot_ms && !e2el_ms; }
  std::string to_string() const;
};
Result<SloConfig> parse_slo(const std::string& spec);

struct BenchMetrics {
  int completed = 0, failed = 0;
  int64_t total_input = 0, total_output = 0;
  int64_t total_input_server = 0;  // sum of usage.prompt_tokens (BOS and templates included)
  double duration_s = 0;
  double request_throughput = 0;
  std::optional<double> request_goodput;  // only with SLOs
  double output_throughput = 0;
  double total_token_throughput = 0;
  Summary ttft, tpot, itl, e2el;
  // Per-second buckets of token chunks, as vLLM's "peak output token
  // throughput": the busiest second and the most requests alive in a second.
  double max_output_tokens_per_s = 0;
  int max_concurrent_requests = 0;
};

// numpy.percentile(values, p) with linear interpolation; values need not be
// sorted. 0 for an empty list (vLLM's `np.percentile(x or 0, p)`).
double percentile(std::vector<double> values, double p);
Summary summarize(const std::vector<double>& values_s, const std::vector<double>& percentiles);
// The request's TPOT in seconds, or nullopt when it has fewer than 2 tokens.
std::optional<double> request_tpot(const RequestResult& r);
bool meets_slo(const RequestResult& r, const SloConfig& slo);

BenchMetrics compute_metrics(const std::vector<RequestResult>& results, double duration_s, const SloConfig& slo,
                             const std::vector<double>& percentiles);

// Send times (s from the start) of n requests at `rate` requests/s: gaps
// drawn from Gamma(burstiness, 1/(rate*burstiness)) (burstiness 1: Poisson
// arrivals), then scaled so that the last send is at n/rate exactly, as
// vLLM does so that seeds differ only in the pattern, not the total time.
// rate <= 0 or infinite: every request at 0.
std::vector<double> arrival_times(int n, double rate, double burstiness, uint64_t seed);

// "1,2,4" -> {1,2,4}; errors name the bad item.
Result<std::vector<int>> parse_int_list(const std::string& s);
Result<std::vector<double>> parse_double_list(const std::string& s);

}  // namespace sable::bench
