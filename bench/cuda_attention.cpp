// Kernel benchmark of the CUDA MLA attention at DeepSeek-V3 shapes (the
// other non-GEMM ops: bench_cuda_ops). Prints achieved GB/s and TFLOP/s beside ceilings
// measured in the same run: a device-to-device copy (bytes read + written)
// and a cuBLAS bf16 GEMM at 8192^3 on random data.
//
// Decode attention (paged, 128 heads, latent 576, values 512, block 64): time
// per call from CUDA-graph replays of 20 calls (decode runs under graphs),
// rotating over disjoint block tables so that small batches do not read
// their cache from L2; median of 7 replays. Block ids are a random
// permutation of the pool, as a cache looks after some churn. Bytes = batch x context x 576 x
// 2 (the cache read once); FLOPs = batch x 128 x context x 2 x (576 + 512).
// Both floors are printed: at 128 heads the kernel does ~242 FLOP per cache
// byte, above the H200's bf16 ridge (~185), so decode at full head count is
// bound by tensor-core rate, not by bandwidth.
//
// Prefill attention (one sequence, causal, absorbed): FLOPs counted as the
// kernel does them (2 x (576 + 512) per head per query-key pair) and as the
// expanded MLA shapes count them (2 x (192 + 128), what SDPA's figure in
// torch_kernel_peers.py uses); the second is the like-for-like comparison.
//
// Prefill in the expanded form (what the model runs for long chunks): the
// same causal attention at q/k 192, v 128 over up-projected keys, counted as
// SDPA counts it.
//
// Usage: bench_cuda_attention [--json FILE] [--quick | --expanded | --decode-small | --combine |
//                              --small-rule | --small-splits | --decode B:C] [--knob NAME=V]
#ifndef SABLE_HAVE_CUDA
#include <cstdio>
int main() {
  std::puts("bench_cuda_attention: built without CUDA");
  return 0;
}
#else
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "backend/cuda/knobs.h"
#include "backend/cuda/ops.h"
#include "bench/stats.h"
#include "cuda_bench_common.h"

using namespace sable;
using namespace sable::bench_cuda;

namespace {

constexpr int kHeads = 128, kL = 576, kDv = 512, kBlock = 64;
constexpr float kScale = 0.1352f;  // 1/sqrt(192) * mscale^2 at factor 40

const char* kernel_name(cuda::MlaKernel k) {
  return k == cuda::MlaKernel::kWs        ? "ws"
         : k == cuda::MlaKernel::kSmall   ? "small"
         : k == cuda::MlaKernel::kWgmma   ? "wgmma"
         : k == cuda::MlaKernel::kGeneric ? "generic"
                                          : "mma";
}
// ws: the warp-specialized kernel; small: 16 heads per CTA (both BF16 cache only).
const cuda::MlaKernel kKernels[] = {cuda::MlaKernel::kMma, cuda::MlaKernel::kWgmma, cuda::MlaKernel::kWs,
                                    cuda::MlaKernel::kSmall};

// fp8_cache: the latent cache in e4m3 (--kv-cache-dtype fp8), half the bytes.
// heads < 128: a GPU's share under tensor parallelism (kernels: those to time).
void bench_decode(const std::vector<std::pair<int, int>>& shapes, const std::vector<int>& splits = {0},
                  bool with_mma = true, bool fp8_cache = false, int heads = kHeads,
                  const std::vector<cuda::MlaKernel>& kernels = {std::begin(kKernels), std::end(kKernels)}) {
  std::printf("paged MLA decode (heads %d, latent %d, values %d, block %d, %s cache), time per call under CUDA graphs\n",
              heads, kL, kDv, kBlock, fp8_cache ? "FP8" : "BF16");
  std::printf("%6s %7s %8s | %9s %9s %7s | %9s %7s | %9s %9s %8s\n", "batch", "context", "kernel", "us", "GB/s", "%copy",
              "TFLOP/s", "%gemm", "floor_mem", "floor_mma", "of_floor");
  for (auto [B, C] : shapes) for (cuda::MlaKernel kern : kernels) for (int S : splits) {
        if (!with_mma && kern == cuda::MlaKernel::kMma) continue;
        const int blocks_per_seq = (C + kBlock - 1) / kBlock;
        const int esz = fp8_cache ? 1 : 2;
        const int64_t bytes_one = int64_t(B) * blocks_per_seq * kBlock * kL * esz;
        const int R =
            int(std::max<int64_t>(1, std::min<int64_t>(8, (int64_t(512) << 20) / bytes_one)));  // >= 512 MiB touched
        const int num_blocks = R * B * blocks_per_seq;
        Tensor cache = random_device_bf16({num_blocks, kBlock, kL}, 10 + B);
        if (fp8_cache) {
          Tensor c8 = g_be->empty(DType::F8_E4M3, {num_blocks, kBlock, kL});
          g_be->convert(cache, c8);
          cache = c8;
    }
    Tensor q = random_device_bf16({B, heads, kL}, 20 + B), out = g_be->empty(DType::BF16, {B, heads, kDv});
    std::vector<AttentionMetadata> ms(static_cast<size_t>(R));
    std::vector<int32_t> pos(static_cast<size_t>(B), C - 1), seq(static_cast<size_t>(B)), slots(static_cast<size_t>(B), 0), lens(static_cast<size_t>(B), C);
    for (int i = 0; i < B; ++i) seq[size_t(i)] = i;
    std::vector<int32_t> perm(static_cast<size_t>(num_blocks));
    for (int i = 0; i < num_blocks; ++i) perm[static_cast<size_t>(i)] = i;
    uint64_t x = 0x9E3779B97F4A7C15ull ^ uint64_t(B * 7919 + C);
    for (int i = num_blocks - 1; i > 0; --i) {  // Fisher-Yates with xorshift
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(x % uint64_t(i + 1))]);
    }
    for (int r = 0; r < R; ++r) {
      std::vector<int32_t> table(static_cast<size_t>(B) * blocks_per_seq);
      for (size_t i = 0; i < table.size(); ++i) table[i] = perm[static_cast<size_t>(r * B * blocks_per_seq) + i];
      AttentionMetadata& m = ms[size_t(r)];
      m.positions = device_i32(pos, {B});
      m.token_seq = device_i32(seq, {B});
      m.slot_mapping = device_i32(slots, {B});
      m.seq_lens = device_i32(lens, {B});
      m.block_tables = device_i32(table, {B, blocks_per_seq});
      m.num_seqs = B;
      m.max_blocks = blocks_per_seq;
      m.max_seq_len = C;
      m.num_tokens = B;
      m.all_decode = true;
    }
    const double t = time_graph([&](int i) {
      cuda::mla_attention_with(kern, S, q, cache, ms[size_t(i % R)], kScale, kDv, out, g_be->allocator(), g_s);
    });
    const double bytes = double(B) * C * kL * esz, flops = double(B) * heads * C * 2.0 * (kL + kDv);
    const double fm = bytes / (g_copy_gbps * 1e9), fc = flops / (g_gemm_tflops * 1e12);
    const double gbps = bytes / t / 1e9, tf = flops / t / 1e12;
    // The kernel's name and its split count (the rule's where S is 0).
    const cuda::MlaPlan plan = cuda::mla_plan(kern, S, q, cache, ms[0], kDv, out);
    char kname[40];
    std::snprintf(kname, sizeof kname, "%s%s/S%d", kernel_name(kern), fp8_cache ? "+f8" : "", plan.splits);
    std::printf("%6d %7d %8s | %9.1f %9.0f %6.1f%% | %9.1f %6.1f%% | %8.1fus %8.1fus %7.2fx\n", B, C, kname, t * 1e6, gbps, 100 * gbps / g_copy_gbps, tf, 100 * tf / g_gemm_tflops, fm * 1e6,
                fc * 1e6, t / std::max(fm, fc));
    if (g_json)
      std::fprintf(g_json,
                   "{\"op\":\"mla_decode\",\"kernel\":\"%s\",\"batch\":%d,\"context\":%d,\"us\":%.2f,\"GBps\":%.1f,"
                   "\"pct_copy\":%.1f,\"TFLOPs\":%.1f,\"pct_gemm\":%.1f,\"floor_mem_us\":%.2f,\"floor_mma_us\":%.2f}\n",
                   kname, B, C, t * 1e6, gbps, 100 * gbps / g_copy_gbps, tf, 100 * tf / g_gemm_tflops,
                   fm * 1e6, fc * 1e6);
  }
  std::printf("\n");
}

// Heads per GPU under tensor parallelism (128 / TP): at 16 and 32 heads the
// 64-head kernels do not apply; the 16-head kernel against the CUDA-core one.
void bench_heads_per_gpu() {
  for (int heads : {32, 16})
    bench_decode({{1, 4096}, {8, 4096}, {64, 4096}}, {0}, false, false, heads,
                 {cuda::MlaKernel::kSmall, cuda::MlaKernel::kGeneric});
  // The FP8 cache at 16 heads (the 16-head kernel widens e4m3 operands in registers).
  bench_decode({{1, 4096}, {8, 4096}, {64, 4096}}, {0}, false, true, 16, {cuda::MlaKernel::kSmall});
  // Its split counts around the rule's (S = forced): the rule counts the
  // kernel's CTAs an SM (three on an FP8 cache: operands widened in registers).
  std::printf("split sweep, 16 heads, FP8 cache (S = forced split count)\n");
  bench_decode({{64, 4096}}, {3, 4, 5, 6, 8, 12}, false, true, 16, {cuda::MlaKernel::kSmall});
  bench_decode({{8, 4096}}, {16, 24, 32, 48}, false, true, 16, {cuda::MlaKernel::kSmall});
}

// Few rows under tensor parallelism 8 (16 heads), the rule's split counts:
// the combine's thread groups (knob mla-combine-groups 4 or 8) against its
// blocks a row (mla-combine-blocks 1, 2, 4), then the defaults (both 0: by
// the split and row counts). At batch 1 the 16 rows' partials are read by 16
// blocks; C blocks a row spread those reads over C times as many SMs. The
// S / G sweep of an earlier version is in
// bench/results/2026-12-07-e8cc385-combine-default-and-cap64.md.
void bench_combine_sweep() {
  const std::vector<cuda::MlaKernel> small{cuda::MlaKernel::kSmall};
  auto shapes = [&](const char* what) {
    std::printf("%s: 16 heads, the rule's split count\n", what);
    bench_decode({{1, 1024}, {1, 4096}, {1, 16384}, {2, 4096}, {4, 4096}, {8, 4096}, {16, 4096}, {32, 4096}}, {0},
                 false, true, 16, small);
    bench_decode({{1, 4096}, {8, 4096}}, {0}, false, false, 16, small);
    std::printf("%s: 128 heads, the rule's split count\n", what);
    bench_decode({{1, 4096}, {1, 32768}}, {0}, false, false, kHeads, {cuda::MlaKernel::kWs});
  };
  for (int blocks : {1, 2, 4})
    for (int groups : {4, 8}) {
      cuda::set_mla_combine_groups(groups);
      cuda::set_mla_combine_blocks(blocks);
      char what[64];
      std::snprintf(what, sizeof what, "combine groups %d, blocks %d", groups, blocks);
      shapes(what);
    }
  cuda::set_mla_combine_groups(0);
  cuda::set_mla_combine_blocks(0);
  shapes("the defaults (combine groups 0, blocks 0)");
}

// The 16-head kernel's split counts at the combine's defaults, forced, for
// few to mid rows: what the split rule's cost model (backend/mla_splits.cpp)
// should pick where it has no term for the combine. The rule's own pick is
// the S = 0 row.
void bench_small_split_sweep() {
  const std::vector<cuda::MlaKernel> small{cuda::MlaKernel::kSmall};
  std::printf("split sweep at the combine's defaults, 16 heads (S = forced; 0: the rule's)\n");
  for (int C : {4096, 16384})
    for (int B : {1, 2, 4, 8, 16, 32}) bench_decode({{B, C}}, {0, 8, 12, 16, 22, 32, 43, 64}, false, true, 16, small);
  for (int B : {1, 8, 32}) bench_decode({{B, 4096}}, {0, 8, 12, 16, 22, 32, 43, 64}, false, false, 16, small);
}

// The 16-head kernel at the rule's split counts only (few rows to 64, both
// caches): the shapes an A/B of one knob (--knob) or of two binaries times.
void bench_small_rule() {
  const std::vector<cuda::MlaKernel> small{cuda::MlaKernel::kSmall};
  std::printf("16 heads, the rule's split count\n");
  bench_decode({{1, 1024},
                {1, 4096},
                {1, 16384},
                {2, 4096},
                {4, 4096},
                {8, 4096},
                {8, 16384},
                {16, 4096},
                {32, 4096},
                {64, 4096}},
               {0}, false, true, 16, small);
  bench_decode({{1, 4096}, {8, 4096}, {64, 4096}}, {0}, false, false, 16, small);
}

void bench_prefill(const std::vector<std::pair<int, int>>& shapes) {
  std::printf("MLA prefill attention (one sequence, causal, absorbed latent form), eager\n");
  std::printf("%7s %7s %6s | %10s | %12s %7s | %14s\n", "cached", "new", "kernel", "ms", "TFLOP/s(own)", "%gemm",
              "TFLOP/s(expand)");
  for (auto [ctx, S] : shapes) for (cuda::MlaKernel kern : kKernels) {
    if (kern == cuda::MlaKernel::kSmall) continue;  // a decode kernel
    const int total = ctx + S, nb = (total + kBlock - 1) / kBlock;
    Tensor cache = random_device_bf16({nb, kBlock, kL}, 30);
    Tensor q = random_device_bf16({S, kHeads, kL}, 31), out = g_be->empty(DType::BF16, {S, kHeads, kDv});
    std::vector<int32_t> pos(static_cast<size_t>(S)), seq(static_cast<size_t>(S), 0), slots(static_cast<size_t>(S)), table(static_cast<size_t>(nb));
    for (int i = 0; i < S; ++i) pos[size_t(i)] = ctx + i, slots[size_t(i)] = ctx + i;
    for (int i = 0; i < nb; ++i) table[size_t(i)] = i;
    AttentionMetadata m;
    m.positions = device_i32(pos, {S});
    m.token_seq = device_i32(seq, {S});
    m.slot_mapping = device_i32(slots, {S});
    m.seq_lens = device_i32({total}, {1});
    m.block_tables = device_i32(table, {1, nb});
    m.num_seqs = 1;
    m.max_blocks = nb;
    m.max_seq_len = total;
    m.num_tokens = S;
    const double t = time_eager(
        [&] { cuda::mla_attention_with(kern, 0, q, cache, m, kScale, kDv, out, g_be->allocator(), g_s); });
    // query-key pairs under the causal mask
    const double pairs = double(S) * ctx + double(S) * (S + 1) / 2;
    const double own = pairs * kHeads * 2.0 * (kL + kDv) / t / 1e12;
    const double expanded = pairs * kHeads * 2.0 * (192 + 128) / t / 1e12;
    std::printf("%7d %7d %6s | %10.2f | %12.1f %6.1f%% | %14.1f\n", ctx, S, kernel_name(kern), t * 1e3, own,
                100 * own / g_gemm_tflops, expanded);
    if (g_json)
      std::fprintf(g_json,
                   "{\"op\":\"mla_prefill\",\"kernel\":\"%s\",\"cached\":%d,\"seq\":%d,\"ms\":%.3f,"
                   "\"TFLOPs_own\":%.1f,\"TFLOPs_expanded\":%.1f}\n",
                   kernel_name(kern), ctx, S, t * 1e3, own, expanded);
  }
  std::printf("\n");
}

// The expanded form (what long prefill chunks use): q [S, 128, 192] against
// up-projected keys kv [ctx + S, 128, 128 + 128] and k_pe [ctx + S, 64], in one
// call over all keys and in chunks of 4,096 keys merged by log-sum-exp (as the
// model runs it). FLOPs = causal pairs x 128 x 2 x (192 + 128), SDPA's count.
void bench_prefill_expanded(const std::vector<std::pair<int, int>>& shapes) {
  std::printf("MLA prefill attention, expanded form (q/k 192, v 128, 128 heads, causal), eager\n");
  std::printf("%7s %7s %-14s | %10s | %10s %7s\n", "cached", "new", "kernel", "ms", "TFLOP/s", "%gemm");
  constexpr int kQK = 192, kVd = 128, kRope = 64;
  for (auto [ctx, S] : shapes) {
    const int n = ctx + S;
    Tensor q = random_device_bf16({S, kHeads, kQK}, 40), kv = random_device_bf16({n, kHeads, kQK - kRope + kVd}, 41);
    Tensor k_pe = random_device_bf16({n, kRope}, 42), out = g_be->empty(DType::BF16, {S, kHeads, kVd});
    Tensor lse = g_be->empty(DType::F32, {S, kHeads});
    const float scale = 1.f / std::sqrt(float(kQK));
    const double pairs = double(S) * ctx + double(S) * (S + 1) / 2;
    for (auto [kern, kname] :
         {std::pair{cuda::MlaExpandedKernel::kWgmma, "wgmma"}, std::pair{cuda::MlaExpandedKernel::kMma, "mma"}})
      for (int chunk : {0, 4096}) {
        const double t = time_eager([&] {
          const int c = chunk > 0 ? chunk : n;
          for (int k0 = 0; k0 < n; k0 += c) {
            const int k1 = std::min(n, k0 + c);
            cuda::mla_attention_expanded_with(kern, q, kv.rows(k0, k1), k_pe.rows(k0, k1), ctx, k0, scale, k0 > 0, out,
                                              lse, g_s);
          }
        });
        const double tf = pairs * kHeads * 2.0 * (kQK + kVd) / t / 1e12;
        char name[32];
        std::snprintf(name, sizeof name, "%s%s", kname, chunk ? "/4096" : "");
        std::printf("%7d %7d %-14s | %10.2f | %10.1f %6.1f%%\n", ctx, S, name, t * 1e3, tf, 100 * tf / g_gemm_tflops);
        if (g_json)
          std::fprintf(g_json,
                       "{\"op\":\"mla_prefill_expanded\",\"kernel\":\"%s\",\"cached\":%d,\"seq\":%d,\"ms\":%.3f,"
                       "\"TFLOPs\":%.1f}\n",
                       name, ctx, S, t * 1e3, tf);
      }
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, expanded_only = false, decode_small = false, combine = false, small_splits = false,
       small_rule = false;
  int only_b = 0, only_c = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc) {
      if (!open_json("bench_cuda_attention", argv[++i])) return 2;
    } else if (!std::strcmp(argv[i], "--quick"))
      quick = true;
    else if (!std::strcmp(argv[i], "--expanded")) expanded_only = true;  // the expanded prefill table only
    else if (!std::strcmp(argv[i], "--decode-small")) decode_small = true;  // few-row decode shapes only
    else if (!std::strcmp(argv[i], "--combine"))
      combine = true;  // split counts x combine groups, few rows
    else if (!std::strcmp(argv[i], "--small-rule"))
      small_rule = true;  // the 16-head kernel at the rule's split counts
    else if (!std::strcmp(argv[i], "--small-splits"))
      small_splits = true;  // the 16-head kernel's split counts, forced
    else if (!std::strcmp(argv[i], "--knob") && i + 1 < argc) {
      // --knob NAME=V: a runtime knob of the CUDA backend (backend/cuda/knobs.h) for the whole run,
      // e.g. skip=128 (the MLA combine left out) to see the attention kernel alone
      const std::string kv = argv[++i];
      const size_t eq = kv.find('=');
      // One whole number (the bench library's parser): "skip=abc" would otherwise set 0 silently.
      const auto v = bench::parse_int_list(eq == std::string::npos ? "" : kv.substr(eq + 1));
      if (!v.is_ok() || v->size() != 1 || !cuda::set_knob(kv.substr(0, eq), v->front())) {
        std::fprintf(stderr, "bench_cuda_attention: --knob %s: want NAME=VALUE of one of these knobs:\n", kv.c_str());
        for (const std::string& h : cuda::knob_help()) std::fprintf(stderr, "  %s\n", h.c_str());
        return 2;
      }
      std::printf("knob %s\n", kv.c_str());
    } else if (!std::strcmp(argv[i], "--decode") && i + 1 < argc) {
      // --decode B:C: that one decode shape only (for ncu), e.g. 64:4096
      if (std::sscanf(argv[++i], "%d:%d", &only_b, &only_c) != 2 || only_b <= 0 || only_c <= 0) {
        std::fprintf(stderr, "bench_cuda_attention: --decode %s: want BATCH:CONTEXT, e.g. 64:4096\n", argv[i]);
        return 2;
      }
    } else {
      // The sampling, elementwise and per-head matmul tables moved to bench_cuda_ops.
      std::fprintf(stderr,
                   "bench_cuda_attention: unknown argument '%s' (usage at the top of bench/cuda_attention.cpp; "
                   "--sampling and the other non-attention tables are bench_cuda_ops)\n",
                   argv[i]);
      return 2;
    }
  }
  auto be = start_run("bench_cuda_attention");
  if (!be) return 0;
  if (only_b > 0) {
    bench_decode({{only_b, only_c}});
  } else if (combine) {
    bench_combine_sweep();
  } else if (small_splits) {
    bench_small_split_sweep();
  } else if (small_rule) {
    bench_small_rule();
  } else if (decode_small) {
    bench_decode({{1, 512}, {1, 4096}, {2, 512}, {4, 512}, {8, 512}, {8, 4096}, {16, 4096}, {32, 4096}, {64, 4096}},
                 {0}, false);
    bench_decode({{1, 512}, {1, 4096}, {8, 512}, {64, 4096}}, {0}, false, /*fp8_cache=*/true);
    bench_heads_per_gpu();
  } else if (expanded_only) {
    bench_prefill_expanded({{0, 4096}, {12288, 4096}, {0, 16384}, {0, 32768}});
  } else if (quick) {
    bench_decode({{1, 4096}, {64, 4096}});
    bench_decode({{1, 4096}, {64, 4096}}, {0}, false, true);
    bench_prefill({{0, 4096}});
    bench_prefill_expanded({{0, 4096}});
  } else {
    bench_decode({{1, 512}, {8, 512}, {1, 4096}, {8, 4096}, {32, 4096}, {64, 4096}, {128, 4096}, {64, 8192},
                  {128, 8192}, {1, 32768}});
    bench_decode({{1, 4096}, {64, 4096}, {128, 4096}, {1, 32768}}, {0}, false, true);
    std::printf("split-K sweep (wgmma and ws kernels; S = forced split count)\n");
    bench_decode({{1, 4096}, {8, 4096}, {64, 4096}, {128, 4096}, {64, 8192}}, {1, 2, 3, 4, 8, 16, 32}, false);
    bench_heads_per_gpu();
    bench_prefill({{0, 4096}, {12288, 4096}, {0, 16384}});
    bench_prefill_expanded({{0, 4096}, {12288, 4096}, {0, 16384}, {0, 32768}});
  }
  if (g_json) std::fclose(g_json);
  g_be = nullptr;
  return 0;
}
#endif
