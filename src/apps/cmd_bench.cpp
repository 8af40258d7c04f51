// sable bench: the benchmark suite.
//   sable bench serve ...      a streaming load client for any OpenAI-compatible server
//   sable bench offline ...    the engine alone, no HTTP
//   sable bench model-dir ...  a config-only model directory at a preset's dims
//                              (for `sable serve --model DIR --load-format dummy`)
// The metrics, presets and floors are described in docs/performance.md.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "bench/options.h"
#include "apps/command.h"
#include "core/paths.h"
#include "model/presets.h"

namespace sable::bench {
int bench_serve_main(int argc, char** argv);
int bench_offline_main(int argc, char** argv);
}  // namespace sable::bench

namespace sable {
namespace {

namespace fs = std::filesystem;

// Writing the weights of a DeepSeek-V3 slice takes tens of GB; a server
// benchmark needs only the config (and a tokenizer), the weights being
// random either way.
int run_model_dir(int argc, char** argv) {
  CLI::App app{"Write config.json (and tokenizer files) at a preset's dims, for --load-format dummy",
               "sable bench model-dir"};
  std::string preset = "dsv3-slice", out, tokenizer = "deepseek-v3";
  int layers = 0;
  bool fp8 = false;
  app.add_option("--preset", preset, "tiny | small-moe | dsv3-slice | dsv3");
  app.add_option("--layers", layers, "Layer count (default: the preset's)");
  app.add_flag("--fp8", fp8, "An FP8 checkpoint's config (128x128 block scales)");
  app.add_option("--tokenizer", tokenizer, "deepseek-v3 | qwen3 | a directory | none");
  app.add_option("--out", out, "Output directory")->required();
  CLI11_PARSE(app, argc, argv);
  auto cfg = preset_config(preset, layers, fp8);
  if (!cfg.is_ok()) {
    std::fprintf(stderr, "sable bench model-dir: %s\n", cfg.status().message().c_str());
    return 2;
  }
  std::error_code ec;
  fs::create_directories(out, ec);
  std::ofstream(out + "/config.json") << model_config_to_json(*cfg) << "\n";
  if (tokenizer != "none") {
    std::string dir = fs::is_directory(tokenizer) ? tokenizer : find_asset("tokenizers/" + tokenizer);
    if (dir.empty()) {
      std::fprintf(stderr, "sable bench model-dir: tokenizer '%s' not found\n", tokenizer.c_str());
      return 2;
    }
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
      fs::copy_file(fs::path(dir) / f, fs::path(out) / f, fs::copy_options::overwrite_existing, ec);
  }
  std::printf("%s: %s, %d layers%s (config only: serve it with --load-format dummy)\n", out.c_str(), preset.c_str(),
              cfg->num_hidden_layers, fp8 ? ", fp8" : "");
  return 0;
}

void usage() {
  std::fprintf(stderr,
               "usage: sable bench <mode> [flags]   (sable bench <mode> --help)\n\n"
               "  serve      streaming load against an OpenAI-compatible server (vLLM's bench serve metrics)\n"
               "  offline    the engine alone, no HTTP (same report)\n"
               "  model-dir  config-only model directory at a preset's dims (--load-format dummy)\n\n"
               "presets (--preset):\n");
  for (const bench::Preset& p : bench::presets()) std::fprintf(stderr, "  %-13s %s\n", p.name, p.about);
}

int run_bench(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string mode = argv[1];
  if (mode == "serve") return bench::bench_serve_main(argc - 1, argv + 1);
  if (mode == "offline") return bench::bench_offline_main(argc - 1, argv + 1);
  if (mode == "model-dir") return run_model_dir(argc - 1, argv + 1);
  std::fprintf(stderr, "sable bench: unknown mode '%s'\n\n", mode.c_str());
  usage();
  return 2;
}

}  // namespace
}  // namespace sable

SABLE_COMMAND(bench, "benchmarks: serve (load an OpenAI-compatible server) | offline (the engine alone)",
              sable::run_bench);
