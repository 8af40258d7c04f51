#include "engine/engine_util.h"

#include <stdexcept>

#include "backend/backend.h"
#include "common/fixtures.h"

namespace sable::testing {

TinyModel& tiny_model() {
  static TinyModel m = [] {
    TinyModel t;
    auto src = open_weight_source(fixture_dir("tiny-dsv3"), "auto");
    if (!src.is_ok()) throw std::runtime_error(src.status().to_string());
    t.source = std::move(*src);
    auto model = DeepseekV3Model::load(*t.source, cpu_backend());
    if (!model.is_ok()) throw std::runtime_error(model.status().to_string());
    t.model = std::move(*model);
    auto tok = Tokenizer::load(std::string(SABLE_TEST_DATA) + "/../assets/tokenizers/deepseek-v3");
    if (!tok.is_ok()) throw std::runtime_error(tok.status().to_string());
    t.tokenizer = *tok;
    return t;
  }();
  return m;
}

RequestResult gather(RequestHandle& h) {
  RequestResult r(size_t(h.num_choices()));
  for (auto& o : h.poll()) {
    ChoiceResult& c = r[size_t(o.index)];
    c.ids.insert(c.ids.end(), o.token_ids.begin(), o.token_ids.end());
    c.text += o.text;
    c.logprobs.insert(c.logprobs.end(), o.logprobs.begin(), o.logprobs.end());
    if (!o.prompt_logprobs.empty()) {
      c.prompt_logprobs = o.prompt_logprobs;
      ++c.events_with_prompt_logprobs;
    }
    if (o.finish_reason) {
      c.finish = finish_reason_name(*o.finish_reason);
      c.stop_reason = o.stop_reason;
      c.prompt_tokens = o.prompt_tokens;
      c.completion_tokens = o.completion_tokens;
      c.cached_tokens = o.cached_prompt_tokens;
    }
  }
  return r;
}

std::vector<RequestResult> run_all(Engine& engine, std::vector<GenerateRequest> reqs) {
  std::vector<std::shared_ptr<RequestHandle>> hs;
  int i = 0;
  for (auto& r : reqs) {
    if (r.request_id.empty()) r.request_id = "req-" + std::to_string(i++);
    auto h = engine.submit(std::move(r));
    if (!h.is_ok()) throw std::runtime_error(h.status().to_string());
    hs.push_back(*h);
  }
  engine.run_until_idle();
  std::vector<RequestResult> out;
  for (auto& h : hs) out.push_back(gather(*h));
  return out;
}

GenerateRequest greedy_request(std::vector<int32_t> ids, int max_tokens) {
  GenerateRequest r;
  r.prompt_ids = std::move(ids);
  r.params.temperature = 0;
  r.params.ignore_eos = true;
  r.params.max_tokens = max_tokens;
  return r;
}

EngineConfig small_engine_config() {
  EngineConfig c;
  c.block_size = 16;
  c.num_kv_blocks = 512;
  c.max_num_seqs = 64;
  c.max_num_batched_tokens = 2048;
  return c;
}

}  // namespace sable::testing
