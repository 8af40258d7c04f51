// End-to-end model timing on the GPU for a DeepSeek-V3 slice (the real
// layer shapes, fewer layers) with random weights built from the config
// (--load-format dummy): decode step time at several batch sizes against the
// memory floor (bytes of weights and KV read, over the device-to-device copy
// bandwidth measured in the same run), and prefill tokens/s against the
// FLOP count. Prints a markdown table; --json writes one line per figure.
// --speculative K,...: the cost of a speculative decoding step with k MTP
// drafts a sequence (verify k + 1 tokens, then the MTP module over them and
// its chain of drafts) beside the plain decode step of the same batch, with
// the break-even tokens a step and the speedup at given draft acceptance.
// --graph-memory SEQS:LEN[:RULE],...: instead of the timings, one model
// runner a configuration (--max-num-seqs SEQS, --max-model-len LEN, the CUDA
// knob mla-graph-splits at RULE, default 1), each capturing its decode
// graphs into a pool of its own: their measured device memory beside the
// memory planner's estimate (the first runner also sets up library state).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <numeric>
#include <set>
#include <sstream>

#include "backend/device_select.h"
#include "core/logging.h"
#include "model/deepseek_v3.h"
#include "model/presets.h"
#include "model/weight_source.h"
#include "runner/model_runner.h"
#include "speculative_step.h"
#include "step_timer.h"

#ifdef SABLE_HAVE_CUDA
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

#include "backend/cuda/knobs.h"
#endif

namespace sable {
namespace {

using Clock = std::chrono::steady_clock;

// printf onto the end of a string.
template <typename... A>
void appendf(std::string& s, const char* fmt, A... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  s += buf;
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::stoi(item));
  return v;
}

#ifdef SABLE_HAVE_CUDA
// Device-to-device copy bandwidth (bytes read + written per second).
double measure_copy_bandwidth() {
  const size_t bytes = size_t(4) << 30;
  void *a = nullptr, *b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0;
  cudaMemset(a, 1, bytes);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  for (int i = 0; i < 3; ++i) cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
  std::vector<float> ms;
  for (int i = 0; i < 10; ++i) {
    cudaEventRecord(e0);
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float t = 0;
    cudaEventElapsedTime(&t, e0, e1);
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  cudaFree(a);
  cudaFree(b);
  return 2.0 * double(bytes) / (double(ms[ms.size() / 2]) * 1e-3);
}
#endif

// Expected number of distinct experts hit by B tokens each choosing k of E
// uniformly; printed beside the count the step actually routes to, which
// the floor uses.
double expected_distinct_experts(int E, int k, int B) {
  return E * (1.0 - std::pow(1.0 - double(k) / E, B));
}

// --graph-memory: each configuration's runner, kept alive so that no two
// share graph memory.
int measure_graph_memory(DeepseekV3Model& model, const std::string& spec, int bs, DType kv_dt) {
  std::printf(
      "| max-num-seqs | max-model-len | mla-graph-splits | graphs | measured GiB | planned GiB | planned / measured "
      "|\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|\n");
  std::vector<std::unique_ptr<ModelRunner>> runners;
  std::stringstream ss(spec);
  for (std::string item; std::getline(ss, item, ',');) {
    int seqs = 0, len = 0, rule = 1;
    if (std::sscanf(item.c_str(), "%d:%d:%d", &seqs, &len, &rule) < 2 || seqs < 1 || len < 2) {
      std::fprintf(stderr, "--graph-memory: '%s' is not SEQS:LEN[:RULE]\n", item.c_str());
      return 2;
    }
#ifdef SABLE_HAVE_CUDA
    if (!cuda::set_knob("mla-graph-splits", rule)) {
      std::fprintf(stderr, "--graph-memory: mla-graph-splits takes 0 or 1, not %d\n", rule);
      return 2;
    }
#endif
    KvPoolOptions po;
    po.block_size = bs;
    po.num_blocks = 64;  // the graphs' memory does not depend on the cache's size
    po.dtype = kv_dt;
    po.max_num_seqs = seqs;
    po.max_num_batched_tokens = 8192;
    po.max_model_len = len;
    runners.push_back(std::make_unique<ModelRunner>(model, po));
    const ModelRunner& r = *runners.back();
    const double m = double(r.graph_memory_bytes()) / double(1 << 30);
    const double p = double(r.graph_memory_planned_bytes()) / double(1 << 30);
    std::printf("| %d | %d | %d | %d | %.3f | %.3f | %.2f |\n", seqs, len, rule, r.num_graphs(), m, p,
                m > 0 ? p / m : 0.0);
    std::fflush(stdout);
  }
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{"End-to-end GPU timing on a DeepSeek-V3 slice"};
  std::string preset = "dsv3-slice", batches = "1,8,32,128", prefills = "4096,32768", json_path;
  int layers = 0, context = 512, iters = 10;
  bool fp8 = false, eager = false, profile = false;
  int tp = 1;
  bool ep = false;
  std::string device = "cuda", mla_prefill = "absorbed,expanded", kv_cache_dtype = "auto";
  std::string speculative;  // draft counts k for the speculative table ("" : none)
  app.add_option("--preset", preset);
  app.add_option("--mla-prefill", mla_prefill, "MLA prefill forms to time: absorbed, expanded, auto (comma list)");
  std::string mla_chunk_keys = "4096";
  app.add_option("--mla-chunk-keys", mla_chunk_keys,
                 "Keys up-projected per chunk in the expanded form (comma list: each is timed)");
  app.add_option("--layers", layers, "Layers (default: the preset's; dsv3-slice has 4)");
  app.add_flag("--fp8", fp8, "FP8 block-scaled weights (quantized at load)");
  std::string graph_memory;
  app.add_option("--graph-memory", graph_memory,
                 "SEQS:LEN[:RULE],...: measure each configuration's CUDA graph memory against the plan, then exit");
  app.add_option("--batches", batches);
  app.add_option("--context", context, "Tokens of context per sequence for decode");
  app.add_option("--kv-cache-dtype", kv_cache_dtype, "auto (the activations' dtype) | fp8 (e4m3 latent cache)")
      ->check(CLI::IsMember({"auto", "fp8"}));
  app.add_option("--prefill", prefills, "Prompt lengths for prefill (0: skip)");
  app.add_option("--iters", iters);
  app.add_option("--device", device);
  app.add_option("--tensor-parallel-size", tp,
                 "Ranks (GPUs) the model is split over; the floor is one rank's bytes at one GPU's copy bandwidth. "
                 "On CUDA needs SABLE_CUDA_TENSOR_PARALLEL=1 until validated");
  app.add_flag("--enable-expert-parallel", ep,
               "With --tensor-parallel-size: routed experts whole on the ranks; the floor is rank 0's (its "
               "experts the batch touches)");
  app.add_option("--json", json_path);
  app.add_flag("--enforce-eager", eager, "Decode without CUDA graphs");
  std::vector<std::string> abs;
  int ab_rounds = 3;
  app.add_option("--ab", abs,
                 "NAME=V1,V2[,...]: one model runner (graph set) per value of a runtime knob of the CUDA backend "
                 "(backend/cuda/knobs.h), timed in alternation in this process (decode and prefill). Repeatable: each "
                 "knob's first value is its baseline, set while another knob's values are timed");
  app.add_option("--ab-rounds", ab_rounds,
                 "Alternations of the --ab values per decode batch or prefill length (the median is reported)");
  app.add_option("--speculative", speculative,
                 "Drafts k a sequence (comma list; 0: the speculative runner's eager step without drafts): time "
                 "MTP speculative decoding steps (loads the MTP layer) beside the plain decode step");
  app.add_flag("--profile", profile,
               "After timing each decode batch, run one more step between cudaProfilerStart/Stop "
               "(for `ncu --profile-from-start off`: the kernels of exactly one step)");
  CLI11_PARSE(app, argc, argv);
  // --ab: the variants, one (knob, value) each, in the order given; each
  // knob's first value is its baseline (no --ab: one runner, nothing set).
  struct Variant {
    std::string name;
    int value;
  };
  std::vector<Variant> ab_variants, ab_baselines;
  for (const std::string& ab : abs) {
    const size_t eq = ab.find('=');
    const std::string name = ab.substr(0, eq);
    const std::vector<int> values = eq != std::string::npos ? parse_list(ab.substr(eq + 1)) : std::vector<int>{};
#ifdef SABLE_HAVE_CUDA
    bool ok = values.size() >= 2 && device == "cuda";
    for (int v : values) ok = ok && cuda::set_knob(name, v);
    for (const Variant& b : ab_baselines) ok = ok && b.name != name;
    if (!ok) {
      std::fprintf(stderr,
                   "--ab %s: want NAME=V1,V2[,...] (each NAME once) with the CUDA device and one of these knobs:\n",
                   ab.c_str());
      for (const std::string& h : cuda::knob_help()) std::fprintf(stderr, "  %s\n", h.c_str());
      return 2;
    }
#else
    std::fprintf(stderr, "--ab needs a CUDA build\n");
    return 2;
#endif
    ab_baselines.push_back({name, values[0]});
    for (int v : values) ab_variants.push_back({name, v});
  }
  auto set_variant = [&](size_t i) {
#ifdef SABLE_HAVE_CUDA
    if (ab_variants.empty()) return;
    for (const Variant& b : ab_baselines) (void)cuda::set_knob(b.name, b.value);
    (void)cuda::set_knob(ab_variants[i].name, ab_variants[i].value);
#else
    (void)i;
#endif
  };
  const size_t variants = ab_variants.empty() ? 1 : ab_variants.size();
  // Per --ab value, the median over the rounds of time_value(v) (the values
  // alternated; without --ab one value, one round); leaves the baseline set.
  auto ab_medians = [&](const std::function<double(size_t)>& time_value) {
    std::vector<std::vector<double>> rounds(variants);
    for (int r = 0; r < (variants > 1 ? ab_rounds : 1); ++r)
      for (size_t v = 0; v < variants; ++v) {
        set_variant(v);
        rounds[v].push_back(time_value(v));
      }
    set_variant(0);
    std::vector<double> med(variants);
    for (size_t v = 0; v < variants; ++v) {
      std::sort(rounds[v].begin(), rounds[v].end());
      med[v] = rounds[v][rounds[v].size() / 2];
    }
    return med;
  };
  // A table's header: the lead columns (lead_align their alignment row), one
  // time column (ms_name, or one per --ab value), then tail_cols columns.
  auto print_header = [&](const char* lead, const char* lead_align, const char* ms_name, const std::string& tail,
                          int tail_cols) {
    std::printf("%s", lead);
    if (variants > 1)
      for (const Variant& v : ab_variants) std::printf(" %s=%d ms |", v.name.c_str(), v.value);
    else
      std::printf(" %s |", ms_name);
    std::printf("%s\n%s", tail.c_str(), lead_align);
    for (size_t v = 0; v < variants + size_t(tail_cols); ++v) std::printf("---:|");
    std::printf("\n");
  };
  const std::string of_first = variants > 1 ? " (first value)" : "";

  auto cfg = preset_config(preset, layers, false);
  if (!cfg.is_ok()) { std::fprintf(stderr, "%s\n", cfg.status().message().c_str()); return 2; }
  BackendOptions bo;
  bo.quantize_fp8 = fp8;
  auto be_r = select_backend_by_name(device, bo);
  if (!be_r.is_ok()) { std::fprintf(stderr, "%s\n", be_r.status().message().c_str()); return 2; }
  Backend& be = **be_r;

  double copy_bw = 0;
#ifdef SABLE_HAVE_CUDA
  if (be.device() == Device::kCUDA) copy_bw = measure_copy_bandwidth();
#endif
  const std::vector<int> spec_ks = speculative.empty() ? std::vector<int>{} : parse_list(speculative);
  if (!spec_ks.empty()) cfg->num_nextn_predict_layers = std::max(cfg->num_nextn_predict_layers, 1);
  DummyWeightSource src(*cfg, 1234, /*include_mtp=*/!spec_ks.empty());
  auto t0 = Clock::now();
  LoadOptions lo;
  lo.load_mtp = !spec_ks.empty();
  lo.quantize_fp8 = fp8 && !quantizes_at_prepare(be);
  lo.backend_quantizes_fp8 = fp8 && quantizes_at_prepare(be);
  lo.tensor_parallel_size = tp;
  lo.expert_parallel = ep;
  auto model_r = DeepseekV3Model::load(src, be, lo);
  if (!model_r.is_ok()) { std::fprintf(stderr, "%s\n", model_r.status().message().c_str()); return 1; }
  DeepseekV3Model& model = **model_r;
  const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const ModelConfig& c = model.config();
  std::printf(
      "# %s, %d layers (%d MoE), %s weights, %s KV cache: %.1f GB on %s%s, built in %.0f s (%.0f s generating, %.0f s "
      "in the backend's uploads and preparation); copy "
      "bandwidth %.0f GB/s\n\n",
      preset.c_str(), c.num_hidden_layers, c.num_hidden_layers - c.first_k_dense_replace, fp8 ? "FP8" : "BF16",
      kv_cache_dtype == "fp8" ? "FP8" : "BF16", double(model.weight_bytes()) / 1e9, be.name().c_str(),
      tp > 1 ? (" rank 0 of " + std::to_string(tp)).c_str() : "", load_s, model.load_source_seconds(),
      model.load_prepare_seconds(), copy_bw / 1e9);

  // Bytes of weights a decode step reads: everything but the routed experts,
  // plus the distinct experts the batch touches.
  const size_t active1 = model.active_weight_bytes_per_token();
  const int moe_layers = c.num_hidden_layers - c.first_k_dense_replace;
  // One rank's part of an expert under tensor parallelism; a whole one under
  // expert parallelism, where a token's top_k spread over the ranks.
  const bool whole_experts = ep && tp > 1;
  const double expert_bytes =
      double(3 * c.hidden_size * c.moe_intermediate_size / (whole_experts ? 1 : tp)) * (fp8 ? 1.0 : 2.0);
  const double routed_per_token = whole_experts ? double(c.num_experts_per_tok) / tp : c.num_experts_per_tok;
  const double non_expert = double(active1) - moe_layers * routed_per_token * expert_bytes;
  const DType kv_dt = kv_cache_dtype == "fp8" ? DType::F8_E4M3 : be.activation_dtype();
  std::ofstream json;
  if (!json_path.empty()) json.open(json_path, std::ios::app);

  const int bs = 64;
  if (!graph_memory.empty()) return measure_graph_memory(model, graph_memory, bs, kv_dt);
  // Decode through the model runner, as the engine runs it: CUDA graphs
  // captured at start for the batch sizes (unless --enforce-eager).
  const std::vector<int> batch_list = parse_list(batches);
  const int max_batch = *std::max_element(batch_list.begin(), batch_list.end());
  const int blocks_per_seq = (context + 1 + bs - 1) / bs;
  KvPoolOptions po;
  po.block_size = bs;
  po.num_blocks = max_batch * blocks_per_seq;
  po.dtype = kv_dt;
  po.max_num_seqs = max_batch;
  po.max_num_batched_tokens = 2048;
  po.max_model_len = std::max(context + 1, 4096);
  po.enforce_eager = eager;
  auto tc = Clock::now();
  // One runner per --ab value, each capturing its graphs with the knob set
  // (they share the model's weights; each has its own KV pool).
  std::vector<std::unique_ptr<ModelRunner>> runners;
  for (size_t v = 0; v < variants; ++v) {
    set_variant(v);
    runners.push_back(std::make_unique<ModelRunner>(model, po));
  }
  ModelRunner& runner = *runners[0];
  std::printf(
      "decode: %s (%d graphs, captured in %.1f s, %.2f GiB of device memory, planned %.2f%s)\n\n",
      runner.num_graphs() ? "CUDA graphs" : "eager", runner.num_graphs(),
      std::chrono::duration<double>(Clock::now() - tc).count(), double(runner.graph_memory_bytes()) / double(1 << 30),
      double(runner.graph_memory_planned_bytes()) / double(1 << 30), variants > 1 ? ", one set per --ab value" : "");
  if (variants > 1) {
    std::printf(
        "A/B in one process (%zu variants, each knob's first value its baseline): %d rounds, the variants "
        "alternated; median of the rounds' medians\n\n",
        variants, ab_rounds);
  }
  print_header(
      "| decode batch | context |", "|---:|---:|", "step ms",
      " experts routed per MoE layer (uniform) | weights+KV GB read | floor ms | step / floor" + of_first + " |", 4);
  std::string logit_notes;  // printed under the table
  for (int B : batch_list) {
    std::vector<std::vector<int32_t>> tokens(static_cast<size_t>(B)), tables(static_cast<size_t>(B));
    std::vector<RunnerSeq> seqs;
    for (int s = 0; s < B; ++s) {
      tokens[size_t(s)].assign(size_t(context + 1), int32_t((s * 7919) % int(c.vocab_size)));
      for (int b = 0; b < blocks_per_seq; ++b) tables[size_t(s)].push_back(s * blocks_per_seq + b);
    }
    for (int s = 0; s < B; ++s) {
      RunnerSeq r;
      r.tokens = &tokens[size_t(s)];
      r.num_computed = context;
      r.num_new = 1;
      r.block_table = &tables[size_t(s)];
      r.need_logits = true;
      seqs.push_back(r);
    }
    StepTimer tm{be};
    const std::vector<double> med =
        ab_medians([&](size_t v) { return tm.median_ms([&] { (void)runners[v]->run_device(seqs); }, 3, iters); });
    const double ms = med[0];
#ifdef SABLE_HAVE_CUDA
    if (profile) {
      be.synchronize();
      cudaProfilerStart();
      (void)runner.run_device(seqs);
      be.synchronize();
      cudaProfilerStop();
    }
#endif
    // With --ab, the values' logits for the same step (eager, in the first
    // runner, so the same cache contents; a prompt-logits row keeps the step
    // off the graphs and the knobs act as set): a knob that changes only how
    // a result is computed must leave the logits within rounding of the
    // baseline's, and a broken one shows here rather than as a fast step.
    if (variants > 1) {
      std::vector<RunnerSeq> probe = seqs;
      probe[0].prompt_logits = 1;
      std::vector<float> base;
      appendf(logit_notes, "logits at batch %d against the first value's:", B);
      for (size_t v = 0; v < variants; ++v) {
        set_variant(v);
        auto lr = runner.run_device(probe);
        if (!lr.is_ok()) {
          appendf(logit_notes, " %s=%d failed (%s)", ab_variants[v].name.c_str(), ab_variants[v].value,
                  lr.status().message().c_str());
          continue;
        }
        if (lr->dtype() != DType::F32) continue;  // the model's logits are f32
        std::vector<float> h(size_t(lr->numel()));
        be.copy_to_host(*lr, h.data());
        if (v == 0) {
          base = h;
          continue;
        }
        double max_diff = 0, max_ref = 0;
        size_t argmax_a = 0, argmax_b = 0;
        for (size_t i = 0; i < h.size() && i < base.size(); ++i) {
          max_diff = std::max(max_diff, double(std::fabs(h[i] - base[i])));
          max_ref = std::max(max_ref, double(std::fabs(base[i])));
          if (i < size_t(c.vocab_size)) {  // the first row's argmax
            if (h[i] > h[argmax_a]) argmax_a = i;
            if (base[i] > base[argmax_b]) argmax_b = i;
          }
        }
        appendf(logit_notes, " %s=%d max |diff| %.4g of max |logit| %.4g, first row's argmax %s;",
                ab_variants[v].name.c_str(), ab_variants[v].value, max_diff, max_ref,
                argmax_a == argmax_b ? "equal" : "DIFFERS");
      }
      set_variant(0);
      appendf(logit_notes, "\n");
    }
    // The experts this step routes to, per MoE layer: one more step of the same
    // batch, eager (a prompt-logits row keeps it off the graphs) with the
    // model's debug hook reading the routing. The same inputs as the timed
    // steps, so the same routes up to the split order of attention's sums.
    // A random-weight router need not spread tokens as uniformly as the
    // expectation assumes, and the floor must count what is read.
    std::vector<int> routed;
    {
      std::vector<RunnerSeq> probe = seqs;
      probe[0].prompt_logits = 1;
      model.debug_hook = [&](const std::string& name, const Tensor& t) {
        const std::string tail = ".gate.ids";
        if (name.size() < tail.size() || name.compare(name.size() - tail.size(), tail.size(), tail) != 0) return;
        std::vector<int32_t> ids(size_t(t.numel()));
        be.copy_to_host(t, ids.data());
        std::set<int32_t> hit;
        for (int64_t r = 0; r < t.dim(0); ++r)
          for (int64_t k = 0; k < c.num_experts_per_tok; ++k)
            if (ids[size_t(r * t.dim(1) + k)] >= 0) hit.insert(ids[size_t(r * t.dim(1) + k)]);  // -1: another rank's
        routed.push_back(int(hit.size()));
      };
      const bool ok = runner.run_device(probe).is_ok();
      model.debug_hook = nullptr;
      if (!ok || int(routed.size()) != moe_layers) routed.clear();
    }
    const double expected =
        expected_distinct_experts(c.n_routed_experts, c.num_experts_per_tok, B) / (whole_experts ? tp : 1);
    double routed_sum = 0;
    for (int n : routed) routed_sum += n;
    const double experts_read = routed.empty() ? moe_layers * expected : routed_sum;
    const double kv_bytes = double(B) * (context + 1) * double(model.kv_bytes_per_token(kv_dt));
    const double bytes = non_expert + experts_read * expert_bytes + kv_bytes;
    const double floor_ms = copy_bw > 0 ? bytes / copy_bw * 1e3 : 0;
    std::printf("| %d | %d |", B, context);
    for (double m : med) std::printf(" %.3f |", m);
    std::printf(" %.1f (%.1f) | %.2f | %.3f | %.2fx |\n", routed.empty() ? -1.0 : routed_sum / moe_layers, expected,
                bytes / 1e9, floor_ms, floor_ms > 0 ? ms / floor_ms : 0);
    if (json) json << "{\"kind\":\"decode\",\"fp8\":" << (fp8 ? "true" : "false") << ",\"batch\":" << B
                   << ",\"context\":" << context << ",\"ms\":" << ms << ",\"floor_ms\":" << floor_ms
                   << ",\"graphs\":" << runner.num_graphs() << "}\n";
  }
  if (!logit_notes.empty()) std::printf("\n%s", logit_notes.c_str());
  if (!spec_ks.empty())
    time_speculative(model, be, po, runner, batch_list, spec_ks, context, iters, int(c.vocab_size), json);
  // Prefill runs eagerly, so a knob takes effect as it is set: with --ab each
  // value is timed in turn, alternated over the rounds, like decode.
  std::printf("\n");
  print_header("| prefill tokens | MLA form |", "|---:|---|", "ms",
               " tokens/s" + of_first + " | TFLOP/s (GEMMs + attention as computed)" + of_first + " |", 2);
  using Mode = DeepseekV3Model::MlaPrefill;
  for (int T : parse_list(prefills)) {
    if (T <= 0) continue;
    KvCache cache = model.allocate_kv_cache((T + bs - 1) / bs, bs, kv_dt);
    ForwardBatch fb;
    fb.max_blocks = (T + bs - 1) / bs;
    fb.block_size = bs;
    for (int i = 0; i < T; ++i) {
      fb.token_ids.push_back((i * 7919) % int(c.vocab_size));
      fb.positions.push_back(i);
      fb.token_seq.push_back(0);
      fb.slot_mapping.push_back(i);
    }
    fb.seq_lens.push_back(T);
    for (int b = 0; b < fb.max_blocks; ++b) fb.block_tables.push_back(b);
    fb.logits_indices.push_back(T - 1);
    std::stringstream forms(mla_prefill);
    const std::vector<int> chunk_list = parse_list(mla_chunk_keys);
    std::vector<std::pair<Mode, int>> runs;  // (form, expanded chunk keys)
    for (std::string form; std::getline(forms, form, ',');) {
      const Mode mode = form == "expanded" ? Mode::kExpanded : form == "absorbed" ? Mode::kAbsorbed : Mode::kAuto;
      if (mode == Mode::kAbsorbed)
        runs.push_back({mode, 4096});
      else
        for (int ck : chunk_list)
          if (ck > 0) runs.push_back({mode, ck});
    }
    for (auto [mode, chunk_keys] : runs) {
      model.set_mla_prefill(mode, chunk_keys);
      const bool expanded = model.use_expanded(T, T);
      StepTimer tm{be};
      const std::vector<double> med = ab_medians(
          [&](size_t) { return tm.median_ms([&] { (void)model.forward(fb, cache); }, 1, std::max(2, iters / 4)); });
      const double ms = med[0];
      // FLOPs: 2 x active params x T for the GEMMs (experts: k of E per
      // token), plus attention as computed: causal T^2/2 pairs x heads x
      // 2 x (L + kv_lora) absorbed, or x 2 x (qk + v) expanded plus the
      // up-projection of T keys (2 x kv_lora x heads x (nope + v) each).
      const double params_per_token = double(active1) / (fp8 ? 1.0 : 2.0);
      const double pairs = double(T) * T / 2 * c.num_attention_heads;
      const double attn =
          (expanded ? pairs * 2 * double(c.qk_head_dim() + c.v_head_dim) +
                          double(T) * 2 * c.kv_lora_rank * c.num_attention_heads * (c.qk_nope_head_dim + c.v_head_dim)
                    : pairs * 2 * double(c.kv_latent_dim() + c.kv_lora_rank)) *
          c.num_hidden_layers;
      const double flops = 2 * params_per_token * T + attn;
      char form_name[48];
      if (expanded && chunk_list.size() > 1)
        std::snprintf(form_name, sizeof form_name, "expanded/%d", chunk_keys);
      else
        std::snprintf(form_name, sizeof form_name, "%s", expanded ? "expanded" : "absorbed");
      std::printf("| %d | %s |", T, form_name);
      for (double m : med) std::printf(" %.1f |", m);
      std::printf(" %.0f | %.0f |\n", T / (ms * 1e-3), flops / (ms * 1e-3) / 1e12);
      if (json)
        json << "{\"kind\":\"prefill\",\"fp8\":" << (fp8 ? "true" : "false") << ",\"tokens\":" << T << ",\"mla\":\""
             << form_name << "\",\"ms\":" << ms << "}\n";
    }
    model.set_mla_prefill(Mode::kAuto);
  }
  return 0;
}

}  // namespace
}  // namespace sable

int main(int argc, char** argv) { return sable::run(argc, argv); }
