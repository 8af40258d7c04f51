// config.json parsing: the fixtures' values, transformers' defaults for
// optional fields, the round trip through model_config_to_json, and one test
// per kind of broken config, each checking the field and the problem named.
#include "model/config.h"

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "broken_files_util.h"

namespace sable {
namespace {

using json = nlohmann::json;

std::string fixture_config(const std::string& model) {
  return sable_test::read_file(sable_test::fixture_dir(model) + "/config.json");
}

// Only what the parser insists on; everything else takes a default.
json minimal_config() {
  return json{{"model_type", "deepseek_v3"}, {"vocab_size", 1000},        {"hidden_size", 64},
              {"intermediate_size", 128},    {"moe_intermediate_size", 32}, {"num_hidden_layers", 4},
              {"num_attention_heads", 2},    {"n_routed_experts", 16},    {"num_experts_per_tok", 4},
              {"kv_lora_rank", 32},          {"q_lora_rank", nullptr},    {"qk_rope_head_dim", 8},
              {"qk_nope_head_dim", 16},      {"v_head_dim", 16}};
}

TEST(ModelConfig, ParsesTinyFixture) {
  auto c = parse_model_config(fixture_config("tiny-dsv3"), "config.json");
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  EXPECT_EQ(c->model_type, "deepseek_v3");
  EXPECT_EQ(c->vocab_size, 1024);
  EXPECT_EQ(c->hidden_size, 256);
  EXPECT_EQ(c->intermediate_size, 384);
  EXPECT_EQ(c->moe_intermediate_size, 96);
  EXPECT_EQ(c->num_hidden_layers, 3);
  EXPECT_EQ(c->num_nextn_predict_layers, 0);
  EXPECT_EQ(c->num_attention_heads, 4);
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_EQ(c->n_shared_experts, 1);
  EXPECT_EQ(c->n_routed_experts, 16);
  EXPECT_DOUBLE_EQ(c->routed_scaling_factor, 2.5);
  EXPECT_EQ(c->kv_lora_rank, 64);
  ASSERT_TRUE(c->q_lora_rank.has_value());
  EXPECT_EQ(*c->q_lora_rank, 192);
  EXPECT_EQ(c->qk_rope_head_dim, 16);
  EXPECT_EQ(c->qk_nope_head_dim, 32);
  EXPECT_EQ(c->v_head_dim, 32);
  EXPECT_EQ(c->qk_head_dim(), 48);
  EXPECT_EQ(c->kv_latent_dim(), 80);
  EXPECT_EQ(c->n_group, 4);
  EXPECT_EQ(c->topk_group, 2);
  EXPECT_EQ(c->num_experts_per_tok, 4);
  EXPECT_EQ(c->first_k_dense_replace, 1);
  EXPECT_FALSE(c->is_moe_layer(0));
  EXPECT_TRUE(c->is_moe_layer(1));
  EXPECT_TRUE(c->is_moe_layer(2));
  EXPECT_TRUE(c->norm_topk_prob);
  EXPECT_EQ(c->max_position_embeddings, 2560);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);
  EXPECT_TRUE(c->rope_interleave);
  EXPECT_EQ(c->rope_scaling.type, "yarn");
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 40.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 64);
  EXPECT_DOUBLE_EQ(c->rope_scaling.beta_fast, 32.0);
  EXPECT_DOUBLE_EQ(c->rope_scaling.beta_slow, 1.0);
  EXPECT_EQ(c->rope_scaling.mscale, 1.0);
  EXPECT_EQ(c->rope_scaling.mscale_all_dim, 1.0);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_EQ(c->bos_token_id, 0);
  EXPECT_EQ(c->eos_token_id, 1);
  EXPECT_FALSE(c->quantization.is_fp8());
  // mscale == mscale_all_dim: cos/sin unscaled, softmax scaled by mscale^2.
  const double m = 0.1 * std::log(40.0) + 1.0;
  EXPECT_DOUBLE_EQ(c->rope_scaling.cos_sin_scale(), 1.0);
  EXPECT_DOUBLE_EQ(c->rope_scaling.softmax_scale_multiplier(), m * m);
  EXPECT_DOUBLE_EQ(c->softmax_scale(), m * m / std::sqrt(48.0));
}

TEST(ModelConfig, ParsesFp8Fixture) {
  auto c = parse_model_config(fixture_config("tiny-dsv3-fp8"), "config.json");
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  EXPECT_TRUE(c->quantization.is_fp8());
  EXPECT_EQ(c->quantization.fmt, "e4m3");
  EXPECT_EQ(c->quantization.activation_scheme, "dynamic");
  EXPECT_EQ(c->quantization.block_out, 128);
  EXPECT_EQ(c->quantization.block_in, 128);
  EXPECT_EQ(c->num_nextn_predict_layers, 1);
}

TEST(ModelConfig, OptionalFieldsTakeTransformersDefaults) {
  auto c = parse_model_config(minimal_config().dump(), "config.json");
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  EXPECT_FALSE(c->q_lora_rank.has_value());
  EXPECT_EQ(c->num_key_value_heads, 2);  // = num_attention_heads
  EXPECT_EQ(c->n_shared_experts, 1);
  EXPECT_DOUBLE_EQ(c->routed_scaling_factor, 2.5);
  EXPECT_EQ(c->n_group, 8);
  EXPECT_EQ(c->topk_group, 4);
  EXPECT_EQ(c->first_k_dense_replace, 3);
  EXPECT_EQ(c->moe_layer_freq, 1);
  EXPECT_EQ(c->num_nextn_predict_layers, 1);
  EXPECT_TRUE(c->norm_topk_prob);
  EXPECT_EQ(c->topk_method, "noaux_tc");
  EXPECT_EQ(c->scoring_func, "sigmoid");
  EXPECT_EQ(c->hidden_act, "silu");
  EXPECT_EQ(c->max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);
  EXPECT_TRUE(c->rope_interleave);
  EXPECT_EQ(c->rope_scaling.type, "default");
  EXPECT_DOUBLE_EQ(c->rope_scaling.cos_sin_scale(), 1.0);
  EXPECT_DOUBLE_EQ(c->softmax_scale(), 1.0 / std::sqrt(24.0));
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->bos_token_id, 0);
  EXPECT_EQ(c->eos_token_id, 1);
  EXPECT_FALSE(c->quantization.is_fp8());
}

TEST(ModelConfig, AcceptsRopeParametersAndRopeType) {
  json j = minimal_config();
  j["max_position_embeddings"] = 8192;
  j["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 4}, {"rope_theta", 50000.0},
                          {"original_max_position_embeddings", 2048}, {"mscale_all_dim", 0.707}};
  auto c = parse_model_config(j.dump(), "config.json");
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  EXPECT_TRUE(c->rope_scaling.is_yarn());
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 4.0);
  EXPECT_DOUBLE_EQ(c->rope_theta, 50000.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 2048);
  // No mscale: transformers takes the attention factor from the factor alone.
  EXPECT_FALSE(c->rope_scaling.mscale.has_value());
  EXPECT_DOUBLE_EQ(c->rope_scaling.cos_sin_scale(), 0.1 * std::log(4.0) + 1.0);
  const double m = 0.1 * 0.707 * std::log(4.0) + 1.0;
  EXPECT_DOUBLE_EQ(c->rope_scaling.softmax_scale_multiplier(), m * m);

  // Legacy "type" spelling, original_max_position_embeddings falling back to
  // max_position_embeddings.
  j.erase("rope_parameters");
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 2.0}};
  c = parse_model_config(j.dump(), "config.json");
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  EXPECT_TRUE(c->rope_scaling.is_yarn());
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
}

TEST(ModelConfig, EosListAndNullIdsAndUnknownFields) {
  json j = minimal_config();
  j["eos_token_id"] = {7, 9};
  j["bos_token_id"] = nullptr;
  j["some_future_field"] = {{"anything", true}};
  j["num_mtp_layers"] = 0;
  auto c = parse_model_config(j.dump(), "config.json");
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  EXPECT_EQ(c->eos_token_id, 7);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{7, 9}));
  EXPECT_FALSE(c->bos_token_id.has_value());
  EXPECT_EQ(c->num_nextn_predict_layers, 0);
}

TEST(ModelConfig, RoundTripsThroughJson) {
  for (const char* model : {"tiny-dsv3", "tiny-dsv3-fp8"}) {
    auto a = parse_model_config(fixture_config(model), "config.json");
    ASSERT_TRUE(a.is_ok()) << a.status().message();
    std::string text = model_config_to_json(*a);
    auto b = parse_model_config(text, "written config.json");
    ASSERT_TRUE(b.is_ok()) << b.status().message() << "\n" << text;
    // Same JSON again means every field survived.
    EXPECT_EQ(model_config_to_json(*b), text) << model;
    EXPECT_EQ(b->q_lora_rank, a->q_lora_rank);
    EXPECT_EQ(b->quantization.is_fp8(), a->quantization.is_fp8());
    EXPECT_DOUBLE_EQ(b->softmax_scale(), a->softmax_scale());
    EXPECT_DOUBLE_EQ(b->rope_scaling.cos_sin_scale(), a->rope_scaling.cos_sin_scale());
  }
  json j = minimal_config();
  j["eos_token_id"] = {3, 4};
  auto a = parse_model_config(j.dump(), "config.json");
  ASSERT_TRUE(a.is_ok());
  auto b = parse_model_config(model_config_to_json(*a), "config.json");
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  EXPECT_FALSE(b->q_lora_rank.has_value());
  EXPECT_EQ(b->eos_token_ids, (std::vector<int64_t>{3, 4}));
}

TEST(ModelConfig, ValidatesConfigsBuiltInCode) {
  auto c = parse_model_config(fixture_config("tiny-dsv3"), "config.json");
  ASSERT_TRUE(c.is_ok());
  EXPECT_TRUE(validate_model_config(*c, "preset tiny").is_ok());
  ModelConfig bad = *c;
  bad.hidden_size = -3;
  Status s = validate_model_config(bad, "preset tiny");
  EXPECT_EQ(s.message(), "preset tiny: field 'hidden_size' must be a positive integer, got -3");
}

TEST(ModelConfig, LoadReportsAMissingFile) {
  sable_test::TempDir tmp;
  auto c = load_model_config(tmp.file("config.json"));
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find(tmp.file("config.json")), std::string::npos);
}

TEST(ModelConfig, LoadNamesThePathInErrors) {
  sable_test::TempDir tmp;
  json j = minimal_config();
  j.erase("hidden_size");
  sable_test::write_file(tmp.file("config.json"), j.dump());
  auto c = load_model_config(tmp.file("config.json"));
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().message(), tmp.file("config.json") + ": field 'hidden_size' is missing");
}

// ---- Broken configs ------------------------------------------------------

struct BrokenConfig {
  const char* test_name;
  std::function<void(json&)> edit;      // applied to the tiny-dsv3 config
  std::vector<std::string> expected;    // every one must appear in the message
};

std::vector<BrokenConfig> broken_configs() {
  return {
      {"MissingHiddenSize", [](json& j) { j.erase("hidden_size"); },
       {"config.json: field 'hidden_size' is missing"}},
      {"NegativeHiddenSize", [](json& j) { j["hidden_size"] = -3; },
       {"config.json: field 'hidden_size' must be a positive integer, got -3"}},
      {"ZeroLayers", [](json& j) { j["num_hidden_layers"] = 0; },
       {"field 'num_hidden_layers' must be a positive integer, got 0"}},
      {"FractionalVocab", [](json& j) { j["vocab_size"] = 1024.5; },
       {"field 'vocab_size' must be a positive integer, got 1024.5"}},
      {"StringHeads", [](json& j) { j["num_attention_heads"] = "4"; },
       {"field 'num_attention_heads' must be a positive integer, got \"4\""}},
      {"NullKvLoraRank", [](json& j) { j["kv_lora_rank"] = nullptr; },
       {"field 'kv_lora_rank' must be a positive integer, got null"}},
      {"HugeExperts", [](json& j) { j["n_routed_experts"] = 10000000000LL; },
       {"field 'n_routed_experts' must be at most 2147483647, got 10000000000"}},
      {"NegativeDenseLayers", [](json& j) { j["first_k_dense_replace"] = -1; },
       {"field 'first_k_dense_replace' must be a non-negative integer, got -1"}},
      {"MissingQLoraRank", [](json& j) { j.erase("q_lora_rank"); },
       {"field 'q_lora_rank' is missing", "null"}},
      {"ZeroQLoraRank", [](json& j) { j["q_lora_rank"] = 0; },
       {"field 'q_lora_rank' must be a positive integer, got 0"}},
      {"MissingModelType", [](json& j) { j.erase("model_type"); }, {"field 'model_type' is missing"}},
      {"WrongModelType", [](json& j) { j["model_type"] = "llama"; },
       {"config.json: model_type is 'llama'", "deepseek_v3"}},
      {"BoolAsNumber", [](json& j) { j["norm_topk_prob"] = 1; },
       {"field 'norm_topk_prob' must be true or false, got 1"}},
      {"NegativeEps", [](json& j) { j["rms_norm_eps"] = -1e-6; },
       {"field 'rms_norm_eps' must be a positive number, got -1e-06"}},
      {"HeadsNotDivisibleByKvHeads", [](json& j) { j["num_key_value_heads"] = 3; },
       {"num_attention_heads (4) is not divisible by num_key_value_heads (3)"}},
      {"ExpertsNotDivisibleByGroups", [](json& j) { j["n_group"] = 3; },
       {"n_routed_experts (16) is not divisible by n_group (3)"}},
      {"OneExpertPerGroup", [](json& j) { j["n_group"] = 16; j["topk_group"] = 4; },
       {"n_routed_experts / n_group = 1", "at least 2 experts per group"}},
      {"TopkGroupAboveGroups", [](json& j) { j["topk_group"] = 5; },
       {"topk_group (5) is greater than n_group (4)"}},
      {"MoreExpertsPerTokThanExperts", [](json& j) { j["num_experts_per_tok"] = 17; },
       {"num_experts_per_tok (17) is greater than n_routed_experts (16)"}},
      {"MoreExpertsPerTokThanKeptGroupsHold", [](json& j) { j["num_experts_per_tok"] = 9; },
       {"num_experts_per_tok (9) is greater than the experts in the kept groups", "= 8"}},
      {"DenseLayersAboveLayers", [](json& j) { j["first_k_dense_replace"] = 4; },
       {"first_k_dense_replace (4) is greater than num_hidden_layers (3)"}},
      {"OddRopeDim", [](json& j) { j["qk_rope_head_dim"] = 15; },
       {"field 'qk_rope_head_dim' must be even", "got 15"}},
      {"SoftmaxScoring", [](json& j) { j["scoring_func"] = "softmax"; },
       {"field 'scoring_func' is 'softmax'; only 'sigmoid' is supported"}},
      {"GreedyTopk", [](json& j) { j["topk_method"] = "greedy"; },
       {"field 'topk_method' is 'greedy'; only 'noaux_tc' is supported"}},
      {"GeluAct", [](json& j) { j["hidden_act"] = "gelu"; },
       {"field 'hidden_act' is 'gelu'; only 'silu' is supported"}},
      {"AttentionBias", [](json& j) { j["attention_bias"] = true; },
       {"field 'attention_bias' is true", "not supported"}},
      {"LinearRope", [](json& j) { j["rope_scaling"]["type"] = "linear"; j["rope_scaling"]["rope_type"] = "linear"; },
       {"field 'rope_scaling.rope_type' is 'linear'; only 'yarn' and 'default' are supported"}},
      {"YarnWithoutFactor", [](json& j) { j["rope_scaling"].erase("factor"); },
       {"field 'rope_scaling.factor' is missing"}},
      {"YarnNegativeFactor", [](json& j) { j["rope_scaling"]["factor"] = -40; },
       {"field 'rope_scaling.factor' must be a positive number, got -40"}},
      {"YarnBadOriginalMax", [](json& j) { j["rope_scaling"]["original_max_position_embeddings"] = 0; },
       {"field 'rope_scaling.original_max_position_embeddings' must be a positive integer, got 0"}},
      {"RopeScalingNotObject", [](json& j) { j["rope_scaling"] = "yarn"; },
       {"field 'rope_scaling' must be an object, got \"yarn\""}},
      {"AwqQuant", [](json& j) { j["quantization_config"] = {{"quant_method", "awq"}}; },
       {"field 'quantization_config.quant_method' is 'awq'; only 'fp8' is supported"}},
      {"QuantWithoutMethod", [](json& j) { j["quantization_config"] = {{"fmt", "e4m3"}}; },
       {"field 'quantization_config.quant_method' is missing"}},
      {"Fp8E5M2", [](json& j) { j["quantization_config"] = {{"quant_method", "fp8"}, {"fmt", "e5m2"}}; },
       {"field 'quantization_config.fmt' is 'e5m2'; only 'e4m3' is supported"}},
      {"Fp8StaticActivations",
       [](json& j) { j["quantization_config"] = {{"quant_method", "fp8"}, {"activation_scheme", "static"}}; },
       {"field 'quantization_config.activation_scheme' is 'static'"}},
      {"BlockSizeOneNumber",
       [](json& j) { j["quantization_config"] = {{"quant_method", "fp8"}, {"weight_block_size", {128}}}; },
       {"field 'quantization_config.weight_block_size' must be [block_out, block_in]", "got [128]"}},
      {"BlockSizeZero",
       [](json& j) { j["quantization_config"] = {{"quant_method", "fp8"}, {"weight_block_size", {128, 0}}}; },
       {"field 'quantization_config.weight_block_size[1]' must be a positive integer, got 0"}},
      {"BlockSizeNull",
       [](json& j) { j["quantization_config"] = {{"quant_method", "fp8"}, {"weight_block_size", nullptr}}; },
       {"field 'quantization_config.weight_block_size' must be [block_out, block_in]"}},
      {"TopLevelArray", [](json& j) { j = json::array({1, 2}); }, {"config.json: expected a JSON object"}},
      {"EosNegative", [](json& j) { j["eos_token_id"] = -1; },
       {"field 'eos_token_id' must be a non-negative integer, got -1"}},
      {"EosListOfStrings", [](json& j) { j["eos_token_id"] = {"x"}; },
       {"field 'eos_token_id' must be a non-negative integer or a list of them"}},
  };
}

class BrokenModelConfig : public ::testing::TestWithParam<BrokenConfig> {};

TEST_P(BrokenModelConfig, ErrorNamesFieldAndProblem) {
  const BrokenConfig& c = GetParam();
  json j = json::parse(fixture_config("tiny-dsv3"));
  c.edit(j);
  auto r = parse_model_config(j.dump(), "config.json");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  const std::string& msg = r.status().message();
  EXPECT_EQ(msg.rfind("config.json: ", 0), 0u) << msg;
  for (const std::string& e : c.expected) EXPECT_NE(msg.find(e), std::string::npos) << "want '" << e << "' in: " << msg;
}

INSTANTIATE_TEST_SUITE_P(Cases, BrokenModelConfig, ::testing::ValuesIn(broken_configs()),
                         [](const auto& info) { return std::string(info.param.test_name); });

TEST(ModelConfig, MalformedJsonNamesTheSource) {
  auto r = parse_model_config("{\"hidden_size\": 7168,", "/models/x/config.json");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("/models/x/config.json: malformed JSON"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace sable
