// Kernel benchmark of the CUDA ops beside attention and the GEMMs, at
// DeepSeek-V3 shapes, against the device-to-device copy measured in the same
// run (bytes = inputs read once + outputs written once; time per call from
// CUDA-graph replays, median of 7):
//
// - elementwise: RMSNorm (with the residual add), SiLU-and-mul, the KV write
//   into the paged cache, RoPE on q, MoE routing;
// - MLA's per-head matmuls at decode (W_UK into the query with the q_rope
//   copy, W_UV out of the latent output): the streaming kernels (head_gemv.h,
//   the default up to 16 tokens) beside cuBLAS strided-batched (what
//   batch-invariant mode takes). Bytes = the 16.8 MB weight + activations read
//   + output written; each call reads the next of 6 weight copies (100 MB,
//   past the 50 MB L2), as each layer reads its own;
// - sampling over the 129,280-token vocabulary, both samplers (rows split over
//   blocks, one block a row).
//
// Usage: bench_cuda_ops [--json FILE] [--quick | --sampling]
//   --quick: the per-head matmuls only; --sampling: the sampling table only.
#ifndef SABLE_HAVE_CUDA
#include <cstdio>
int main() {
  std::puts("bench_cuda_ops: built without CUDA");
  return 0;
}
#else
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "backend/cuda/batch_invariant.h"
#include "backend/cuda/head_gemv.h"
#include "backend/cuda/ops.h"
#include "backend/cuda/sampling.h"
#include "cuda_bench_common.h"

using namespace sable;
using namespace sable::bench_cuda;

namespace {

constexpr int kHeads = 128, kL = 576, kDv = 512;  // MLA: heads, latent + rope, latent values

void bench_elementwise() {
  std::printf("other ops (bytes = inputs read once + outputs written once), time per call under CUDA graphs\n");
  const int H = 7168, I = 2048 * 9;  // I: the dense MLP's 18432
  for (int T : {64, 4096}) {
    char shape[64];
    Tensor x = random_device_bf16({T, H}, 40), w = random_device_bf16({H}, 41), out = g_be->empty(DType::BF16, {T, H});
    Tensor r = random_device_bf16({T, H}, 42);
    std::snprintf(shape, sizeof shape, "[%d, %d]", T, H);
    report_bw("rms_norm", shape, time_graph([&](int) { cuda::rms_norm(x, w, 1e-6f, out, g_s); }), 2.0 * T * H * 2);
    report_bw("add_rms_norm", shape, time_graph([&](int) { cuda::add_rms_norm(r, x, w, 1e-6f, out, g_s); }),
              4.0 * T * H * 2);
    Tensor g = random_device_bf16({T, I}, 43), u = random_device_bf16({T, I}, 44), o = g_be->empty(DType::BF16, {T, I});
    std::snprintf(shape, sizeof shape, "[%d, %d]", T, I);
    report_bw("silu_and_mul", shape, time_graph([&](int) { cuda::silu_and_mul(g, u, o, g_s); }), 3.0 * T * I * 2);
    // mla_write_kv: read [T, 576], write T rows of the cache.
    Tensor kv = random_device_bf16({T, kL}, 45), nw = random_device_bf16({512}, 46);
    Tensor cache = g_be->empty(DType::BF16, {(T + 63) / 64, 64, kL});
    std::vector<int32_t> slots(static_cast<size_t>(T)), pos(static_cast<size_t>(T));
    for (int i = 0; i < T; ++i) slots[size_t(i)] = i, pos[size_t(i)] = 1000 + i;
    std::vector<float> inv(32);
    for (int i = 0; i < 32; ++i) inv[size_t(i)] = std::pow(10000.f, -i / 32.f);
    Tensor hinv = Tensor::empty(DType::F32, {32});
    std::memcpy(hinv.data(), inv.data(), 128);
    RopeParams rp;
    rp.inv_freq = g_be->to_device(hinv);
    AttentionMetadata m;
    m.slot_mapping = device_i32(slots, {T});
    m.positions = device_i32(pos, {T});
    std::snprintf(shape, sizeof shape, "[%d, %d]", T, kL);
    report_bw("mla_write_kv", shape, time_graph([&](int) { cuda::mla_write_kv(kv, nw, 1e-6f, rp, m, cache, g_s); }),
              2.0 * T * kL * 2);
    Tensor q = random_device_bf16({T, kHeads, 192}, 47);
    std::snprintf(shape, sizeof shape, "[%d, %d, 64 of 192]", T, kHeads);
    report_bw("rope(q)", shape, time_graph([&](int) { cuda::rope(q, 128, 64, m.positions, rp, g_s); }),
              2.0 * T * kHeads * 64 * 2);
    Tensor logits = g_be->empty(DType::F32, {T, 256}), bias = g_be->empty(DType::F32, {256});
    CK(cudaMemsetAsync(logits.data(), 0x3c, logits.nbytes(), g_s));
    CK(cudaMemsetAsync(bias.data(), 0x1c, bias.nbytes(), g_s));
    Tensor ids = g_be->empty(DType::I32, {T, 8}), tw = g_be->empty(DType::F32, {T, 8});
    MoeRoutingParams mp{256, 8, 8, 4, true, 2.5f};
    std::snprintf(shape, sizeof shape, "[%d, 256] top 8", T);
    report_bw("moe_route", shape, time_graph([&](int) { cuda::moe_route(logits, bias, mp, ids, tw, g_s); }),
              double(T) * 256 * 4 + double(T) * 8 * 8);
  }
  std::printf("\n");
}

void bench_head_matmul() {
  std::printf(
      "MLA per-head matmuls (heads %d, nope 128, rope 64, kv_lora 512, v 128), time per call under CUDA graphs\n",
      kHeads);
  constexpr int kCopies = 6;
  std::vector<Tensor> w_uk, w_uv;
  for (int i = 0; i < kCopies; ++i) {
    w_uk.push_back(random_device_bf16({kHeads, 128, 512}, 60 + i));  // [heads, nope, kv_lora]
    w_uv.push_back(random_device_bf16({kHeads, 128, 512}, 70 + i));  // [heads, v, kv_lora]
  }
  const double w_bytes = double(kHeads) * 128 * 512 * 2;
  const bool saved = cuda::batch_invariant();
  const int64_t saved_max = cuda::head_gemv_auto_max_tokens();
  cuda::set_head_gemv_auto_max_tokens(cuda::kHeadGemvMaxT);  // the streaming rows at every T they take
  for (int T : {1, 2, 8}) {
    Tensor q = random_device_bf16({T, kHeads, 192}, 50), q_latent = g_be->empty(DType::BF16, {T, kHeads, kL});
    Tensor o_latent = random_device_bf16({T, kHeads, kDv}, 51), o = g_be->empty(DType::BF16, {T, kHeads, 128});
    for (bool cublas : {false, true}) {
      cuda::set_batch_invariant(cublas);  // batch-invariant mode keeps cuBLAS at every T
      char shape[64];
      std::snprintf(shape, sizeof shape, "T=%d %s", T, cublas ? "cublas" : "streaming");
      report_bw("mla_absorb_q", shape, time_graph([&](int i) {
                  g_be->mla_absorb_q(q, w_uk[size_t(i % kCopies)], q_latent, nullptr, nullptr);
                }),
                w_bytes + double(T) * kHeads * (192 + kL) * 2);
      report_bw("head_matmul W_UV", shape,
                time_graph([&](int i) { g_be->head_matmul(o_latent, w_uv[size_t(i % kCopies)], true, o); }),
                w_bytes + double(T) * kHeads * (kDv + 128) * 2);
    }
  }
  cuda::set_batch_invariant(saved);
  cuda::set_head_gemv_auto_max_tokens(saved_max);
  std::printf("\n");
}

void bench_sampling() {
  std::printf("sampling, vocab 129280, time per call under CUDA graphs\n");
  const int V = 129280;
  const int was_split = cuda::sampling_split();
  for (int N : {1, 64, 256}) {
    Tensor l = g_be->empty(DType::F32, {N, V});
    {
      std::vector<float> h(static_cast<size_t>(N) * V);
      uint64_t x = 7;
      for (auto& v : h) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v = float(int(x >> 40) % 2000) / 100.f - 10.f;
      }
      CK(cudaMemcpyAsync(l.data(), h.data(), h.size() * 4, cudaMemcpyHostToDevice, g_s));
      CK(cudaStreamSynchronize(g_s));
    }
    auto fvec = [&](float v) {
      Tensor h = Tensor::empty(DType::F32, {N});
      std::fill(h.ptr<float>(), h.ptr<float>() + N, v);
      return g_be->to_device(h);
    };
    Tensor temp = fvec(0.8f), topp = fvec(0.9f), minp = fvec(0.f), out = g_be->empty(DType::I32, {N});
    Tensor hk = Tensor::empty(DType::I32, {N});
    std::fill(hk.ptr<int32_t>(), hk.ptr<int32_t>() + N, 50);
    Tensor topk = g_be->to_device(hk);
    Tensor hs = Tensor::empty(DType::U64, {N});
    for (int i = 0; i < N; ++i) hs.ptr<uint64_t>()[i] = uint64_t(i) * 7919;
    Tensor seeds = g_be->to_device(hs);
    Tensor scratch = g_be->empty(DType::U8, {cuda::sample_scratch_bytes(N, V)});
    char shape[96];
    // Both samplers in the same run: rows split over blocks (sampling-split
    // 2) against one block a row (0).
    for (int split : {2, 0}) {
      cuda::set_sampling_split(split);
      const char* how = split ? "split" : "block/row";
      std::snprintf(shape, sizeof shape, "[%d, %d] argmax %s", N, V, how);
      report_bw("sample", shape, time_graph([&](int) { cuda::argmax(l, scratch, out, g_s); }), double(N) * V * 4);
      cuda::SamplingParams p;
      p.temperature = temp.ptr<float>();
      p.seed = seeds.ptr<uint64_t>();
      p.any_top_k = p.any_top_p = false;
      std::snprintf(shape, sizeof shape, "[%d, %d] T=0.8 %s", N, V, how);
      report_bw("sample", shape, time_graph([&](int) { cuda::sample(l, p, scratch, out, g_s); }), double(N) * V * 4);
      p.top_k = topk.ptr<int32_t>();
      p.top_p = topp.ptr<float>();
      p.any_top_k = p.any_top_p = true;
      std::snprintf(shape, sizeof shape, "[%d, %d] k50 p0.9 %s", N, V, how);
      report_bw("sample", shape, time_graph([&](int) { cuda::sample(l, p, scratch, out, g_s); }), double(N) * V * 4);
    }
    cuda::set_sampling_split(was_split);
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, sampling_only = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc) {
      if (!open_json("bench_cuda_ops", argv[++i])) return 2;
    } else if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    } else if (!std::strcmp(argv[i], "--sampling")) {
      sampling_only = true;
    } else {
      std::fprintf(
          stderr, "bench_cuda_ops: unknown argument '%s'; usage: bench_cuda_ops [--json FILE] [--quick | --sampling]\n",
          argv[i]);
      return 2;
    }
  }
  auto be = start_run("bench_cuda_ops");
  if (!be) return 0;
  if (sampling_only) {
    bench_sampling();
  } else if (quick) {
    bench_head_matmul();
  } else {
    bench_elementwise();
    bench_head_matmul();
    bench_sampling();
  }
  if (g_json) std::fclose(g_json);
  g_be = nullptr;
  return 0;
}
#endif
