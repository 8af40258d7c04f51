// CPU prefill and decode speed of a >= 1B-parameter preset against the
// machine's memory bandwidth, measured in the same run (issue 2).
//
//   build/bench/bench_cpu_decode [--preset small-moe] [--layers N] [--fp8]
//       [--prompt 512] [--decode 32] [--reps 3] [--bw-gib 2] [--markdown FILE]
//
// Decode is memory-bound: each token reads every active weight once
// (model->active_weight_bytes_per_token(): dense layers, the routed experts
// a token uses, shared experts, lm_head), so its floor is bytes / bandwidth.
// Bandwidth is a multi-threaded streaming read (and a copy) of a buffer far
// larger than the last-level cache, on the same thread pool as the kernels.
// Weights are dummy (random, deterministic), built in memory: they time
// exactly like real ones.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <immintrin.h>
#include <sys/resource.h>

#include "backend/backend.h"
#include "backend/cpu/gemm.h"
#include "core/thread_pool.h"
#include "model/deepseek_v3.h"
#include "model/presets.h"
#include "model/weight_source.h"
#include "runner/single_sequence.h"

using namespace sable;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// CPU seconds used by this process so far (all threads): with wall time it
// shows whether other load on the machine took cores away from a run.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

struct Stat {
  double best = 0, worst = 0;  // of the rates
  void add(double v) {
    if (best == 0 || v > best) best = v;
    if (worst == 0 || v < worst) worst = v;
  }
  std::string spread() const { return fmt::format("{:.1f}-{:.1f}", worst, best); }
};

// ---- memory bandwidth ----

// Sums 64-bit words with independent accumulators, with the widest loads
// the CPU has (as the kernels use), so that the reference is the most this
// machine reads, not a weak loop; the sum is returned so that the reads
// cannot be dropped. n is a multiple of 32; p is 64-byte aligned.
uint64_t read_sum_plain(const uint64_t* p, size_t n) {
  uint64_t a[8] = {};
  for (size_t i = 0; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) a[k] += p[i + k];
  return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

__attribute__((target("avx512f"))) uint64_t read_sum_avx512(const uint64_t* p, size_t n) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 32 <= n; i += 32) {
    a0 = _mm512_add_epi64(a0, _mm512_load_si512(p + i));
    a1 = _mm512_add_epi64(a1, _mm512_load_si512(p + i + 8));
    a2 = _mm512_add_epi64(a2, _mm512_load_si512(p + i + 16));
    a3 = _mm512_add_epi64(a3, _mm512_load_si512(p + i + 24));
  }
  return uint64_t(_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3))));
}

__attribute__((target("avx2"))) uint64_t read_sum_avx2(const uint64_t* p, size_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 16 <= n; i += 16) {
    a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
    a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
    a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
  }
  alignas(32) uint64_t v[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(v), _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
  return v[0] + v[1] + v[2] + v[3];
}

uint64_t read_sum(const uint64_t* p, size_t n) {
  static const int level = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
  return level == 2 ? read_sum_avx512(p, n) : level == 1 ? read_sum_avx2(p, n) : read_sum_plain(p, n);
}

struct Bandwidth {
  Stat read_gbs, copy_gbs;
  double read_busy = 0;  // cores the process had during the best read
};

Bandwidth measure_bandwidth(size_t bytes, int reps) {
  ThreadPool& pool = ThreadPool::global();
  const int threads = pool.size();
  const size_t words = bytes / 8 / size_t(threads) / 64 * 64;  // per thread, whole cache lines
  struct Free { void operator()(uint64_t* p) const { std::free(p); } };
  std::unique_ptr<uint64_t, Free> src(static_cast<uint64_t*>(std::aligned_alloc(4096, words * threads * 8)));
  std::unique_ptr<uint64_t, Free> dst(static_cast<uint64_t*>(std::aligned_alloc(4096, words * threads * 8 / 2)));
  // First touch on the threads that will read (pages where they run).
  pool.run_on_all([&](int t) {
    uint64_t* p = src.get() + size_t(t) * words;
    for (size_t i = 0; i < words; ++i) p[i] = i * 2654435761u + uint64_t(t);
    std::memset(dst.get() + size_t(t) * words / 2, 0, words / 2 * 8);
  });
  Bandwidth bw;
  std::vector<uint64_t> sink(static_cast<size_t>(threads));
  for (int r = 0; r < reps + 1; ++r) {
    auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    pool.run_on_all([&](int t) { sink[size_t(t)] += read_sum(src.get() + size_t(t) * words, words); });
    const double s = seconds(Clock::now() - t0), gbs = double(words) * threads * 8 / s / 1e9;
    if (r > 0 && gbs > bw.read_gbs.best) bw.read_busy = (cpu_seconds() - c0) / s;
    if (r > 0) bw.read_gbs.add(gbs);
  }
  // Copy half the buffer: bytes read + bytes written.
  for (int r = 0; r < reps + 1; ++r) {
    auto t0 = Clock::now();
    pool.run_on_all([&](int t) {
      std::memcpy(dst.get() + size_t(t) * words / 2, src.get() + size_t(t) * words, words / 2 * 8);
    });
    const double s = seconds(Clock::now() - t0);
    if (r > 0) bw.copy_gbs.add(double(words) * threads * 8 / s / 1e9);
  }
  if (sink[0] == 42) std::printf(" ");
  return bw;
}

// ---- model FLOPs ----

// Multiply-adds x 2 of one token through the layers (no lm_head), with
// `ctx` keys visible to its attention.
double flops_per_token(const ModelConfig& c, double ctx) {
  const double H = c.hidden_size, heads = c.num_attention_heads, qk = c.qk_head_dim(), L = c.kv_latent_dim();
  const double kv_lora = c.kv_lora_rank, nope = c.qk_nope_head_dim, v = c.v_head_dim;
  double per_layer_attn = 0;
  if (c.q_lora_rank) per_layer_attn += H * *c.q_lora_rank + *c.q_lora_rank * heads * qk;
  else per_layer_attn += H * heads * qk;
  per_layer_attn += H * L + heads * nope * kv_lora + heads * v * kv_lora + heads * v * H;
  per_layer_attn += heads * (L + kv_lora) * ctx;  // scores + values in the latent space
  double macs = 0;
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    macs += per_layer_attn;
    if (c.is_moe_layer(i))
      macs += H * c.n_routed_experts +
              3.0 * H * c.moe_intermediate_size * (c.num_experts_per_tok + c.n_shared_experts);
    else
      macs += 3.0 * H * c.intermediate_size;
  }
  return 2 * macs;
}

std::string shell(const std::string& cmd) {
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char buf[512];
    while (fgets(buf, sizeof buf, f)) out += buf;
    pclose(f);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string cpu_line() {
  const std::string model = shell("lscpu | sed -n 's/^Model name: *//p' | head -1");
  const std::string flags = shell("grep -m1 '^flags' /proc/cpuinfo");
  std::string have;
  for (const char* f : {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_bf16"})
    if (flags.find(std::string(" ") + f + " ") != std::string::npos || flags.size() >= strlen(f) &&
        flags.compare(flags.size() - strlen(f), strlen(f), f) == 0)
      have += std::string(have.empty() ? "" : " ") + f;
  return fmt::format("{}, {} threads, flags: {}", model.empty() ? "unknown" : model, ThreadPool::global().size(),
                     have);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CPU prefill/decode tokens/s against measured memory bandwidth"};
  std::string preset = "small-moe", markdown;
  int layers = 0, prompt = 512, decode = 32, reps = 3;
  double bw_gib = 2;
  bool fp8 = false;
  app.add_option("--preset", preset);
  app.add_option("--layers", layers, "override the preset's layer count");
  app.add_flag("--fp8", fp8, "FP8 block-scaled weights instead of bf16");
  app.add_option("--prompt", prompt, "prefill length (and decode context)");
  app.add_option("--decode", decode, "decode steps per repetition");
  app.add_option("--reps", reps, "repetitions (best and spread reported)");
  app.add_option("--bw-gib", bw_gib, "bandwidth test buffer, GiB");
  app.add_option("--markdown", markdown, "also write the results as markdown here");
  CLI11_PARSE(app, argc, argv);
  std::string command;
  for (int i = 0; i < argc; ++i) command += std::string(i ? " " : "") + argv[i];

  std::printf("CPU: %s\nkernels: %s\n", cpu_line().c_str(), cpu::gemm_kernels().name);
  std::fflush(stdout);
  // Bandwidth before and after the model runs (other load on the machine
  // drifts); the best of both is the reference.
  Bandwidth bw = measure_bandwidth(size_t(bw_gib * (1ull << 30)), reps);
  std::printf("memory bandwidth: read %.1f GB/s (%s), copy %.1f GB/s (%s)\n", bw.read_gbs.best,
              bw.read_gbs.spread().c_str(), bw.copy_gbs.best, bw.copy_gbs.spread().c_str());
  std::fflush(stdout);

  auto cfg = preset_config(preset, layers, fp8);
  if (!cfg.is_ok()) { std::fprintf(stderr, "%s\n", cfg.status().to_string().c_str()); return 1; }
  DummyWeightSource src(*cfg, 1);
  auto t_load = Clock::now();
  auto model = DeepseekV3Model::load(src, cpu_backend());
  if (!model.is_ok()) { std::fprintf(stderr, "%s\n", model.status().to_string().c_str()); return 1; }
  DeepseekV3Model& m = **model;
  const double load_s = seconds(Clock::now() - t_load);
  const size_t wbytes = m.active_weight_bytes_per_token();
  const size_t kv_per_tok = m.kv_bytes_per_token(cpu_backend().activation_dtype());
  std::printf("model: %s%s, %d layers, %.2f GB of weights (built in %.1f s), %.1f MB read per decode token\n",
              preset.c_str(), fp8 ? " fp8" : " bf16", cfg->num_hidden_layers, double(m.weight_bytes()) / 1e9, load_s,
              double(wbytes) / 1e6);
  std::fflush(stdout);

  std::vector<int32_t> ids;
  for (int i = 0; i < prompt; ++i) ids.push_back(int32_t(1000 + (i * 7919) % 100000));
  Stat prefill_tps, decode_tps;
  double prefill_busy = 0, decode_busy = 0;  // at the best repetition
  for (int r = 0; r < reps; ++r) {
    SingleSequenceRunner run(m, prompt + decode + 1);
    auto t0 = Clock::now();
    double c0 = cpu_seconds();
    auto logits = run.step(ids, false);
    const double ps = seconds(Clock::now() - t0), pc = cpu_seconds() - c0;
    if (!logits.is_ok()) { std::fprintf(stderr, "%s\n", logits.status().to_string().c_str()); return 1; }
    if (prompt / ps > prefill_tps.best) prefill_busy = pc / ps;
    prefill_tps.add(prompt / ps);
    int32_t next = 7;
    t0 = Clock::now();
    c0 = cpu_seconds();
    for (int i = 0; i < decode; ++i) {
      auto l = run.step({next}, false);
      if (!l.is_ok()) return 1;
      const float* p = l->ptr<float>();
      next = int32_t(std::max_element(p, p + cfg->vocab_size) - p);
    }
    const double ds = seconds(Clock::now() - t0), dc = cpu_seconds() - c0;
    if (decode / ds > decode_tps.best) decode_busy = dc / ds;
    decode_tps.add(decode / ds);
    std::printf("rep %d: prefill %.1f tok/s (%.2f of %d cores busy), decode %.2f tok/s (%.2f cores busy)\n", r,
                prompt / ps, pc / ps, ThreadPool::global().size(), decode / ds, dc / ds);
    std::fflush(stdout);
  }

  {
    const Bandwidth after = measure_bandwidth(size_t(bw_gib * (1ull << 30)), reps);
    std::printf("memory bandwidth after: read %.1f GB/s (%s), copy %.1f GB/s (%s)\n", after.read_gbs.best,
                after.read_gbs.spread().c_str(), after.copy_gbs.best, after.copy_gbs.spread().c_str());
    if (after.read_gbs.best > bw.read_gbs.best) bw.read_busy = after.read_busy;
    for (double v : {after.read_gbs.best, after.read_gbs.worst}) bw.read_gbs.add(v);
    for (double v : {after.copy_gbs.best, after.copy_gbs.worst}) bw.copy_gbs.add(v);
  }

  // Prefill FLOPs: every token through the layers with its causal context,
  // lm_head for the last token only.
  double prefill_flops = 2.0 * cfg->vocab_size * cfg->hidden_size;
  for (int t = 0; t < prompt; ++t) prefill_flops += flops_per_token(*cfg, t + 1);
  const double dec_gbs = double(wbytes) * decode_tps.best / 1e9;
  const double kv_ctx = double(kv_per_tok) * (prompt + decode / 2.0);

  std::ostringstream table;
  table << "| measure | value |\n|---|---|\n";
  table << fmt::format("| memory bandwidth, read (best of {} before and after, spread) | {:.1f} GB/s ({}) |\n", 2 * reps, bw.read_gbs.best,
                       bw.read_gbs.spread());
  table << fmt::format("| memory bandwidth, copy (read + write) | {:.1f} GB/s ({}) |\n", bw.copy_gbs.best,
                       bw.copy_gbs.spread());
  table << fmt::format("| weight bytes read per decode token | {:.1f} MB |\n", double(wbytes) / 1e6);
  table << fmt::format("| KV cache bytes read per decode token (context {}) | {:.1f} MB |\n", prompt,
                       kv_ctx / 1e6);
  table << fmt::format("| decode tokens/s (batch 1, best, spread) | {:.2f} ({}) |\n", decode_tps.best,
                       decode_tps.spread());
  table << fmt::format("| decode achieved bandwidth (weights x tok/s) | {:.1f} GB/s |\n", dec_gbs);
  table << fmt::format("| decode % of measured read bandwidth | {:.0f}% |\n", 100 * dec_gbs / bw.read_gbs.best);
  table << fmt::format("| decode floor (weights / read bandwidth) | {:.1f} ms/token ({:.2f} tok/s) |\n",
                       1e3 * double(wbytes) / (bw.read_gbs.best * 1e9), bw.read_gbs.best * 1e9 / double(wbytes));
  table << fmt::format("| prefill tokens/s ({} tokens, best, spread) | {:.1f} ({}) |\n", prompt, prefill_tps.best,
                       prefill_tps.spread());
  table << fmt::format("| prefill GFLOP/s | {:.1f} |\n", prefill_flops / (prompt / prefill_tps.best) / 1e9);
  table << fmt::format("| cores this process had (CPU s / wall s; of {}), best read / decode / prefill | {:.2f} / {:.2f} / {:.2f} |\n",
                       ThreadPool::global().size(), bw.read_busy, decode_busy, prefill_busy);
  std::printf("\n%s", table.str().c_str());

  if (!markdown.empty()) {
    std::ofstream f(markdown);
    f << "# CPU decode and prefill: " << preset << (fp8 ? " fp8" : " bf16") << "\n\n";
    f << "- commit: " << shell(std::string("git -C ") + SABLE_SOURCE_DIR + " rev-parse --short HEAD") << "\n";
    f << "- CPU: " << cpu_line() << "\n";
    f << "- kernels: " << cpu::gemm_kernels().name << "\n";
    f << "- command: `" << command << "`\n";
    f << "- model: " << cfg->num_hidden_layers << " layers, " << fmt::format("{:.2f}", double(m.weight_bytes()) / 1e9)
      << " GB of weights, dummy weights built in memory\n\n";
    f << table.str();
  }
  return 0;
}
