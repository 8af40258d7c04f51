// text_completion bodies, streamed or whole.
#include "server/response_formatter.h"

namespace sable::server {
namespace {

class CompletionFormatter final : public ResponseFormatter {
 public:
  using ResponseFormatter::ResponseFormatter;
  const char* chunk_object() const override { return "text_completion"; }

  void stream_start(int num_choices, const std::vector<ChoiceState>& choices, std::string& out) override {
    // echo: the prompt goes out first, as its own chunk per choice (with
    // logprobs: once the engine has them, with the first output).
    if (meta_.echo_logprobs) return;
    for (int i = 0; i < num_choices; ++i)
      if (!choices[i].echo.empty()) append_sse_event(out, chunk(i, choices[i].echo, nullptr, nullptr, nullptr));
  }

  void stream_output(int index, const RequestOutput& o, ChoiceState& st, const Usage& u, std::string& out) override {
    bool finishing = o.finish_reason.has_value();
    // prompt_logprobs go on the choice's first chunk (the echo's, with echo).
    auto add_prompt = [&](OJson& c) {
      if (meta_.prompt_logprobs && !st.prompt_logprobs.empty())
        c["choices"][0]["prompt_logprobs"] = prompt_logprobs_json(st.prompt_logprobs, *meta_.prompt_logprobs, ts_);
      st.prompt_sent = true;
    };
    if (meta_.echo_logprobs && !st.prompt_sent && (!st.prompt_logprobs.empty() || finishing)) {
      OJson lp = completion_logprobs({}, ts_, &st.text_offset, &st.prompt_logprobs, *meta_.logprobs);
      OJson c = chunk(index, st.echo, std::move(lp), nullptr, nullptr);
      add_prompt(c);
      append_sse_event(out, c);
    }
    if (o.text.empty() && !finishing) return;
    OJson lp = nullptr;
    if (meta_.logprobs) {
      lp = completion_logprobs(st.pending_logprobs, ts_, &st.text_offset);
      st.pending_logprobs.clear();
    }
    OJson fr = finishing ? OJson(finish_reason_name(*o.finish_reason)) : OJson(nullptr);
    OJson sr = finishing ? stop_reason_json(st) : OJson(nullptr);
    OJson c = chunk(index, o.text, std::move(lp), std::move(fr), std::move(sr));
    if (!st.prompt_sent && !st.prompt_logprobs.empty()) add_prompt(c);
    if (meta_.continuous_usage) c["usage"] = usage_json(u);
    append_sse_event(out, c);
  }

  OJson full_response(const std::vector<ChoiceState>& choices, const Usage& u) override {
    OJson j = chunk_head("text_completion");
    OJson arr = OJson::array();
    for (size_t i = 0; i < choices.size(); ++i) {
      const ChoiceState& st = choices[i];
      OJson c;
      c["index"] = i;
      c["text"] = st.echo + st.text;
      if (meta_.echo_logprobs) {
        size_t offset = 0;  // the prompt's tokens lead
        c["logprobs"] = completion_logprobs(st.logprobs, ts_, &offset, &st.prompt_logprobs, *meta_.logprobs);
      } else if (meta_.logprobs) {
        size_t offset = st.echo.size();
        c["logprobs"] = completion_logprobs(st.logprobs, ts_, &offset);
      } else {
        c["logprobs"] = nullptr;
      }
      if (meta_.prompt_logprobs)
        c["prompt_logprobs"] = prompt_logprobs_json(st.prompt_logprobs, *meta_.prompt_logprobs, ts_);
      c["finish_reason"] = st.finish ? OJson(finish_reason_name(*st.finish)) : OJson(nullptr);
      c["stop_reason"] = stop_reason_json(st);
      arr.push_back(std::move(c));
    }
    j["choices"] = std::move(arr);
    j["usage"] = usage_json(u);
    j["system_fingerprint"] = nullptr;
    return j;
  }

 private:
  OJson chunk(int index, const std::string& text, OJson logprobs, OJson finish, OJson stop_reason) const {
    OJson j = chunk_head("text_completion");
    OJson c;
    c["index"] = index;
    c["text"] = text;
    c["logprobs"] = std::move(logprobs);
    c["finish_reason"] = std::move(finish);
    if (!stop_reason.is_null()) c["stop_reason"] = std::move(stop_reason);
    j["choices"] = OJson::array({std::move(c)});
    if (meta_.include_usage) j["usage"] = nullptr;
    return j;
  }
};

}  // namespace

std::unique_ptr<ResponseFormatter> make_completion_formatter(ResponseMeta meta, TokenStrings ts) {
  return std::make_unique<CompletionFormatter>(std::move(meta), std::move(ts));
}

}  // namespace sable::server
