// The benchmark's statistics must mean what `vllm bench serve` means: the
// expected values below are numpy's and vLLM's calculate_metrics' answers
// for the same inputs, worked by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "bench/stats.h"

namespace sable::bench {
namespace {

RequestResult req(double start, double ttft, double latency, int out, std::vector<double> itl = {}, int in = 10) {
  RequestResult r;
  r.success = true;
  r.start_time = start;
  r.ttft = ttft;
  r.latency = latency;
  r.output_tokens = out;
  r.prompt_len = in;
  r.itl = std::move(itl);
  return r;
}

TEST(BenchPercentile, MatchesNumpyLinear) {
  // numpy.percentile([4, 1, 3, 2], p)
  std::vector<double> v = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(percentile(v, 50), 2.5);
  EXPECT_NEAR(percentile(v, 90), 3.7, 1e-12);
  EXPECT_NEAR(percentile(v, 99), 3.97, 1e-12);
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(percentile(v, 100), 4);
  EXPECT_DOUBLE_EQ(percentile({7}, 99), 7);
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0);  // vLLM: np.percentile(x or 0, p)
}

TEST(BenchSummary, MeanMedianPopulationStdInMs) {
  Summary s = summarize({0.001, 0.002, 0.003, 0.004}, {50, 90, 99});
  EXPECT_NEAR(s.mean_ms, 2.5, 1e-9);
  EXPECT_NEAR(s.median_ms, 2.5, 1e-9);
  EXPECT_NEAR(s.std_ms, std::sqrt(1.25), 1e-9);  // ddof = 0
  ASSERT_EQ(s.percentiles_ms.size(), 3u);
  EXPECT_NEAR(s.percentile(90), 3.7, 1e-9);
  EXPECT_NEAR(s.percentile(99), 3.97, 1e-9);
  EXPECT_TRUE(std::isnan(s.percentile(75)));
  Summary e = summarize({}, {99});
  EXPECT_EQ(e.mean_ms, 0);
  EXPECT_EQ(e.percentile(99), 0);
}

TEST(BenchTpot, ExcludesTheFirstToken) {
  // 10 tokens: the first at 100 ms, the last at 1000 ms: 9 gaps of 100 ms.
  EXPECT_NEAR(*request_tpot(req(0, 0.1, 1.0, 10)), 0.1, 1e-12);
  EXPECT_FALSE(request_tpot(req(0, 0.1, 0.1, 1)).has_value());
  RequestResult failed = req(0, 0.1, 1.0, 10);
  failed.success = false;
  EXPECT_FALSE(request_tpot(failed).has_value());
}

TEST(BenchMetrics, TotalsThroughputsAndPooledItl) {
  std::vector<RequestResult> rs = {req(0.0, 0.1, 1.0, 10, {0.1, 0.2, 0.3}, 100),
                                   req(0.5, 0.3, 0.3, 1, {}, 50)};
  RequestResult bad;
  bad.prompt_len = 999;
  bad.error = "HTTP 500";
  rs.push_back(bad);
  BenchMetrics m = compute_metrics(rs, 2.0, {}, {50, 99});
  EXPECT_EQ(m.completed, 2);
  EXPECT_EQ(m.failed, 1);
  EXPECT_EQ(m.total_input, 150);  // failed requests' prompts are not counted
  EXPECT_EQ(m.total_output, 11);
  EXPECT_DOUBLE_EQ(m.request_throughput, 1.0);
  EXPECT_DOUBLE_EQ(m.output_throughput, 5.5);
  EXPECT_DOUBLE_EQ(m.total_token_throughput, 80.5);
  EXPECT_FALSE(m.request_goodput.has_value());
  EXPECT_EQ(m.ttft.count, 2u);
  EXPECT_NEAR(m.ttft.mean_ms, 200, 1e-9);
  EXPECT_EQ(m.tpot.count, 1u);  // the one-token request has no TPOT
  EXPECT_NEAR(m.tpot.mean_ms, 100, 1e-9);
  EXPECT_EQ(m.itl.count, 3u);
  EXPECT_NEAR(m.itl.median_ms, 200, 1e-9);
  EXPECT_NEAR(m.e2el.mean_ms, 650, 1e-9);
  // Peak second: the first request's tokens at 0.1, 0.2, 0.4, 0.7 s and the
  // second's at 0.8 s all fall in second 0.
  EXPECT_DOUBLE_EQ(m.max_output_tokens_per_s, 5);
  EXPECT_EQ(m.max_concurrent_requests, 2);
}

TEST(BenchGoodput, EverySloMustHoldAndOneTokenTpotIsZero) {
  std::vector<RequestResult> rs = {
      req(0, 0.100, 1.000, 10),  // ttft 100 ms, tpot 100 ms: meets both (<=)
      req(0, 0.200, 1.100, 10),  // ttft 200 ms: misses the TTFT SLO
      req(0, 0.100, 2.000, 10),  // tpot ~211 ms: misses the TPOT SLO
      req(0, 0.150, 0.150, 1),   // one token: TPOT counts as 0
  };
  auto slo = parse_slo("ttft=150,tpot=100");
  ASSERT_TRUE(slo.is_ok());
  EXPECT_TRUE(meets_slo(rs[0], *slo));
  EXPECT_FALSE(meets_slo(rs[1], *slo));
  EXPECT_FALSE(meets_slo(rs[2], *slo));
  EXPECT_TRUE(meets_slo(rs[3], *slo));
  BenchMetrics m = compute_metrics(rs, 4.0, *slo, {99});
  ASSERT_TRUE(m.request_goodput.has_value());
  EXPECT_DOUBLE_EQ(*m.request_goodput, 0.5);
  EXPECT_DOUBLE_EQ(m.request_throughput, 1.0);
  // An E2E SLO alone.
  auto e2e = parse_slo("e2el=1050");
  ASSERT_TRUE(e2e.is_ok());
  EXPECT_DOUBLE_EQ(*compute_metrics(rs, 4.0, *e2e, {99}).request_goodput, 0.5);
}

TEST(BenchSlo, ParsesBothSpellingsAndRejectsJunk) {
  auto a = parse_slo("ttft=500,tpot=50");
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(*a->ttft_ms, 500);
  EXPECT_EQ(*a->tpot_ms, 50);
  EXPECT_FALSE(a->e2el_ms.has_value());
  auto b = parse_slo("ttft:500 e2el:2000");  // vLLM's --goodput form
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(*b->e2el_ms, 2000);
  EXPECT_EQ(b->to_string(), "ttft=500,e2el=2000");
  EXPECT_FALSE(parse_slo("ttft").is_ok());
  EXPECT_FALSE(parse_slo("latency=5").is_ok());
  EXPECT_FALSE(parse_slo("ttft=fast").is_ok());
  EXPECT_TRUE(parse_slo("").is_ok());
  EXPECT_TRUE(parse_slo("")->empty());
}

TEST(BenchArrivals, InfiniteRateSendsAllAtOnce) {
  for (double t : arrival_times(5, std::numeric_limits<double>::infinity(), 1.0, 0)) EXPECT_EQ(t, 0);
  EXPECT_EQ(arrival_times(0, 10, 1, 0).size(), 0u);
}

TEST(BenchArrivals, PoissonScaledToTheNominalDuration) {
  auto a = arrival_times(1000, 10.0, 1.0, 42);
  ASSERT_EQ(a.size(), 1000u);
  EXPECT_NEAR(a.back(), 100.0, 1e-9);  // n / rate exactly
  for (size_t i = 1; i < a.size(); ++i) EXPECT_GE(a[i], a[i - 1]);
  // Exponential gaps: std of the gaps close to their mean.
  double mean = a.back() / 1000, var = 0, prev = 0;
  for (double t : a) {
    var += (t - prev - mean) * (t - prev - mean);
    prev = t;
  }
  EXPECT_NEAR(std::sqrt(var / 1000) / mean, 1.0, 0.15);
  EXPECT_EQ(arrival_times(1000, 10.0, 1.0, 42), a);  // seeded
  EXPECT_NE(arrival_times(1000, 10.0, 1.0, 43), a);
  // Burstiness -> inf: evenly spaced.
  auto even = arrival_times(4, 2.0, std::numeric_limits<double>::infinity(), 0);
  EXPECT_EQ(even, (std::vector<double>{0.5, 1.0, 1.5, 2.0}));
}

TEST(BenchLists, ParseSweepsAndRates) {
  auto c = parse_int_list("1,2, 4,8");
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(*c, (std::vector<int>{1, 2, 4, 8}));
  EXPECT_FALSE(parse_int_list("1,x").is_ok());
  EXPECT_FALSE(parse_int_list("").is_ok());
  auto r = parse_double_list("inf,2.5");
  ASSERT_TRUE(r.is_ok());
  EXPECT_TRUE(std::isinf((*r)[0]));
  EXPECT_EQ((*r)[1], 2.5);
}

}  // namespace
}  // namespace sable::bench
