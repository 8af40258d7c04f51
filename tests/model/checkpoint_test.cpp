// Checkpoint directories: the two fixtures (shapes, dtypes, FP8 scales, MTP
// tensors skipped, a weight and its scale in different shards), and one test
// per broken directory layout, each checking the message.
#include "model/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "broken_files_util.h"
#include "model/tensor_specs.h"

namespace sable {
namespace {

using json = nlohmann::json;
using sable_test::fixture_dir;
using sable_test::TempDir;
using sable_test::write_file;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

json fixture_index(const std::string& model) {
  return json::parse(sable_test::read_file(fixture_dir(model) + "/model.safetensors.index.json"));
}

TEST(Checkpoint, OpensTinyBf16Fixture) {
  auto ck = Checkpoint::open(fixture_dir("tiny-dsv3"));
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  const Checkpoint& c = **ck;
  EXPECT_EQ(c.config().hidden_size, 256);
  EXPECT_EQ(c.names().size(), fixture_index("tiny-dsv3")["weight_map"].size());
  EXPECT_EQ(c.names().size(), 139u);
  EXPECT_EQ(c.num_skipped_mtp_tensors(), 0u);
  const std::vector<std::string> names = c.names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));

  auto embed = c.get("model.embed_tokens.weight", {1024, 256});
  ASSERT_TRUE(embed.is_ok()) << embed.status().message();
  EXPECT_EQ(embed->dtype(), DType::BF16);
  EXPECT_NE(embed->owner(), nullptr);
  // Shapes the forward derives from config.json.
  const ModelConfig& m = c.config();
  const int64_t h = m.hidden_size, nh = m.num_attention_heads;
  struct Want { std::string name; Shape shape; DType dtype; };
  const std::vector<Want> wants = {
      {"lm_head.weight", {m.vocab_size, h}, DType::BF16},
      {"model.norm.weight", {h}, DType::BF16},
      {"model.layers.0.self_attn.q_a_proj.weight", {*m.q_lora_rank, h}, DType::BF16},
      {"model.layers.0.self_attn.q_b_proj.weight", {nh * m.qk_head_dim(), *m.q_lora_rank}, DType::BF16},
      {"model.layers.0.self_attn.kv_a_proj_with_mqa.weight", {m.kv_latent_dim(), h}, DType::BF16},
      {"model.layers.0.self_attn.kv_a_layernorm.weight", {m.kv_lora_rank}, DType::BF16},
      {"model.layers.1.self_attn.kv_b_proj.weight", {nh * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank},
       DType::BF16},
      {"model.layers.2.self_attn.o_proj.weight", {h, nh * m.v_head_dim}, DType::BF16},
      {"model.layers.0.mlp.gate_proj.weight", {m.intermediate_size, h}, DType::BF16},
      {"model.layers.1.mlp.gate.weight", {m.n_routed_experts, h}, DType::BF16},
      {"model.layers.1.mlp.gate.e_score_correction_bias", {m.n_routed_experts}, DType::F32},
      {"model.layers.2.mlp.experts.15.down_proj.weight", {h, m.moe_intermediate_size}, DType::BF16},
      {"model.layers.1.mlp.shared_experts.up_proj.weight", {m.moe_intermediate_size * m.n_shared_experts, h},
       DType::BF16},
  };
  for (const Want& w : wants) {
    auto t = c.get(w.name, w.shape);
    ASSERT_TRUE(t.is_ok()) << t.status().message();
    EXPECT_EQ(t->dtype(), w.dtype) << w.name;
  }
  EXPECT_EQ(c.file_of("lm_head.weight"), "model-00001-of-00002.safetensors");
  EXPECT_EQ(c.file_of("no.such.tensor"), "");
}

TEST(Checkpoint, OpensTinyFp8FixtureAndSkipsMtpLayer) {
  auto ck = Checkpoint::open(fixture_dir("tiny-dsv3-fp8"));
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  const Checkpoint& c = **ck;
  const json wm = fixture_index("tiny-dsv3-fp8")["weight_map"];
  size_t mtp = 0;
  for (auto it = wm.begin(); it != wm.end(); ++it) mtp += it.key().rfind("model.layers.3.", 0) == 0;
  ASSERT_GT(mtp, 0u);
  EXPECT_EQ(c.num_skipped_mtp_tensors(), mtp);
  EXPECT_EQ(c.names().size(), wm.size() - mtp);
  for (const std::string& n : c.names()) EXPECT_FALSE(contains(n, "model.layers.3.")) << n;
  // Skipped from the model, still readable for speculative decoding.
  EXPECT_TRUE(c.is_mtp_tensor("model.layers.3.eh_proj.weight"));
  EXPECT_FALSE(c.is_mtp_tensor("model.layers.2.mlp.gate.weight"));
  EXPECT_TRUE(c.get("model.layers.3.enorm.weight").is_ok());

  auto w = c.get("model.layers.0.self_attn.kv_b_proj.weight", {256, 64});
  ASSERT_TRUE(w.is_ok()) << w.status().message();
  EXPECT_EQ(w->dtype(), DType::F8_E4M3);
  struct Want { std::string weight; Shape scale; };
  // [ceil(out/128), ceil(in/128)], partial edge blocks included.
  const std::vector<Want> wants = {
      {"model.layers.0.self_attn.kv_b_proj.weight", {2, 1}},            // [256, 64]
      {"model.layers.0.self_attn.q_b_proj.weight", {2, 2}},             // [192, 192]
      {"model.layers.0.self_attn.kv_a_proj_with_mqa.weight", {1, 2}},   // [80, 256]
      {"model.layers.0.mlp.down_proj.weight", {2, 3}},                  // [256, 384]
      {"model.layers.1.mlp.experts.3.gate_proj.weight", {1, 2}},        // [96, 256]
      {"model.layers.1.mlp.experts.3.down_proj.weight", {2, 1}},        // [256, 96]
  };
  for (const Want& x : wants) {
    auto s = c.get_scale_inv(x.weight);
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    EXPECT_EQ(s->dtype(), DType::F32) << x.weight;
    EXPECT_EQ(s->shape(), x.scale) << x.weight;
    const Tensor w8 = *c.get(x.weight);
    EXPECT_EQ(s->shape(), fp8_scale_shape(w8.dim(0), w8.dim(1), 128, 128)) << x.weight;
  }
  // Router, norms and embeddings stay in higher precision.
  EXPECT_EQ(c.get("model.layers.1.mlp.gate.weight")->dtype(), DType::BF16);
  EXPECT_EQ(c.get("model.embed_tokens.weight")->dtype(), DType::BF16);
}

TEST(Checkpoint, ResolvesAWeightAndItsScaleInDifferentShards) {
  const json wm = fixture_index("tiny-dsv3-fp8")["weight_map"];
  std::string split;
  for (auto it = wm.begin(); it != wm.end() && split.empty(); ++it) {
    const std::string& n = it.key();
    const std::string suffix = "_scale_inv";
    if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::string weight = n.substr(0, n.size() - suffix.size());
      if (wm.at(weight) != *it) split = weight;
    }
  }
  ASSERT_FALSE(split.empty()) << "the fixture is meant to split a weight from its scale";
  auto ck = Checkpoint::open(fixture_dir("tiny-dsv3-fp8"));
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  EXPECT_NE((*ck)->file_of(split), (*ck)->file_of(split + "_scale_inv"));
  EXPECT_TRUE((*ck)->get(split).is_ok());
  EXPECT_TRUE((*ck)->get_scale_inv(split).is_ok());
}

TEST(Checkpoint, ShapeContradictingConfigNamesFileTensorAndBothShapes) {
  auto ck = Checkpoint::open(fixture_dir("tiny-dsv3"));
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  const std::string name = "model.layers.1.self_attn.kv_b_proj.weight";
  auto t = (*ck)->get(name, {192, 64});
  ASSERT_FALSE(t.is_ok());
  EXPECT_EQ(t.status().message(), (*ck)->file_of(name) + ": tensor '" + name +
                                       "' has shape [256, 64], but config.json implies [192, 64]");
}

TEST(Checkpoint, MissingTensorNamesTensorAndDirectory) {
  auto ck = Checkpoint::open(fixture_dir("tiny-dsv3"));
  ASSERT_TRUE(ck.is_ok());
  EXPECT_FALSE((*ck)->has("model.layers.9.mlp.gate.weight"));
  auto t = (*ck)->get("model.layers.9.mlp.gate.weight");
  ASSERT_FALSE(t.is_ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(t.status().message(), "tensor 'model.layers.9.mlp.gate.weight'"));
  EXPECT_TRUE(contains(t.status().message(), fixture_dir("tiny-dsv3")));
}

TEST(Checkpoint, LayerIndexOfParsesOnlyLayerNames) {
  EXPECT_EQ(layer_index_of("model.layers.12.mlp.gate.weight"), 12);
  EXPECT_EQ(layer_index_of("model.layers.0.x"), 0);
  EXPECT_EQ(layer_index_of("model.embed_tokens.weight"), -1);
  EXPECT_EQ(layer_index_of("model.layers.x.y"), -1);
  EXPECT_EQ(layer_index_of("model.layers.7"), -1);
  EXPECT_EQ(layer_index_of("model.layers.99999999999999.a"), -1);
}

// ---- Small hand-built checkpoints ----------------------------------------

// A checkpoint directory with the tiny config and whatever shards a test writes.
class CheckpointDir : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = sable_test::read_file(fixture_dir("tiny-dsv3") + "/config.json");
    write_file(tmp_.file("config.json"), config_);
  }
  std::string path(const std::string& name) const { return tmp_.file(name); }
  void shard(const std::string& name, const std::vector<std::pair<std::string, Tensor>>& ts) {
    ASSERT_TRUE(write_safetensors(path(name), ts).is_ok());
  }
  void index(const json& weight_map) {
    write_file(path("model.safetensors.index.json"),
               json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}.dump());
  }
  std::string open_error() {
    auto ck = Checkpoint::open(tmp_.path());
    EXPECT_FALSE(ck.is_ok());
    return ck.is_ok() ? std::string() : ck.status().message();
  }

  TempDir tmp_;
  std::string config_;
};

TEST_F(CheckpointDir, SingleFileCheckpointOpens) {
  shard("model.safetensors", {{"model.norm.weight", Tensor::zeros(DType::BF16, {256})},
                              {"model.layers.3.enorm.weight", Tensor::zeros(DType::BF16, {256})}});
  auto ck = Checkpoint::open(tmp_.path());
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  EXPECT_EQ((*ck)->names(), std::vector<std::string>{"model.norm.weight"});
  EXPECT_EQ((*ck)->num_skipped_mtp_tensors(), 1u);
  EXPECT_EQ((*ck)->file_of("model.norm.weight"), "model.safetensors");
}

TEST_F(CheckpointDir, MissingConfigJson) {
  std::filesystem::remove(path("config.json"));
  shard("model.safetensors", {{"model.norm.weight", Tensor::zeros(DType::BF16, {256})}});
  std::string msg = open_error();
  EXPECT_TRUE(contains(msg, tmp_.path() + ": no config.json")) << msg;
}

TEST_F(CheckpointDir, BrokenConfigJsonNamesItsPath) {
  write_file(path("config.json"), R"({"model_type": "deepseek_v3"})");
  shard("model.safetensors", {{"model.norm.weight", Tensor::zeros(DType::BF16, {256})}});
  std::string msg = open_error();
  EXPECT_TRUE(contains(msg, path("config.json") + ": field 'vocab_size' is missing")) << msg;
}

TEST_F(CheckpointDir, NoWeightsAtAll) {
  std::string msg = open_error();
  EXPECT_TRUE(contains(msg, "no weights")) << msg;
  EXPECT_TRUE(contains(msg, "model.safetensors.index.json")) << msg;
}

TEST_F(CheckpointDir, SingleFileWithoutTensors) {
  shard("model.safetensors", {});
  std::string msg = open_error();
  EXPECT_TRUE(contains(msg, path("model.safetensors") + ": holds no tensors")) << msg;
}

TEST_F(CheckpointDir, IndexNamesAMissingShard) {
  shard("model-00001-of-00002.safetensors", {{"model.norm.weight", Tensor::zeros(DType::BF16, {256})}});
  index({{"model.norm.weight", "model-00001-of-00002.safetensors"},
         {"lm_head.weight", "model-00002-of-00002.safetensors"}});
  std::string msg = open_error();
  EXPECT_TRUE(contains(msg, path("model.safetensors.index.json") +
                                " names shard 'model-00002-of-00002.safetensors', which does not exist"))
      << msg;
}

TEST_F(CheckpointDir, IndexMapsATensorToAShardThatLacksIt) {
  shard("model-00001-of-00002.safetensors", {{"model.norm.weight", Tensor::zeros(DType::BF16, {256})}});
  shard("model-00002-of-00002.safetensors", {{"lm_head.weight", Tensor::zeros(DType::BF16, {1024, 256})}});
  index({{"model.norm.weight", "model-00002-of-00002.safetensors"},
         {"lm_head.weight", "model-00002-of-00002.safetensors"}});
  std::string msg = open_error();
  EXPECT_TRUE(contains(msg, "model.safetensors.index.json maps tensor 'model.norm.weight' to "
                            "model-00002-of-00002.safetensors, which has no tensor of that name"))
      << msg;
}

TEST_F(CheckpointDir, MalformedIndex) {
  write_file(path("model.safetensors.index.json"), "{\"weight_map\": {");
  std::string msg = open_error();
  EXPECT_TRUE(contains(msg, path("model.safetensors.index.json") + ": malformed JSON")) << msg;
}

TEST_F(CheckpointDir, IndexWithoutWeightMap) {
  write_file(path("model.safetensors.index.json"), R"({"metadata": {}})");
  std::string msg = open_error();
  EXPECT_TRUE(contains(msg, "model.safetensors.index.json: field 'weight_map' is missing")) << msg;
}

TEST_F(CheckpointDir, EmptyWeightMap) {
  index(json::object());
  std::string msg = open_error();
  EXPECT_TRUE(contains(msg, "weight_map is empty; no weights")) << msg;
}

TEST_F(CheckpointDir, IndexShardOutsideTheDirectory) {
  index({{"model.norm.weight", "../elsewhere.safetensors"}});
  std::string msg = open_error();
  EXPECT_TRUE(contains(msg, "'../elsewhere.safetensors', which is not a file name inside")) << msg;
}

TEST_F(CheckpointDir, BrokenShardNamesTheShardAndTensor) {
  sable_test::write_raw_safetensors(path("model-00001-of-00001.safetensors"),
                                    R"({"model.norm.weight":{"dtype":"BF16","shape":[256],"data_offsets":[0,512]}})",
                                    std::string(100, '\0'));
  index({{"model.norm.weight", "model-00001-of-00001.safetensors"}});
  std::string msg = open_error();
  EXPECT_TRUE(contains(msg, path("model-00001-of-00001.safetensors"))) << msg;
  EXPECT_TRUE(contains(msg, "tensor 'model.norm.weight'")) << msg;
  EXPECT_TRUE(contains(msg, "outside the data section")) << msg;
}

TEST_F(CheckpointDir, Fp8WeightWithoutScale) {
  shard("model.safetensors", {{"model.layers.0.mlp.down_proj.weight", Tensor::zeros(DType::F8_E4M3, {256, 384})}});
  std::string msg = open_error();
  EXPECT_TRUE(contains(msg, "tensor 'model.layers.0.mlp.down_proj.weight' has no scale "
                            "'model.layers.0.mlp.down_proj.weight_scale_inv'"))
      << msg;
}

TEST_F(CheckpointDir, Fp8ScaleOfTheWrongShape) {
  shard("model.safetensors", {{"model.layers.0.mlp.down_proj.weight", Tensor::zeros(DType::F8_E4M3, {256, 384})},
                              {"model.layers.0.mlp.down_proj.weight_scale_inv", Tensor::zeros(DType::F32, {2, 2})}});
  std::string msg = open_error();
  EXPECT_TRUE(contains(msg, "model.safetensors: tensor 'model.layers.0.mlp.down_proj.weight_scale_inv' has shape "
                            "[2, 2], but weight 'model.layers.0.mlp.down_proj.weight' [256, 384] with 128x128 "
                            "blocks"))
      << msg;
  EXPECT_TRUE(contains(msg, "implies [2, 3]")) << msg;
}

TEST_F(CheckpointDir, Fp8ScaleOfTheWrongDtype) {
  shard("model.safetensors", {{"model.layers.0.mlp.down_proj.weight", Tensor::zeros(DType::F8_E4M3, {256, 384})},
                              {"model.layers.0.mlp.down_proj.weight_scale_inv", Tensor::zeros(DType::BF16, {2, 3})}});
  std::string msg = open_error();
  EXPECT_TRUE(contains(msg, "tensor 'model.layers.0.mlp.down_proj.weight_scale_inv' has dtype BF16")) << msg;
}

TEST(CheckpointOpen, MissingDirectory) {
  TempDir tmp;
  auto ck = Checkpoint::open(tmp.file("nope"));
  ASSERT_FALSE(ck.is_ok());
  EXPECT_EQ(ck.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(ck.status().message(), tmp.file("nope") + ": no such directory"));
}

TEST(CheckpointOpen, FileInsteadOfDirectory) {
  auto ck = Checkpoint::open(fixture_dir("tiny-dsv3") + "/config.json");
  ASSERT_FALSE(ck.is_ok());
  EXPECT_TRUE(contains(ck.status().message(), "not a directory")) << ck.status().message();
}

}  // namespace
}  // namespace sable
