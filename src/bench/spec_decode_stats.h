// Speculative decoding's acceptance over one benchmark run, as `vllm bench
// serve` reports it: the server's vLLM counters (vllm:spec_decode_*_total on
// /metrics) read before and after the run, and their difference. Sable's
// server and vLLM's export the same names; a server without speculative
// decoding exports none, and the report then has no such section.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace sable::bench {

// The cumulative counters, each summed over its label sets (a server with
// several engines exports one series per engine).
struct SpecDecodeCounters {
  bool present = false;  // the server exports vllm:spec_decode_num_drafts_total
  double num_drafts = 0, draft_tokens = 0, accepted_tokens = 0;
  std::vector<double> accepted_per_pos;  // by the position label
};

// Reads the counters from Prometheus text. Lines that are comments, other
// metrics or unparsable are skipped.
SpecDecodeCounters parse_spec_decode_counters(std::string_view prometheus_text);

// vLLM's figures for the run.
struct SpecDecodeStats {
  double acceptance_rate = 0;    // accepted / draft tokens, in percent
  double acceptance_length = 0;  // 1 + accepted / drafts: tokens a verifying step yields
  long long num_drafts = 0, draft_tokens = 0, accepted_tokens = 0;
  std::vector<double> per_position_acceptance_rates;  // accepted at position i / drafts (fractions)
};

// after - before; none when either side lacks the counters or the run drafted nothing.
std::optional<SpecDecodeStats> spec_decode_delta(const SpecDecodeCounters& before, const SpecDecodeCounters& after);

}  // namespace sable::bench
