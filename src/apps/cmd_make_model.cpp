// sable make-model: writes a random-weight checkpoint in the published
// DeepSeek-V3 layout (config.json, sharded safetensors with their index,
// optionally the tokenizer files).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "apps/command.h"
#include "core/logging.h"
#include "core/paths.h"
#include "model/presets.h"
#include "model/safetensors.h"
#include "model/weight_source.h"

namespace sable {
namespace {

namespace fs = std::filesystem;

std::string shard_name(int i, int n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", i, n);
  return buf;
}

int run_make_model(int argc, char** argv) {
  CLI::App app{"Write a random-weight DeepSeek-V3 checkpoint at named dimensions", "sable make-model"};
  std::string preset = "tiny", out, tokenizer;
  int layers = 0;
  bool fp8 = false, mtp = false;
  uint64_t seed = 0;
  double shard_gb = 4.0;
  app.add_option("--preset", preset, "tiny | small-moe | dsv3-slice | dsv3");
  app.add_option("--layers", layers, "Number of layers (default: the preset's)");
  app.add_flag("--fp8", fp8, "FP8 weights with 128x128 block scales (the published checkpoint's format)");
  app.add_flag("--mtp", mtp, "Also write the multi-token-prediction layer(s)");
  app.add_option("--seed", seed, "Random seed");
  app.add_option("--out", out, "Output directory")->required();
  app.add_option("--tokenizer", tokenizer, "Copy tokenizer files: deepseek-v3 | qwen3 | a directory");
  app.add_option("--shard-size-gb", shard_gb, "Maximum shard size in GB");
  CLI11_PARSE(app, argc, argv);

  auto cfg = preset_config(preset, layers, fp8);
  if (!cfg.is_ok()) {
    std::fprintf(stderr, "sable make-model: %s\n", cfg.status().message().c_str());
    return 2;
  }
  if (!mtp) cfg->num_nextn_predict_layers = 0;
  else
    cfg->num_nextn_predict_layers = std::max(cfg->num_nextn_predict_layers, 1);  // the small presets have none
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) {
    std::fprintf(stderr, "sable make-model: cannot create %s: %s\n", out.c_str(), ec.message().c_str());
    return 1;
  }
  {
    std::ofstream f(out + "/config.json");
    f << model_config_to_json(*cfg) << "\n";
    if (!f) {
      std::fprintf(stderr, "sable make-model: cannot write %s/config.json\n", out.c_str());
      return 1;
    }
  }
  DummyWeightSource src(*cfg, seed, mtp);
  const auto& specs = src.ordered_specs();
  // Plan shards by size, in checkpoint order.
  const size_t limit = size_t(shard_gb * 1e9);
  std::vector<std::vector<size_t>> shards(1);
  size_t cur = 0, total = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    size_t b = size_t(specs[i].shape.numel()) * dtype_size(specs[i].dtype);
    if (cur > 0 && cur + b > limit) { shards.emplace_back(); cur = 0; }
    shards.back().push_back(i);
    cur += b;
    total += b;
  }
  nlohmann::ordered_json index;
  index["metadata"]["total_size"] = total;
  const int n = int(shards.size());
  for (int s = 0; s < n; ++s) {
    const std::string name = n == 1 ? "model.safetensors" : shard_name(s + 1, n);
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (size_t i : shards[size_t(s)]) {
      tensors.emplace_back(specs[i].name, src.generate(specs[i]));
      index["weight_map"][specs[i].name] = name;
    }
    Status st = write_safetensors(out + "/" + name, tensors, {{"format", "pt"}});
    if (!st.is_ok()) {
      std::fprintf(stderr, "sable make-model: %s\n", st.message().c_str());
      return 1;
    }
    LOG_INFO("wrote {} ({} tensors)", name, tensors.size());
  }
  if (n > 1) std::ofstream(out + "/model.safetensors.index.json") << index.dump(2) << "\n";
  if (!tokenizer.empty()) {
    std::string dir = fs::is_directory(tokenizer) ? tokenizer : find_asset("tokenizers/" + tokenizer);
    if (dir.empty()) {
      std::fprintf(stderr, "sable make-model: tokenizer '%s' not found (deepseek-v3, qwen3 or a directory)\n",
                   tokenizer.c_str());
      return 2;
    }
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
      fs::copy_file(fs::path(dir) / f, fs::path(out) / f, fs::copy_options::overwrite_existing, ec);
  }
  std::printf("%s: preset %s, %d layers%s, %.3f B parameters, %.2f GB in %d file(s)\n", out.c_str(),
              preset.c_str(), cfg->num_hidden_layers, fp8 ? ", fp8" : "", [&] {
                double p = 0;
                for (const auto& s : specs) if (s.role != TensorRole::kScale) p += double(s.shape.numel());
                return p / 1e9;
              }(), double(total) / 1e9, n);
  return 0;
}

}  // namespace
}  // namespace sable

SABLE_COMMAND(make_model, "write a random-weight checkpoint (tiny | small-moe | dsv3-slice | dsv3)",
              sable::run_make_model);
