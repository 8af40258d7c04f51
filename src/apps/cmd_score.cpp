// sable score: one forward over a prompt; writes float32 logits [len, vocab]
// as the tensor "logits" of a safetensors file.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "apps/command.h"
#include "apps/model_options.h"
#include "model/safetensors.h"
#include "runner/single_sequence.h"

namespace sable {
namespace {

int run_score(int argc, char** argv) {
  CLI::App app{"One forward over the prompt; writes logits [len, vocab] (float32) to a safetensors file",
               "sable score"};
  ModelOptions mo;
  mo.add_flags(app, true);
  std::string prompt_ids, out;
  app.add_option("--prompt-ids", prompt_ids, "Token ids, e.g. \"5 17 3\"")->required();
  app.add_option("--out", out, "Output .safetensors file")->required();
  CLI11_PARSE(app, argc, argv);

  auto ids = parse_id_list(prompt_ids);
  if (!ids.is_ok()) {
    std::fprintf(stderr, "sable score: --prompt-ids: %s\n", ids.status().message().c_str());
    return 2;
  }
  auto lm = load_model(mo);
  if (!lm.is_ok()) {
    std::fprintf(stderr, "sable score: %s\n", lm.status().message().c_str());
    return 1;
  }
  SingleSequenceRunner runner(*lm->model, int(ids->size()));
  auto logits = runner.step(*ids, /*all_logits=*/true);
  if (!logits.is_ok()) {
    std::fprintf(stderr, "sable score: %s\n", logits.status().message().c_str());
    return 1;
  }
  Status st = write_safetensors(out, {{"logits", *logits}});
  if (!st.is_ok()) {
    std::fprintf(stderr, "sable score: writing %s: %s\n", out.c_str(), st.message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace sable

SABLE_COMMAND(score, "one forward over a prompt; logits to a safetensors file", sable::run_score);
