// Shared helpers for engine tests: the tiny fixture model on CPU, and
// running requests to completion.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "model/deepseek_v3.h"
#include "model/weight_source.h"
#include "tokenizer/tokenizer.h"

namespace sable::testing {

struct TinyModel {
  std::unique_ptr<WeightSource> source;
  std::unique_ptr<DeepseekV3Model> model;
  std::shared_ptr<const Tokenizer> tokenizer;  // DeepSeek-V3's (ids < 1024 fit the tiny vocab)
};
TinyModel& tiny_model();

struct ChoiceResult {
  std::vector<int32_t> ids;
  std::string text;
  std::string finish;
  std::string stop_reason;
  std::vector<TokenLogprob> logprobs;
  std::vector<TokenLogprob> prompt_logprobs;  // from the choice's first event
  int events_with_prompt_logprobs = 0;
  int prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
};
using RequestResult = std::vector<ChoiceResult>;

// Submits all, runs the engine until idle on this thread, gathers outputs.
std::vector<RequestResult> run_all(Engine& engine, std::vector<GenerateRequest> reqs);
RequestResult gather(RequestHandle& h);

// A request with greedy sampling and no EOS stop.
GenerateRequest greedy_request(std::vector<int32_t> ids, int max_tokens);

EngineConfig small_engine_config();

}  // namespace sable::testing
