// The speculative decoding section of the benchmark report: the counters
// read from a server's /metrics text (Sable's form and vLLM's, with its
// engine and model labels) and the run's figures as `vllm bench serve`
// computes them (acceptance rate = accepted / draft tokens, acceptance
// length = 1 + accepted / drafts, per position = accepted there / drafts).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "bench/report.h"
#include "bench/spec_decode_stats.h"

namespace sable::bench {
namespace {

// Sable's /metrics, as server/metrics_endpoint.cpp writes it.
const char* kSable = R"(# HELP vllm:spec_decode_num_drafts_total Number of spec decoding drafts.
# TYPE vllm:spec_decode_num_drafts_total counter
vllm:spec_decode_num_drafts_total 10
# TYPE vllm:spec_decode_num_draft_tokens_total counter
vllm:spec_decode_num_draft_tokens_total 30
vllm:spec_decode_num_accepted_tokens_total 18
# TYPE vllm:spec_decode_num_accepted_tokens_per_pos_total counter
vllm:spec_decode_num_accepted_tokens_per_pos_total{position="0"} 9
vllm:spec_decode_num_accepted_tokens_per_pos_total{position="1"} 6
vllm:spec_decode_num_accepted_tokens_per_pos_total{position="2"} 3
vllm:generation_tokens_total 1234
)";

TEST(BenchSpecDecode, ParsesTheCounters) {
  const SpecDecodeCounters c = parse_spec_decode_counters(kSable);
  EXPECT_TRUE(c.present);
  EXPECT_EQ(c.num_drafts, 10);
  EXPECT_EQ(c.draft_tokens, 30);
  EXPECT_EQ(c.accepted_tokens, 18);
  EXPECT_EQ(c.accepted_per_pos, (std::vector<double>{9, 6, 3}));
}

TEST(BenchSpecDecode, SumsVllmsLabelSetsAndReadsFloats) {
  // vLLM labels each series with its engine and model; two engines (data parallel) sum.
  const char* text = R"(vllm:spec_decode_num_drafts_total{engine="0",model_name="m"} 4.0
vllm:spec_decode_num_drafts_total{engine="1",model_name="m"} 6.0
vllm:spec_decode_num_draft_tokens_total{engine="0",model_name="m"} 1.2e1
vllm:spec_decode_num_accepted_tokens_total{engine="0",model_name="m"} 5.0
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="a,b=\"c\"",position="1"} 2.0
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="1",model_name="m",position="1"} 1.0
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",position="x"} 7.0
vllm:spec_decode_num_drafts_total_created{engine="0"} 1.7e9
vllm:spec_decode_num_accepted_tokens_total garbage
)";
  const SpecDecodeCounters c = parse_spec_decode_counters(text);
  EXPECT_TRUE(c.present);
  EXPECT_EQ(c.num_drafts, 10);
  EXPECT_EQ(c.draft_tokens, 12);
  EXPECT_EQ(c.accepted_tokens, 5);
  EXPECT_EQ(c.accepted_per_pos, (std::vector<double>{0, 3}));
}

TEST(BenchSpecDecode, AbsentWithoutSpeculativeDecoding) {
  EXPECT_FALSE(parse_spec_decode_counters("vllm:generation_tokens_total 5\n").present);
  EXPECT_FALSE(parse_spec_decode_counters("").present);
  const SpecDecodeCounters none;
  EXPECT_FALSE(spec_decode_delta(none, parse_spec_decode_counters(kSable)));
}

TEST(BenchSpecDecode, TheRunIsTheDifference) {
  const SpecDecodeCounters before = parse_spec_decode_counters(
      "vllm:spec_decode_num_drafts_total 2\nvllm:spec_decode_num_draft_tokens_total 6\n"
      "vllm:spec_decode_num_accepted_tokens_total 4\n"
      "vllm:spec_decode_num_accepted_tokens_per_pos_total{position=\"0\"} 2\n"
      "vllm:spec_decode_num_accepted_tokens_per_pos_total{position=\"1\"} 2\n");
  const auto s = spec_decode_delta(before, parse_spec_decode_counters(kSable));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->num_drafts, 8);
  EXPECT_EQ(s->draft_tokens, 24);
  EXPECT_EQ(s->accepted_tokens, 14);
  EXPECT_DOUBLE_EQ(s->acceptance_rate, 100.0 * 14 / 24);
  EXPECT_DOUBLE_EQ(s->acceptance_length, 1.0 + 14.0 / 8);
  ASSERT_EQ(s->per_position_acceptance_rates.size(), 3u);
  EXPECT_DOUBLE_EQ(s->per_position_acceptance_rates[0], 7.0 / 8);
  EXPECT_DOUBLE_EQ(s->per_position_acceptance_rates[1], 4.0 / 8);
  EXPECT_DOUBLE_EQ(s->per_position_acceptance_rates[2], 3.0 / 8);
  // A run that drafted nothing has no section.
  EXPECT_FALSE(spec_decode_delta(before, before));
}

TEST(BenchSpecDecode, ReportAndJsonUseVllmsLabelsAndKeys) {
  BenchRun r;
  r.mode = "serve";
  SpecDecodeStats s;
  s.acceptance_rate = 62.5;
  s.acceptance_length = 2.25;
  s.num_drafts = 8;
  s.draft_tokens = 16;
  s.accepted_tokens = 10;
  s.per_position_acceptance_rates = {0.75, 0.5};
  r.spec_decode = s;
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  print_report(f, r);
  std::fclose(f);
  const std::string text(buf, len);
  std::free(buf);
  for (const char* want : {"---------------Speculative Decoding---------------", "Acceptance rate (%):", "62.50",
                           "Acceptance length:", "2.25", "Drafts:", "Draft tokens:", "Accepted tokens:",
                           "Per-position acceptance (%):", "  Position 0:", "75.00", "  Position 1:", "50.00"})
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  const auto j = run_to_json(r);
  EXPECT_DOUBLE_EQ(j["spec_decode_acceptance_rate"].get<double>(), 62.5);
  EXPECT_DOUBLE_EQ(j["spec_decode_acceptance_length"].get<double>(), 2.25);
  EXPECT_EQ(j["spec_decode_num_drafts"].get<long long>(), 8);
  EXPECT_EQ(j["spec_decode_draft_tokens"].get<long long>(), 16);
  EXPECT_EQ(j["spec_decode_accepted_tokens"].get<long long>(), 10);
  EXPECT_EQ(j["spec_decode_per_position_acceptance_rates"].size(), 2u);
  // Without speculative decoding: neither.
  r.spec_decode.reset();
  EXPECT_FALSE(run_to_json(r).contains("spec_decode_acceptance_rate"));
}

}  // namespace
}  // namespace sable::bench
