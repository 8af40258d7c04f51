// The memory planner on the real DeepSeek-V3 config: what fits on an H200,
// and the advice when it does not.
#include "runner/memory_planner.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "backend/mla_splits.h"
#include "model/presets.h"

namespace sable {
namespace {

constexpr int64_t kH200 = int64_t(141) * 1000 * 1000 * 1000;

MemoryPlanInput dsv3(bool fp8_ckpt) {
  MemoryPlanInput in;
  in.config = *preset_config("dsv3", 0, fp8_ckpt);
  in.device_memory = kH200;
  return in;
}

TEST(MemoryPlanner, WeightBytesOfTheRealModel) {
  // The main model has 671B parameters (the MTP module's 14B come on top):
  // 1.342 TB in bf16, about half of that in FP8 (embedding, lm_head, norms
  // and the routers stay bf16).
  const int64_t bf16 = weight_bytes(*preset_config("dsv3"), false);
  const int64_t fp8 = weight_bytes(*preset_config("dsv3", 0, true), false);
  EXPECT_NEAR(double(bf16) / 1e12, 1.342, 0.005);
  EXPECT_NEAR(double(fp8) / 1e9, 660, 25);
  EXPECT_EQ(weight_bytes(*preset_config("dsv3"), true), fp8);
}

TEST(MemoryPlanner, ARankHoldsItsPartAndTheReplicatedTensorsWhole) {
  // At 8 ranks every rank also holds the whole of q_a | kv_a (61 x 15.1 MB
  // FP8) and the routers (58 x 3.7 MB bf16); the embedding splits by rows.
  const ModelConfig c = *preset_config("dsv3", 0, true);
  const int64_t whole = weight_bytes(c, false), rank = weight_bytes(c, false, 8);
  EXPECT_EQ(weight_bytes(c, false, 1), whole);
  const double replicated = 61 * 2112.0 * 7168 + 58 * 256.0 * 7168 * 2;
  EXPECT_NEAR(double(rank - whole / 8) / 1e9, replicated * 7 / 8 / 1e9, 0.1);
}

TEST(MemoryPlanner, Fp8OnEightH200sFits) {
  MemoryPlanInput in = dsv3(true);
  in.tensor_parallel_size = 8;
  in.max_model_len = 32768;
  MemoryPlan p = plan_memory(in);
  EXPECT_TRUE(p.fits) << p.to_string();
  EXPECT_GT(p.max_tokens, 100000);
}

TEST(MemoryPlanner, CountsTheFp8StreamTiles) {
  // DeepSeek-V3's FP8 dense linears (attention projections but kv_b_proj,
  // the three dense MLPs): ~11.6 B parameters, held once more in the
  // streaming kernel's tiles; none for a BF16 model.
  EXPECT_NEAR(double(fp8_stream_tile_bytes(*preset_config("dsv3", 0, true), false)) / 1e9, 11.7, 1.0);
  EXPECT_EQ(fp8_stream_tile_bytes(*preset_config("dsv3"), true),
            fp8_stream_tile_bytes(*preset_config("dsv3", 0, true), false));
  EXPECT_EQ(fp8_stream_tile_bytes(*preset_config("dsv3"), false), 0);
  MemoryPlanInput in = dsv3(true);
  in.tensor_parallel_size = 8;
  in.max_model_len = 32768;
  in.fp8_stream_tiles = true;
  const MemoryPlan with = plan_memory(in);
  in.fp8_stream_tiles = false;
  const MemoryPlan without = plan_memory(in);
  EXPECT_EQ(without.weight_tiles, 0);
  EXPECT_EQ(with.weight_tiles, fp8_stream_tile_bytes(in.config, false) / 8);
  EXPECT_EQ(with.weights - without.weights, with.weight_tiles);
  EXPECT_LT(with.max_tokens, without.max_tokens);
  EXPECT_NE(with.to_string().find("SABLE_STREAM_TILES=0"), std::string::npos) << with.to_string();
}

TEST(MemoryPlanner, OneGpuIsRefusedWithAdvice) {
  MemoryPlanInput in = dsv3(false);
  MemoryPlan p = plan_memory(in);
  EXPECT_FALSE(p.fits);
  EXPECT_NE(p.advice.find("missing"), std::string::npos);
  EXPECT_NE(p.advice.find("--quantization fp8"), std::string::npos);
  EXPECT_NE(p.advice.find("--tensor-parallel-size 16"), std::string::npos) << p.advice;
}

TEST(MemoryPlanner, SuggestsAShorterMaxModelLen) {
  MemoryPlanInput in;
  in.config = *preset_config("dsv3-slice", 8);
  in.device_memory = kH200;
  in.max_model_len = 163840;
  in.max_num_batched_tokens = 2048;
  in.max_num_seqs = 16;
  // 8 layers of bf16 at real shapes: ~150 GB of weights do not fit at all.
  MemoryPlan p = plan_memory(in);
  EXPECT_FALSE(p.fits);
  in.config = *preset_config("dsv3-slice", 5);
  in.gpu_memory_utilization = 0.75;
  p = plan_memory(in);
  if (!p.fits) EXPECT_NE(p.advice.find("--max-model-len"), std::string::npos) << p.advice;
}

// Where the weights fit but one request's KV cache does not, an FP8 latent
// cache (1 byte per value instead of 2) is offered with what it holds.
TEST(MemoryPlanner, SuggestsAnFp8KvCache) {
  MemoryPlanInput in = dsv3(true);
  in.tensor_parallel_size = 8;
  in.gpu_memory_utilization = 0.7;
  MemoryPlanInput f = in;
  f.kv_dtype = DType::F8_E4M3;
  const int64_t t16 = plan_memory(in).max_tokens, t8 = plan_memory(f).max_tokens, kv8 = plan_memory(f).kv_per_token;
  ASSERT_GT(t16, 1000);
  EXPECT_NEAR(double(t8) / double(t16), 2.0, 0.01);
  in.max_model_len = int((t16 + t8) / 2);
  const MemoryPlan p = plan_memory(in);
  EXPECT_FALSE(p.fits);
  // The advice's token count is the FP8 plan's at the same --max-model-len
  // (the split partials in the activation peak depend on it).
  f.max_model_len = in.max_model_len;
  const MemoryPlan p8 = plan_memory(f);
  EXPECT_TRUE(p8.fits);
  EXPECT_NE(p.advice.find("--kv-cache-dtype fp8: " + std::to_string(kv8) + " bytes per token, " +
                          std::to_string(p8.max_tokens) + " tokens (fits)"),
            std::string::npos)
      << p.advice;
  // Already FP8: nothing to offer there.
  f.max_model_len = int(t8 + 4096);
  EXPECT_EQ(plan_memory(f).advice.find("--kv-cache-dtype"), std::string::npos);
}

}  // namespace
}  // namespace sable

namespace sable {
namespace {

TEST(MemoryPlanner, SpeculativeRowsOfLogitsAreCounted) {
  // Each sequence's k + 1 rows of vocabulary logits (F32) under speculative
  // decoding: 256 sequences x 3 rows x 129,280 x 4 bytes, twice, on top; and
  // an eager decode call of up to 768 rows rather than 256, whose most split
  // partials (16 heads a rank) may differ.
  MemoryPlanInput in;
  in.config = *preset_config("dsv3", 0, true);
  in.device_memory = int64_t(141) << 30;
  in.max_num_seqs = 256;
  in.tensor_parallel_size = 8;
  const MemoryPlan one = plan_memory(in);
  in.logits_rows_per_seq = 3;
  const MemoryPlan spec = plan_memory(in);
  auto most_partials = [&](int rows) {
    int64_t most = 0;
    for (int t = 1; t <= rows; ++t)
      most =
          std::max(most, mla_decode_partial_bytes(t, 16, in.config.kv_lora_rank, int(in.config.max_position_embeddings),
                                                  in.gpu_multiprocessors, MlaSplitRule::kEager));
    return most;
  };
  const int64_t extra =
      (int64_t(256) * 2 * in.config.vocab_size * 4 * 2 + most_partials(768) - most_partials(256)) * 5 / 4;
  EXPECT_NEAR(double(spec.activations - one.activations), double(extra), 1e6);
  EXPECT_EQ(spec.weights, one.weights);
}

// The runner's CUDA graphs (the shapes it captures are these: ModelRunner
// takes them from cuda_graph_shapes) and their memory, which the KV budget
// leaves out.
TEST(MemoryPlanner, CudaGraphShapesFollowTheRunnersLimits) {
  auto count = [](const std::vector<CudaGraphShape>& v, bool mtp, int q) {
    return std::count_if(v.begin(), v.end(), [&](const CudaGraphShape& g) { return g.mtp == mtp && g.q == q; });
  };
  // Decode only: batches 8, 4, 2, 1, largest first.
  const auto plain = cuda_graph_shapes(8, 8192, 0, true);
  ASSERT_EQ(plain.size(), 4u);
  EXPECT_EQ(plain.front().batch, 8);
  EXPECT_EQ(plain.back().batch, 1);
  EXPECT_EQ(count(plain, true, 1), 0);  // no drafts: no MTP graphs
  // 256 sequences, 3 drafts: verification graphs up to 512 tokens (batch
  // 128), and the MTP's at every shape after the model's.
  const auto spec = cuda_graph_shapes(256, 8192, 3, true);
  EXPECT_EQ(count(spec, false, 1), 15);
  EXPECT_EQ(count(spec, false, 4), 11);
  EXPECT_EQ(count(spec, true, 1), 15);
  EXPECT_EQ(count(spec, true, 4), 11);
  for (const CudaGraphShape& g : spec) EXPECT_TRUE(g.q == 1 || g.batch * g.q <= 512) << g.batch;
  EXPECT_FALSE(spec.front().mtp);
  EXPECT_TRUE(spec.back().mtp);
  // n-gram drafts (no MTP module), and a token budget below 512.
  const auto ngram = cuda_graph_shapes(256, 256, 3, false);
  EXPECT_EQ(count(ngram, true, 1) + count(ngram, true, 4), 0);
  for (const CudaGraphShape& g : ngram) EXPECT_TRUE(g.q == 1 || g.batch * g.q <= 256) << g.batch;
}

TEST(MemoryPlanner, CudaGraphsShareTheirPoolAndLogits) {
  const ModelConfig c = *preset_config("dsv3", 0, true);
  const int64_t hidden = int64_t(c.hidden_size) * 4;
  const int64_t setup = int64_t(160) << 20;  // once a set of graphs: the first capture's library state
  // Graphs for 32 keys: MLA decode never splits them (no partials).
  auto bytes = [&](const std::vector<CudaGraphShape>& shapes) {
    return cuda_graph_bytes(c, shapes, 8, 32, 132, MlaSplitRule::kGraph);
  };
  const int64_t b256 = bytes({{1, 256, false}}), b1 = bytes({{1, 1, false}});
  // The batch-1 decode graph reuses the batch-256 one's activations and
  // writes its logits into the same buffer: only its kept hidden state adds.
  EXPECT_EQ(bytes({{1, 256, false}, {1, 1, false}}), b256 + hidden);
  // The MTP's steps are a kind of their own (activations and a logits buffer).
  EXPECT_EQ(bytes({{1, 1, false}, {1, 1, true}}), 2 * b1 - setup);
  EXPECT_EQ(bytes({}), 0);
  // The plan: the graphs of 3 MTP drafts cost more than decode graphs alone,
  // and --enforce-eager none.
  MemoryPlanInput in;
  in.config = c;
  in.device_memory = int64_t(141) << 30;
  in.tensor_parallel_size = 8;
  const MemoryPlan plain = plan_memory(in);
  EXPECT_EQ(plain.graphs, cuda_graph_bytes(c, cuda_graph_shapes(256, 8192, 0, false), 8, int(c.max_position_embeddings),
                                           132, MlaSplitRule::kGraph));
  in.logits_rows_per_seq = 4;
  in.mtp = true;
  const MemoryPlan spec = plan_memory(in);
  EXPECT_GT(spec.graphs, plain.graphs);
  EXPECT_EQ(spec.kv + spec.graphs + spec.activations, plain.kv + plain.graphs + plain.activations);
  in.cuda_graphs = false;
  EXPECT_EQ(plan_memory(in).graphs, 0);
}

// MLA decode's split partials (S x T x H x 513 f32) are not a token's live
// activations: DeepSeek-V3 on one GPU at 163,840 keys gives 64 sequences 33
// splits, 0.52 GiB, which the plan used to leave out.
TEST(MemoryPlanner, CountsMlaSplitPartials) {
  const ModelConfig c = *preset_config("dsv3", 0, true);
  const int max_len = 163840;
  const int64_t part64 = int64_t(33) * 64 * 128 * 513 * 4;
  EXPECT_EQ(mla_decode_partial_bytes(64, 128, c.kv_lora_rank, max_len, 132, MlaSplitRule::kEager), part64);
  EXPECT_NEAR(double(part64) / double(1 << 30), 0.52, 0.01);
  // Graphs: each kind holds partials split by the rule the graphs run, with
  // the eager peak's margin: its largest graph's by the graph rule (the
  // default), the sum of its graphs' by the eager rule (the CUDA knob
  // mla-graph-splits at 0), whose sizes the pool did not reuse; a graph of
  // 256 sequences does not split.
  for (MlaSplitRule rule : {MlaSplitRule::kEager, MlaSplitRule::kGraph}) {
    SCOPED_TRACE(rule == MlaSplitRule::kEager ? "eager rule" : "graph rule");
    int64_t most = 0, sum = 0;
    for (int t : {256, 64, 32, 1}) {
      const int64_t p = mla_decode_partial_bytes(t, 128, c.kv_lora_rank, max_len, 132, rule);
      most = std::max(most, p);
      sum += p;
    }
    const std::vector<CudaGraphShape> shapes = {{1, 256, false}, {1, 64, false}, {1, 32, false}, {1, 1, false}};
    const int64_t with = cuda_graph_bytes(c, shapes, 1, max_len, 132, rule);
    const int64_t without = cuda_graph_bytes(c, shapes, 1, 32, 132, rule);
    EXPECT_NEAR(double(with - without), double((rule == MlaSplitRule::kGraph ? most : sum) * 5 / 4), 1.0);
    EXPECT_EQ(cuda_graph_bytes(c, {{1, 256, false}}, 1, max_len, 132, rule),
              cuda_graph_bytes(c, {{1, 256, false}}, 1, 32, 132, rule));
  }
  // An eager step: the most of any batch up to max_num_seqs.
  const int64_t eager =
      activation_peak_bytes(c, 8192, 256, 1, max_len, 132) - activation_peak_bytes(c, 8192, 256, 1, 32, 132);
  EXPECT_GE(eager, part64 * 5 / 4 - 1);
  EXPECT_LT(eager, int64_t(2) << 30);
  // The plan carries both, for the GPU's SMs: one with more splits larger
  // batches (those with fewer work units than SMs).
  MemoryPlanInput in;
  in.config = c;
  in.quantize_fp8 = true;
  in.device_memory = int64_t(141) << 30;
  in.max_model_len = max_len;
  in.tensor_parallel_size = 8;
  const MemoryPlan h200 = plan_memory(in);
  EXPECT_EQ(h200.graphs,
            cuda_graph_bytes(c, cuda_graph_shapes(256, 8192, 0, false), 8, max_len, 132, MlaSplitRule::kGraph));
  // With the knob at 0 the graphs split by the eager rule: more partials
  // (33 splits at 64 sequences on one GPU, the graph rule fewer), taken from
  // the KV cache.
  in.tensor_parallel_size = 1;
  const MemoryPlan one = plan_memory(in);
  in.graph_split_rule = MlaSplitRule::kEager;
  const MemoryPlan one_eager = plan_memory(in);
  EXPECT_EQ(one_eager.graphs,
            cuda_graph_bytes(c, cuda_graph_shapes(256, 8192, 0, false), 1, max_len, 132, MlaSplitRule::kEager));
  EXPECT_GT(one_eager.graphs - one.graphs, part64 / 2);
  EXPECT_EQ(one_eager.kv + one_eager.graphs, one.kv + one.graphs);
  in.graph_split_rule = MlaSplitRule::kGraph;
  in.tensor_parallel_size = 8;
  in.gpu_multiprocessors = 1000;
  const MemoryPlan wide = plan_memory(in);
  EXPECT_EQ(wide.graphs,
            cuda_graph_bytes(c, cuda_graph_shapes(256, 8192, 0, false), 8, max_len, 1000, MlaSplitRule::kGraph));
  EXPECT_EQ(wide.activations, activation_peak_bytes(c, 8192, 256, 8, max_len, 1000));
  EXPECT_GT(wide.graphs + wide.activations, h200.graphs + h200.activations);
}

}  // namespace
}  // namespace sable
