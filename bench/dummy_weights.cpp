// The dummy-weight generator (--load-format dummy) against the floor of
// writing the same bytes, on this machine's cores.
//
//   build/bench/bench_dummy_weights [--preset dsv3-slice] [--layer 1] [--experts 16] [--fp8] [--reps 2]
//
// The tensors are one layer's of the preset (by default the first MoE layer
// of the real DeepSeek-V3 shapes: attention, router, the first --experts
// routed experts and the shared expert), made by DummyWeightSource::generate
// one after another as the loader asks for them. Rows, GB a second of the
// tensors' bytes (the best of --reps passes; every tensor freed before the
// next pass, so each pass starts from fresh memory, as a load does):
// - generate: DummyWeightSource::generate, allocation included.
// - floor, parallel first touch: the same byte count allocated as the
//   generator's tensors are (mapped_host_allocator) and written with memset
//   by the pool's threads, each its part. No generator can be faster than writing its output once.
// - serial first touch: the same bytes allocated with malloc and memset by
//   one thread. Tensor::empty did this before every generate until
//   2026-12-07 (its zero fill, with cpu_allocator), in front of the parallel
//   generator.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/host_allocator.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "model/presets.h"
#include "model/tensor_specs.h"
#include "model/weight_source.h"

using namespace sable;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_dummy_weights: the dummy-weight generator against the floor of writing its bytes"};
  std::string preset = "dsv3-slice";
  int layer = 1, experts = 16, reps = 2;
  bool fp8 = false;
  app.add_option("--preset", preset, "Model preset (tiny | small-moe | dsv3-slice | dsv3)");
  app.add_option("--layer", layer, "Which layer's tensors")->check(CLI::NonNegativeNumber);
  app.add_option("--experts", experts, "Routed experts of that layer to generate")->check(CLI::NonNegativeNumber);
  app.add_flag("--fp8", fp8, "FP8 checkpoint layout (e4m3 weights and F32 block scales)");
  app.add_option("--reps", reps, "Passes; the best is printed")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  auto cfg = preset_config(preset, layer + 1, fp8);
  if (!cfg.is_ok()) {
    fmt::print(stderr, "error: {}\n", cfg.status().message());
    return 2;
  }
  DummyWeightSource src(*cfg, /*seed=*/0);
  const std::string prefix = "model.layers." + std::to_string(layer) + ".";
  std::vector<TensorSpec> specs;
  for (const auto& s : src.ordered_specs()) {
    if (s.name.rfind(prefix, 0) != 0) continue;
    const auto at = s.name.find(".experts.");
    if (at != std::string::npos && std::atoi(s.name.c_str() + at + 9) >= experts) continue;
    specs.push_back(s);
  }
  if (specs.empty()) {
    fmt::print(stderr, "error: layer {} of preset {} has no tensors\n", layer, preset);
    return 2;
  }
  size_t bytes = 0;
  int64_t values = 0;
  for (const auto& s : specs) {
    bytes += size_t(s.shape.numel()) * dtype_size(s.dtype);
    values += s.shape.numel();
  }
  ThreadPool& pool = ThreadPool::global();
  fmt::print("preset {} layer {} ({}), {} tensors, {:.2f} G values, {:.2f} GB; {} threads\n", preset, layer,
             fp8 ? "fp8" : "bf16", specs.size(), values / 1e9, bytes / 1e9, pool.size());

  double gen = 1e30, floor = 1e30, serial = 1e30;
  for (int r = 0; r < reps; ++r) {
    {
      std::vector<Tensor> out;
      const auto t0 = Clock::now();
      for (const auto& s : specs) out.push_back(src.generate(s));
      gen = std::min(gen, seconds_since(t0));
    }
    {
      std::vector<Tensor> out;
      const auto t0 = Clock::now();
      for (const auto& s : specs) {
        Tensor t = Tensor::empty(DType::U8, {int64_t(s.shape.numel() * int64_t(dtype_size(s.dtype)))},
                                 mapped_host_allocator());
        char* d = t.ptr<char>();
        pool.parallel_for(t.dim(0), 1 << 20, [d](int64_t b, int64_t e) { std::memset(d + b, 1, size_t(e - b)); });
        out.push_back(std::move(t));
      }
      floor = std::min(floor, seconds_since(t0));
    }
    {
      std::vector<void*> out;
      const auto t0 = Clock::now();
      for (const auto& s : specs) {
        const size_t n = (size_t(s.shape.numel()) * dtype_size(s.dtype) + 63) / 64 * 64;
        void* p = std::aligned_alloc(64, n);
        std::memset(p, 0, n);
        out.push_back(p);
      }
      serial = std::min(serial, seconds_since(t0));
      for (void* p : out) std::free(p);
    }
  }
  fmt::print("| pass | s | GB/s | G values/s | of floor |\n|---|---:|---:|---:|---:|\n");
  auto row = [&](const char* name, double s) {
    fmt::print("| {} | {:.3f} | {:.2f} | {:.3f} | {:.0f} % |\n", name, s, bytes / s / 1e9, values / s / 1e9,
               100 * floor / s);
  };
  row("generate", gen);
  row("floor, parallel first touch", floor);
  row("serial first touch (malloc + memset)", serial);
  return 0;
}
