// sable generate: offline generation through the engine. One prompt from the
// flags, or many from --prompts-file (JSON lines), run together with
// continuous batching; prints one JSON line per prompt, in input order.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "apps/command.h"
#include "apps/engine_options.h"
#include "apps/model_options.h"
#include "engine/engine.h"
#include "tokenizer/tokenizer.h"

namespace sable {
namespace {

using json = nlohmann::json;

// Reads the sampling fields a prompts-file line may carry (vLLM/OpenAI names).
Status read_sampling_fields(const json& j, SamplingParams& p) {
  try {
    if (j.contains("max_tokens")) p.max_tokens = j["max_tokens"].get<int>();
    if (j.contains("temperature")) p.temperature = j["temperature"].get<float>();
    if (j.contains("top_p")) p.top_p = j["top_p"].get<float>();
    if (j.contains("top_k")) p.top_k = j["top_k"].get<int>();
    if (j.contains("min_p")) p.min_p = j["min_p"].get<float>();
    if (j.contains("seed")) p.seed = j["seed"].get<uint64_t>();
    if (j.contains("n")) p.n = j["n"].get<int>();
    if (j.contains("ignore_eos")) p.ignore_eos = j["ignore_eos"].get<bool>();
    if (j.contains("min_tokens")) p.min_tokens = j["min_tokens"].get<int>();
    if (j.contains("repetition_penalty")) p.repetition_penalty = j["repetition_penalty"].get<float>();
    if (j.contains("presence_penalty")) p.presence_penalty = j["presence_penalty"].get<float>();
    if (j.contains("frequency_penalty")) p.frequency_penalty = j["frequency_penalty"].get<float>();
    if (j.contains("stop")) {
      if (j["stop"].is_string()) p.stop = {j["stop"].get<std::string>()};
      else p.stop = j["stop"].get<std::vector<std::string>>();
    }
    if (j.contains("stop_token_ids")) p.stop_token_ids = j["stop_token_ids"].get<std::vector<int32_t>>();
    if (j.contains("logprobs")) p.logprobs = j["logprobs"].get<int>();
    if (j.contains("logit_bias"))
      for (const auto& [k, v] : j["logit_bias"].items()) p.logit_bias[std::stoi(k)] = v.get<float>();
  } catch (const std::exception& e) {
    return invalid_argument(std::string("bad sampling field: ") + e.what());
  }
  return Status::ok();
}

int run_generate(int argc, char** argv) {
  CLI::App app{"Offline generation through the engine", "sable generate"};
  ModelOptions mo;
  mo.add_flags(app, true);
  EngineOptions eo;
  eo.add_flags(app);
  std::string prompt, prompt_ids, prompts_file;
  SamplingParams sp;
  sp.temperature = 0;  // greedy unless asked
  sp.ignore_eos = true;
  bool stop_at_eos = false, as_json = false;
  std::optional<uint64_t> seed;
  app.add_option("--prompt", prompt, "Prompt text (needs the model's tokenizer)");
  app.add_option("--prompt-ids", prompt_ids, "Prompt token ids, e.g. \"5 17 3\"");
  app.add_option("--prompts-file", prompts_file,
                 "JSON lines: {\"prompt_ids\": [...]} or {\"prompt\": \"...\"}, with optional sampling fields");
  app.add_option("--max-tokens", sp.max_tokens, "Tokens to generate per prompt");
  app.add_option("--temperature", sp.temperature, "0 = greedy");
  app.add_option("--top-p", sp.top_p);
  app.add_option("--top-k", sp.top_k);
  app.add_option("--sampling-seed", seed, "Sampling seed for every prompt (default: --seed)");
  app.add_flag("--stop-at-eos", stop_at_eos, "Stop at the end-of-sequence token (default: generate max-tokens)");
  app.add_flag("--json", as_json, "Print {\"ids\": [...], \"text\": \"...\"} per prompt");
  CLI11_PARSE(app, argc, argv);
  sp.ignore_eos = !stop_at_eos;
  sp.seed = seed ? seed : std::optional<uint64_t>(mo.seed);

  mo.load_mtp = eo.needs_mtp();
  mo.engine = eo.to_config();
  auto lm = load_model(mo);
  if (!lm.is_ok()) {
    std::fprintf(stderr, "sable generate: %s\n", lm.status().message().c_str());
    return 1;
  }
  // Collect the prompts.
  std::vector<GenerateRequest> reqs;
  auto add_text = [&](const std::string& text, GenerateRequest& r) -> Status {
    if (!lm->tokenizer) return invalid_argument("--prompt needs a tokenizer (none in the model directory; use --tokenizer DIR)");
    r.prompt_ids = lm->tokenizer->encode(text, /*add_special_tokens=*/true);
    return Status::ok();
  };
  int line_no = 0;
  auto fail = [&](const std::string& where, const Status& st) {
    std::fprintf(stderr, "sable generate: %s: %s\n", where.c_str(), st.message().c_str());
    return 2;
  };
  if (!prompts_file.empty()) {
    std::ifstream f(prompts_file);
    if (!f) return fail(prompts_file, not_found("cannot open the file"));
    std::string line;
    while (std::getline(f, line)) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = prompts_file + ":" + std::to_string(line_no);
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) return fail(where, invalid_argument("not a JSON object"));
      GenerateRequest r;
      r.params = sp;
      Status st = read_sampling_fields(j, r.params);
      if (!st.is_ok()) return fail(where, st);
      if (j.contains("prompt_ids")) {
        try { r.prompt_ids = j["prompt_ids"].get<std::vector<int32_t>>(); }
        catch (const std::exception&) { return fail(where, invalid_argument("prompt_ids must be a list of integers")); }
      } else if (j.contains("prompt") && j["prompt"].is_string()) {
        st = add_text(j["prompt"].get<std::string>(), r);
        if (!st.is_ok()) return fail(where, st);
      } else {
        return fail(where, invalid_argument("needs \"prompt_ids\" (list) or \"prompt\" (string)"));
      }
      reqs.push_back(std::move(r));
    }
  } else {
    GenerateRequest r;
    r.params = sp;
    if (!prompt_ids.empty()) {
      auto ids = parse_id_list(prompt_ids);
      if (!ids.is_ok()) return fail("--prompt-ids", ids.status());
      r.prompt_ids = *ids;
    } else if (!prompt.empty()) {
      Status st = add_text(prompt, r);
      if (!st.is_ok()) return fail("--prompt", st);
    } else {
      return fail("sable generate", invalid_argument("give --prompt, --prompt-ids or --prompts-file"));
    }
    reqs.push_back(std::move(r));
  }

  auto engine = Engine::create(eo.to_config(), *lm->model, lm->tokenizer);
  if (!engine.is_ok()) return fail("engine", engine.status());
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (size_t i = 0; i < reqs.size(); ++i) {
    reqs[i].request_id = "gen-" + std::to_string(i);
    auto h = (*engine)->submit(std::move(reqs[i]));
    if (!h.is_ok()) return fail("prompt " + std::to_string(i + 1), h.status());
    handles.push_back(*h);
  }
  (*engine)->run_until_idle();
  if (std::string spec = spec_decode_summary((*engine)->metrics()); !spec.empty())
    std::fprintf(stderr, "%s\n", spec.c_str());
  int rc = 0;
  for (auto& h : handles) {
    std::vector<std::vector<int32_t>> ids(size_t(h->num_choices()));
    std::vector<std::string> text(static_cast<size_t>(h->num_choices()));
    std::vector<std::string> finish(static_cast<size_t>(h->num_choices()));
    for (auto& o : h->poll()) {
      auto& v = ids[size_t(o.index)];
      v.insert(v.end(), o.token_ids.begin(), o.token_ids.end());
      text[size_t(o.index)] += o.text;
      if (o.finish_reason) finish[size_t(o.index)] = finish_reason_name(*o.finish_reason);
      if (o.finish_reason == FinishReason::kError) {
        std::fprintf(stderr, "sable generate: %s\n", o.error.c_str());
        rc = 1;
      }
    }
    if (as_json) {
      json j;
      if (ids.size() == 1) {
        j["ids"] = ids[0];
        j["text"] = text[0];
        j["finish_reason"] = finish[0];
      } else {
        j["choices"] = json::array();
        for (size_t c = 0; c < ids.size(); ++c)
          j["choices"].push_back({{"ids", ids[c]}, {"text", text[c]}, {"finish_reason", finish[c]}});
      }
      std::cout << j.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    } else {
      for (size_t c = 0; c < ids.size(); ++c) std::cout << text[c] << "\n";
    }
  }
  return rc;
}

}  // namespace
}  // namespace sable

SABLE_COMMAND(generate, "offline generation (one prompt, or many at once with --prompts-file)", sable::run_generate);
