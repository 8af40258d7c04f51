#include "runner/memory_planner.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "backend/mla_splits.h"
#include "model/tensor_specs.h"

namespace sable {

namespace {
std::string gib(int64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", double(b) / double(1ll << 30));
  return buf;
}
}  // namespace

ModelConfig as_loaded(const ModelConfig& c, bool quantize_fp8) {
  ModelConfig q = c;
  if (quantize_fp8 && !q.quantization.is_fp8()) {
    q.quantization.quant_method = "fp8";
    q.quantization.block_out = q.quantization.block_in = 128;
  }
  return q;
}

namespace {
// Tensors every tensor-parallel rank holds whole (model/tensor_parallel.h).
bool replicated(const std::string& name) {
  for (const char* part : {"layernorm", "model.norm.", "q_a_proj", "kv_a_proj_with_mqa", ".mlp.gate."})
    if (name.find(part) != std::string::npos) return true;
  return false;
}
}  // namespace

int64_t weight_bytes(const ModelConfig& c, bool quantize_fp8, int tp) {
  const ModelConfig q = as_loaded(c, quantize_fp8);
  tp = std::max(1, tp);
  int64_t total = 0;
  for (const auto& s : deepseek_v3_tensor_specs(q, /*include_mtp=*/false)) {
    const int64_t b = s.shape.numel() * int64_t(dtype_size(s.dtype));
    total += replicated(s.name) ? b : b / tp;
  }
  // kv_b_proj is held twice in bf16 whatever the checkpoint stores: whole
  // (the expanded-form prefill's up-projection) and as per-head W_UK / W_UV
  // (the absorbed form); the specs counted it once as stored.
  const int64_t kv_b = int64_t(c.num_attention_heads) * (c.qk_nope_head_dim + c.v_head_dim) * c.kv_lora_rank;
  total += int64_t(c.num_hidden_layers) * kv_b * (2 * 2 - (q.quantization.is_fp8() ? 1 : 2)) / tp;
  return total;
}

bool fp8_stream_tiles_default() {
  const char* e = std::getenv("SABLE_STREAM_TILES");
  return !(e && *e == '0');
}

int64_t fp8_stream_tile_bytes(const ModelConfig& c, bool quantize_fp8) {
  const ModelConfig q = as_loaded(c, quantize_fp8);
  if (!q.quantization.is_fp8()) return 0;
  int64_t total = 0;
  for (const auto& s : deepseek_v3_tensor_specs(q, /*include_mtp=*/false)) {
    if (s.role != TensorRole::kLinear || s.dtype != DType::F8_E4M3 || s.shape.ndim() != 2) continue;
    if (s.name.find(".experts.") != std::string::npos || s.name.find(".shared_experts.") != std::string::npos ||
        s.name.find(".kv_b_proj.") != std::string::npos)
      continue;
    // cuda/expert_tiles.cuh: 4 KB tiles of 32 rows x 128 bytes.
    const int64_t out = s.shape[0], in = s.shape[1];
    total += (out + 31) / 32 * ((in + 127) / 128) * 4096;
  }
  return total;
}

namespace {
// Bytes live at once per token of a step (bf16 unless noted): the f32
// residual and two bf16 hidden buffers; q, the absorbed query and the latent
// output of attention; the MoE's permuted input, gate/up and activation; FP8
// activation copies for the GEMMs.
int64_t live_bytes_per_token(const ModelConfig& c, int tp) {
  const int64_t H = c.hidden_size, heads = c.num_attention_heads / std::max(1, tp);
  // k: experts per token, the fused shared experts included.
  const int64_t L = c.kv_latent_dim(), k = std::max(1, c.num_experts_per_tok + c.n_shared_experts);
  const int64_t I = std::max(c.moe_intermediate_size * k, c.intermediate_size / std::max(1, tp));
  return H * 4 + 2 * H * 2 + heads * (c.qk_head_dim() + L + c.kv_lora_rank + c.v_head_dim) * 2 + k * H * 2 + 3 * I * 2 +
         H;
}
}  // namespace

namespace {
// The most split-partial bytes of any eager MLA decode call of 1..tokens tokens.
// Why: the partials (S x T x H x 513 f32) are not part of a token's live
// activations, and they grow as T falls while S rises: DeepSeek-V3 at 64
// sequences and 163,840 keys takes 33 splits, 0.52 GiB, where 256 sequences
// take none.
int64_t most_mla_partial_bytes(const ModelConfig& c, int tokens, int tp, int max_model_len, int sm_count) {
  const int64_t heads = c.num_attention_heads / std::max(1, tp);
  int64_t most = 0;
  for (int t = 1; t <= tokens; ++t)
    most = std::max(most,
                    mla_decode_partial_bytes(t, heads, c.kv_lora_rank, max_model_len, sm_count, MlaSplitRule::kEager));
  return most;
}
}  // namespace

int64_t activation_peak_bytes(const ModelConfig& c, int tokens, int seqs, int tp, int max_model_len, int sm_count) {
  const int64_t heads = c.num_attention_heads / std::max(1, tp);
  // The step's live activations, and f32 logits of the sampled rows (twice:
  // the sampler's copy).
  int64_t b = int64_t(tokens) * live_bytes_per_token(c, tp) + int64_t(seqs) * c.vocab_size * 4 * 2;
  // The expanded-form prefill's up-projected keys and values: one chunk of
  // 4,096 keys (DeepseekV3Model::set_mla_prefill) with its latents.
  if (tokens > 1) b += int64_t(4096) * (heads * (c.qk_nope_head_dim + c.v_head_dim) + c.kv_latent_dim()) * 2;
  // An eager step's decode attention: split partials of up to `seqs` rows.
  b += most_mla_partial_bytes(c, std::min(tokens, seqs), tp, max_model_len, sm_count);
  b += int64_t(64) << 20;  // library workspaces (cuBLAS/cuBLASLt)
  return b * 5 / 4;        // fragmentation margin of the caching allocator
}

std::vector<CudaGraphShape> cuda_graph_shapes(int max_num_seqs, int max_num_batched_tokens, int k, bool mtp) {
  constexpr int kMaxVerifyGraphTokens = 512;  // vLLM captures up to 512 tokens
  std::vector<CudaGraphShape> out;
  std::vector<int> qs = {1};
  if (k > 0) qs.push_back(k + 1);
  for (bool m : {false, true}) {
    if (m && !(mtp && k > 0)) break;
    for (int q : qs)
      for (int b : {256, 224, 192, 160, 128, 96, 64, 48, 32, 24, 16, 8, 4, 2, 1})
        if (b <= max_num_seqs && (q == 1 || (b * q <= kMaxVerifyGraphTokens && b * q <= max_num_batched_tokens)))
          out.push_back({q, b, m});
  }
  return out;
}

int cuda_graph_logits_rows(const std::vector<CudaGraphShape>& shapes, bool mtp) {
  int rows = 0;
  for (const CudaGraphShape& g : shapes)
    if (g.mtp == mtp) rows = std::max(rows, g.logits_rows());
  return rows;
}

int64_t cuda_graph_bytes(const ModelConfig& c, const std::vector<CudaGraphShape>& shapes, int tp, int max_model_len,
                         int sm_count, MlaSplitRule rule) {
  if (shapes.empty()) return 0;
  const int64_t H = c.hidden_size, V = c.vocab_size;
  // The graphs share one memory pool, captured largest first, each reusing
  // the blocks of those before it: a set of graphs of one kind (decode,
  // verification, the MTP's at each q) holds about its largest step's live
  // activations (with the eager peak's margin for the caching allocator),
  // as measured; the sets reuse each other's blocks less.
  // Each kind also holds MLA split partials: decode attention at its graphs'
  // token counts, captured for max_model_len keys (the MTP's one layer too).
  // By the graph rule (the default) no graph takes more than ~50 MB: the
  // kind's largest. By the eager rule (knob mla-graph-splits 0) they are up
  // to 0.5 GiB a graph, of sizes that rise and fall with the batch, and the
  // pool kept several: measured 2.07 GiB of graphs at 256 sequences and
  // 110,000 keys where the largest partial predicted 1.22 (H100, record
  // bench/results/2026-12-06-graph-memory.md): the sum of the kind's.
  const int64_t heads = c.num_attention_heads / std::max(1, tp);
  std::map<std::pair<int, bool>, int64_t> largest;   // (q, mtp) -> most tokens
  std::map<std::pair<int, bool>, int64_t> partials;  // (q, mtp) -> split-partial bytes held, by the rule above
  int64_t total = 0;
  for (const CudaGraphShape& g : shapes) {
    int64_t& most = largest[{g.q, g.mtp}];
    most = std::max<int64_t>(most, g.tokens());
    int64_t& part = partials[{g.q, g.mtp}];
    const int64_t p = mla_decode_partial_bytes(g.tokens(), heads, c.kv_lora_rank, max_model_len, sm_count, rule);
    part = rule == MlaSplitRule::kGraph ? std::max(part, p) : part + p;
    total +=
        int64_t(g.tokens()) * H * 4;  // every graph's kept hidden states (the MTP's in f32), held for the next call
  }
  for (const auto& [kind, tokens] : largest) total += (tokens * live_bytes_per_token(c, tp) + partials[kind]) * 5 / 4;
  // f32 logits: one buffer the model's graphs share, one the MTP's share.
  total += int64_t(cuda_graph_logits_rows(shapes, false) + cuda_graph_logits_rows(shapes, true)) * V * 4;
  // The first capture of a process also sets up library state (0.14 GiB
  // more than a second runner's identical set took on an H100: record
  // bench/results/2026-12-05-117c60e-graph-memory.md).
  return total + (int64_t(160) << 20);
}

namespace {

// The plan without advice, with one rank's weight bytes and the whole FP8
// tiled copies' bytes given (each takes a walk over every tensor of the
// layout to count: done once per plan, not per variant tried for advice).
MemoryPlan plan_basic(const MemoryPlanInput& in, int64_t model_weight_bytes, int64_t tile_bytes) {
  const ModelConfig& c = in.config;
  const int tp = std::max(1, in.tensor_parallel_size);
  MemoryPlan p;
  p.max_model_len = in.max_model_len > 0 ? in.max_model_len : int(c.max_position_embeddings);
  p.tensor_parallel_size = tp;
  p.budget = int64_t(double(in.device_memory) * in.gpu_memory_utilization);
  p.weight_tiles = in.fp8_stream_tiles ? tile_bytes / tp : 0;
  p.weights = model_weight_bytes + p.weight_tiles;  // one rank's
  p.activations = activation_peak_bytes(c, std::max(in.max_num_batched_tokens, 1),
                                        in.max_num_seqs * std::max(1, in.logits_rows_per_seq), tp, p.max_model_len,
                                        in.gpu_multiprocessors);
  p.graphs = in.cuda_graphs ? cuda_graph_bytes(c,
                                               cuda_graph_shapes(in.max_num_seqs, in.max_num_batched_tokens,
                                                                 std::max(0, in.logits_rows_per_seq - 1), in.mtp),
                                               tp, p.max_model_len, in.gpu_multiprocessors, in.graph_split_rule)
                            : 0;
  // MLA's latent cache is not split by tensor parallelism (every rank keeps
  // the full 576-wide latent of its tokens).
  p.kv_per_token = int64_t(c.num_hidden_layers) * c.kv_latent_dim() * int64_t(dtype_size(in.kv_dtype));
  p.kv = p.budget - p.weights - p.activations - p.graphs;
  const int64_t block_bytes = p.kv_per_token * in.block_size;
  p.num_blocks = p.kv > 0 ? p.kv / block_bytes : 0;
  p.max_tokens = p.num_blocks * in.block_size;
  p.fits = p.max_tokens >= p.max_model_len;
  return p;
}

}  // namespace

MemoryPlan plan_memory(const MemoryPlanInput& in) {
  const ModelConfig& c = in.config;
  const int tp = std::max(1, in.tensor_parallel_size);
  const int64_t wb = weight_bytes(c, in.quantize_fp8, tp);
  const int64_t tiles = in.fp8_stream_tiles ? fp8_stream_tile_bytes(c, in.quantize_fp8) : 0;
  MemoryPlan p = plan_basic(in, wb, tiles);
  if (p.fits) return p;

  const int64_t need_kv = int64_t(p.max_model_len) * p.kv_per_token;
  const int64_t missing = p.weights + p.activations + p.graphs + need_kv - p.budget;
  std::string a = "the model does not fit: " + gib(p.budget) + " usable (--gpu-memory-utilization " +
                  std::to_string(in.gpu_memory_utilization).substr(0, 4) + " of " + gib(in.device_memory) +
                  ") < weights " + gib(p.weights) + " + activations " + gib(p.activations) + " + CUDA graphs " +
                  gib(p.graphs) + " + KV cache for one " + std::to_string(p.max_model_len) + "-token request " +
                  gib(need_kv) + "; " + gib(missing) + " missing. Options:";
  if (!c.quantization.is_fp8() && !in.quantize_fp8) {
    MemoryPlanInput f = in;
    f.quantize_fp8 = true;
    MemoryPlan fp = plan_basic(f, weight_bytes(c, true, tp), in.fp8_stream_tiles ? fp8_stream_tile_bytes(c, true) : 0);
    a += "\n  --quantization fp8: weights " + gib(fp.weights) + (fp.fits ? " (fits)" : " (not enough alone)");
  }
  for (int n : {2, 4, 8, 16}) {
    if (n <= tp) continue;
    MemoryPlanInput t = in;
    t.tensor_parallel_size = n;
    const int64_t wn = weight_bytes(c, in.quantize_fp8, n);
    if (plan_basic(t, wn, tiles).fits) {
      // Said so: across GPUs it is not validated yet, and opt-in.
      a += "\n  --tensor-parallel-size " + std::to_string(n) + " (" + gib(wn) +
           " of weights per GPU; across GPUs not yet validated: SABLE_CUDA_TENSOR_PARALLEL=1)";
      break;
    }
  }
  const int64_t left = p.budget - p.weights - p.activations - p.graphs;
  if (left > 0 && dtype_size(in.kv_dtype) > 1) {
    // Half (or a quarter) the bytes per token: twice the context in the same memory.
    MemoryPlanInput k = in;
    k.kv_dtype = DType::F8_E4M3;
    const MemoryPlan kp = plan_basic(k, wb, tiles);
    a += "\n  --kv-cache-dtype fp8: " + std::to_string(kp.kv_per_token) + " bytes per token, " +
         std::to_string(kp.max_tokens) + " tokens" + (kp.fits ? " (fits)" : " (not enough alone)");
  }
  if (left > 0) {
    const int64_t len = left / p.kv_per_token / in.block_size * in.block_size;
    if (len >= 1024) a += "\n  --max-model-len " + std::to_string(len) + " (the longest request that fits)";
  }
  if (in.gpu_memory_utilization < 0.95) {
    MemoryPlanInput u = in;
    u.gpu_memory_utilization = 0.95;
    if (plan_basic(u, wb, tiles).fits) a += "\n  --gpu-memory-utilization 0.95";
  }
  if (in.max_num_batched_tokens > 2048) {
    MemoryPlanInput m = in;
    m.max_num_batched_tokens = 2048;
    if (plan_basic(m, wb, tiles).fits) a += "\n  --max-num-batched-tokens 2048 (smaller activation peak)";
  }
  p.advice = a;
  return p;
}

std::string MemoryPlan::to_string() const {
  std::string s;
  s += tensor_parallel_size > 1
           ? "memory plan (per GPU, " + std::to_string(tensor_parallel_size) + " tensor-parallel ranks):\n"
           : std::string("memory plan (per GPU):\n");
  s += "  budget        " + gib(budget) + "\n";
  s += "  weights       " + gib(weights);
  if (weight_tiles > 0)
    s += " (" + gib(weight_tiles) +
         " of it: FP8 dense weights again in the decode kernel's tiles; SABLE_STREAM_TILES=0 saves it)";
  s += "\n";
  s += "  activations   " + gib(activations) + " (peak of one step, estimated)\n";
  s += "  CUDA graphs   " + gib(graphs) + " (estimated; --max-num-seqs bounds them, --enforce-eager saves them)\n";
  s += "  KV cache      " + gib(std::max<int64_t>(kv, 0)) + ": " + std::to_string(num_blocks) + " blocks, " +
       std::to_string(max_tokens) + " tokens (" + std::to_string(kv_per_token) + " bytes per token)\n";
  s += "  max-model-len " + std::to_string(max_model_len) + (fits ? " fits" : " does NOT fit") + "\n";
  if (!fits) s += advice + "\n";
  return s;
}

}  // namespace sable
