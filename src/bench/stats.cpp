#include "bench/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

namespace sable::bench {

double Summary::percentile(double p) const {
  for (const auto& [q, v] : percentiles_ms)
    if (q == p) return v;
  return std::numeric_limits<double>::quiet_NaN();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // numpy's "linear" method: the rank p/100 * (n-1), interpolated.
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * double(v.size() - 1);
  const size_t lo = size_t(std::floor(rank));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  const double frac = rank - double(lo);
  return v[lo] + (v[hi] - v[lo]) * frac;
}

Summary summarize(const std::vector<double>& values_s, const std::vector<double>& percentiles) {
  Summary s;
  s.count = values_s.size();
  if (!values_s.empty()) {
    const double n = double(values_s.size());
    const double mean = std::accumulate(values_s.begin(), values_s.end(), 0.0) / n;
    double var = 0;
    for (double x : values_s) var += (x - mean) * (x - mean);
    s.mean_ms = mean * 1e3;
    s.std_ms = std::sqrt(var / n) * 1e3;
    s.median_ms = percentile(values_s, 50) * 1e3;
  }
  for (double p : percentiles) s.percentiles_ms.emplace_back(p, percentile(values_s, p) * 1e3);
  return s;
}

std::optional<double> request_tpot(const RequestResult& r) {
  if (!r.success || r.output_tokens <= 1) return std::nullopt;
  return (r.latency - r.ttft) / double(r.output_tokens - 1);
}

bool meets_slo(const RequestResult& r, const SloConfig& slo) {
  if (!r.success) return false;
  // vLLM compares with <= and takes the TPOT of a one-token request as 0.
  if (slo.ttft_ms && r.ttft * 1e3 > *slo.ttft_ms) return false;
  if (slo.tpot_ms && request_tpot(r).value_or(0.0) * 1e3 > *slo.tpot_ms) return false;
  if (slo.e2el_ms && r.latency * 1e3 > *slo.e2el_ms) return false;
  return true;
}

std::string SloConfig::to_string() const {
  std::ostringstream o;
  const char* sep = "";
  auto add = [&](const char* k, const std::optional<double>& v) {
    if (v) { o << sep << k << "=" << *v; sep = ","; }
  };
  add("ttft", ttft_ms);
  add("tpot", tpot_ms);
  add("e2el", e2el_ms);
  return o.str();
}

Result<SloConfig> parse_slo(const std::string& spec) {
  SloConfig slo;
  std::string s = spec;
  for (char& c : s) if (c == ' ') c = ',';
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    const size_t eq = item.find_first_of("=:");
    if (eq == std::string::npos) return invalid_argument("--slo: '" + item + "' is not NAME=MS");
    const std::string key = item.substr(0, eq), val = item.substr(eq + 1);
    char* end = nullptr;
    const double ms = std::strtod(val.c_str(), &end);
    if (val.empty() || *end != '\0' || !(ms >= 0))
      return invalid_argument("--slo: '" + val + "' is not a number of ms");
    if (key == "ttft") slo.ttft_ms = ms;
    else if (key == "tpot") slo.tpot_ms = ms;
    else if (key == "e2el") slo.e2el_ms = ms;
    else return invalid_argument("--slo: unknown metric '" + key + "' (ttft, tpot, e2el)");
  }
  return slo;
}

BenchMetrics compute_metrics(const std::vector<RequestResult>& results, double duration_s, const SloConfig& slo,
                             const std::vector<double>& percentiles) {
  BenchMetrics m;
  m.duration_s = duration_s;
  std::vector<double> ttfts, tpots, itls, e2els;
  int good = 0;
  for (const RequestResult& r : results) {
    if (!r.success) {
      ++m.failed;
      continue;
    }
    ++m.completed;
    m.total_input += r.prompt_len;
    m.total_input_server += r.server_prompt_tokens;
    m.total_output += r.output_tokens;
    ttfts.push_back(r.ttft);
    e2els.push_back(r.latency);
    itls.insert(itls.end(), r.itl.begin(), r.itl.end());
    if (auto t = request_tpot(r)) tpots.push_back(*t);
    if (!slo.empty() && meets_slo(r, slo)) ++good;
  }
  const double d = duration_s > 0 ? duration_s : std::numeric_limits<double>::infinity();
  m.request_throughput = m.completed / d;
  if (!slo.empty()) m.request_goodput = good / d;
  m.output_throughput = double(m.total_output) / d;
  m.total_token_throughput = double(m.total_input + m.total_output) / d;
  m.ttft = summarize(ttfts, percentiles);
  m.tpot = summarize(tpots, percentiles);
  m.itl = summarize(itls, percentiles);
  m.e2el = summarize(e2els, percentiles);

  // Peak second: token chunks bucketed by the whole second they arrived in,
  // counted from the first successful request's start (vLLM's buckets).
  double t0 = std::numeric_limits<double>::infinity(), t1 = 0;
  for (const RequestResult& r : results)
    if (r.success) {
      t0 = std::min(t0, r.start_time);
      t1 = std::max(t1, r.start_time + r.latency);
    }
  if (m.completed > 0) {
    const size_t nb = size_t(std::ceil(t1 - t0)) + 1;
    std::vector<double> tokens(nb, 0);
    std::vector<int> alive(nb, 0);
    for (const RequestResult& r : results) {
      if (!r.success) continue;
      double t = r.start_time + r.ttft;
      auto add = [&](double at) {
        const double b = std::floor(at - t0);
        if (b >= 0 && size_t(b) < nb) tokens[size_t(b)] += 1;
      };
      add(t);
      for (double g : r.itl) add(t += g);
      const size_t s0 = size_t(std::max(0.0, std::floor(r.start_time - t0)));
      const size_t s1 = std::min(nb - 1, size_t(std::max(0.0, std::floor(r.start_time + r.latency - t0))));
      for (size_t s = s0; s <= s1; ++s) ++alive[s];
    }
    m.max_output_tokens_per_s = *std::max_element(tokens.begin(), tokens.end());
    m.max_concurrent_requests = *std::max_element(alive.begin(), alive.end());
  }
  return m;
}

std::vector<double> arrival_times(int n, double rate, double burstiness, uint64_t seed) {
  std::vector<double> t(size_t(std::max(n, 0)), 0.0);
  if (n <= 0 || !(rate > 0) || std::isinf(rate)) return t;
  std::mt19937_64 gen(seed);
  if (std::isinf(burstiness) || !(burstiness > 0)) {
    for (int i = 0; i < n; ++i) t[size_t(i)] = double(i + 1) / rate;
    return t;
  }
  std::gamma_distribution<double> gap(burstiness, 1.0 / (rate * burstiness));
  double acc = 0;
  for (int i = 0; i < n; ++i) t[size_t(i)] = acc += gap(gen);
  const double scale = (double(n) / rate) / t.back();
  for (double& x : t) x *= scale;
  return t;
}

namespace {
template <typename T, typename Parse>
Result<std::vector<T>> parse_list(const std::string& s, Parse parse) {
  std::vector<T> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) continue;
    char* end = nullptr;
    T v = parse(item, &end);
    if (*end != '\0') return invalid_argument("'" + item + "' is not a number");
    out.push_back(v);
  }
  if (out.empty()) return invalid_argument("empty list");
  return out;
}
}  // namespace

Result<std::vector<int>> parse_int_list(const std::string& s) {
  return parse_list<int>(s, [](const std::string& x, char** e) { return int(std::strtol(x.c_str(), e, 10)); });
}

Result<std::vector<double>> parse_double_list(const std::string& s) {
  // strtod reads "inf" too (an unlimited request rate).
  return parse_list<double>(s, [](const std::string& x, char** e) { return std::strtod(x.c_str(), e); });
}

}  // namespace sable::bench
