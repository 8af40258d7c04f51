// The host sampler (engine/sampler.h: the CPU backend's, and the rows the
// device sampler leaves to the host) against its definition and the floor,
// at DeepSeek-V3's vocabulary, one row at a time as the engine calls it.
//
//   build/bench/bench_host_sampler [--vocab 129280] [--rows 16] [--reps 5] [--markdown FILE]
//
// Columns, microseconds a token (the best of --reps passes over --rows
// rows, each row's logits fresh):
// - sable: sample_token, with the row's processors (none here) and draw.
// - definition: what the sampler computes, done the obvious way: greedy as
//   a copy of the row and std::max_element, a random draw as a sort of
//   every candidate by probability and a walk of the cumulative sum (the
//   sampler before 2026-12-06 sorted the same way).
// - floor: one read of the row's logits (a sum), the least any sampler
//   touches; measured in the same run.
// Logits are N(0, 2) draws: the spread decides how far top-p's cut goes;
// the time of everything else does not depend on the values.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "engine/request.h"
#include "engine/sampler.h"
#include "engine/sampler_reference.h"

using namespace sable;
using Clock = std::chrono::steady_clock;

namespace {

struct Case {
  const char* name;
  float temperature, top_p, min_p;
  int top_k;
};

// The definition, the obvious way (the peer column): greedy as a copy of
// the row and std::max_element, a random draw as engine/sampler_reference.h.
int32_t definition(const std::vector<float>& raw, const SamplingParams& p, double u) {
  if (p.temperature == 0.f) {
    std::vector<float> x = raw;  // the processed copy a sampler makes
    return int32_t(std::max_element(x.begin(), x.end()) - x.begin());
  }
  return reference_draw(raw, p, u);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Host sampler: sample_token against its definition and a read of the row"};
  int64_t V = 129280;
  int rows = 16, reps = 5;
  std::string markdown;
  app.add_option("--vocab", V, "Logits a row")->check(CLI::Range(int64_t(2), int64_t(1) << 24));
  app.add_option("--rows", rows, "Rows a pass (each with its own logits)")->check(CLI::Range(1, 4096));
  app.add_option("--reps", reps, "Passes; the best is reported")->check(CLI::Range(1, 1000));
  app.add_option("--markdown", markdown, "Also write the table to this file");
  std::string only;
  bool no_definition = false;
  app.add_option("--only", only, "Only the cases whose name contains this (for a profiler)");
  app.add_flag("--no-definition", no_definition, "Skip the definition's column (for a profiler)");
  CLI11_PARSE(app, argc, argv);

  std::mt19937 rng(5);
  std::normal_distribution<float> n(0.f, 2.f);
  std::vector<std::vector<float>> logits(static_cast<size_t>(rows), std::vector<float>(static_cast<size_t>(V)));
  for (auto& row : logits)
    for (float& v : row) v = n(rng);

  // Best microseconds a row of f over the rows, over reps passes.
  auto time = [&](auto&& f) {
    double best = 1e300;
    for (int r = 0; r < reps; ++r) {
      const auto t0 = Clock::now();
      for (int i = 0; i < rows; ++i) f(i);
      best = std::min(best, std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / rows);
    }
    return best;
  };
  volatile double sink = 0;
  // The floor: a sum in 16 independent lanes (the compiler vectorizes it;
  // one running sum would time the adds' latency, not the read).
  const double floor_us = time([&](int i) {
    const float* x = logits[size_t(i)].data();
    float acc[16] = {};
    int64_t k = 0;
    for (; k + 16 <= V; k += 16)
      for (int j = 0; j < 16; ++j) acc[j] += x[k + j];
    for (; k < V; ++k) acc[0] += x[k];
    sink = sink + std::accumulate(acc, acc + 16, 0.0);
  });

  const Case cases[] = {
      {"greedy", 0.f, 1.f, 0.f, 0},
      {"T=0.8", 0.8f, 1.f, 0.f, 0},
      {"T=0.8 top-p 0.9", 0.8f, 0.9f, 0.f, 0},
      {"T=0.8 top-k 50", 0.8f, 1.f, 0.f, 50},
      {"T=0.8 top-k 50 top-p 0.9", 0.8f, 0.9f, 0.f, 50},
      {"T=1 min-p 0.05", 1.f, 1.f, 0.05f, 0},
  };
  std::string table = fmt::format(
      "host sampler, vocabulary {}, {} rows, best of {} (us a token)\n\n"
      "| case | sable | definition (sort) | floor (a read of the row) | sable / floor | definition / sable |\n"
      "|---|---:|---:|---:|---:|---:|\n",
      V, rows, reps);
  std::vector<int32_t> tokens{1, 2, 3, 4};  // 2 prompt + 2 generated
  for (const Case& c : cases) {
    if (std::string(c.name).find(only) == std::string::npos) continue;
    SamplingParams p;
    p.temperature = c.temperature;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    p.top_k = c.top_k;
    int64_t check = 0;
    const double sable_us = time([&](int i) {
      SamplerRow row{&p, uint64_t(i + 1), 0, &tokens, 2, std::nullopt};
      check += sample_token(logits[size_t(i)].data(), V, row).token;
    });
    const double def_us = no_definition ? 0.0 : time([&](int i) { check += definition(logits[size_t(i)], p, 0.5); });
    sink = sink + double(check);
    table += fmt::format("| {} | {:.1f} | {:.1f} | {:.1f} | {:.1f}x | {:.1f}x |\n", c.name, sable_us, def_us, floor_us,
                         sable_us / floor_us, def_us / sable_us);
  }
  std::fputs(table.c_str(), stdout);
  if (!markdown.empty()) std::ofstream(markdown) << table;
  return 0;
}
