// chat.completion and chat.completion.chunk bodies.
#include "server/response_formatter.h"

namespace sable::server {
namespace {

class ChatFormatter final : public ResponseFormatter {
 public:
  using ResponseFormatter::ResponseFormatter;
  const char* chunk_object() const override { return "chat.completion.chunk"; }

  void stream_start(int num_choices, const std::vector<ChoiceState>& choices, std::string& out) override {
    // Like OpenAI and vLLM: every choice first gets a delta with the role.
    for (int i = 0; i < num_choices; ++i) {
      OJson delta;
      delta["role"] = "assistant";
      delta["content"] = choices[i].echo;
      append_sse_event(out, chunk(i, std::move(delta), nullptr, nullptr, nullptr));
    }
  }

  void stream_output(int index, const RequestOutput& o, ChoiceState& st, const Usage& u, std::string& out) override {
    bool finishing = o.finish_reason.has_value();
    // Tokens that completed no character yet (half of a UTF-8 sequence) give
    // no text: wait for the rest, keeping their logprobs for that chunk.
    if (o.text.empty() && !finishing) return;
    OJson delta = OJson::object();
    if (!o.text.empty()) delta["content"] = o.text;
    OJson lp = nullptr;
    if (meta_.logprobs) {
      lp = OJson{{"content", chat_logprob_entries(st.pending_logprobs, ts_)}};
      st.pending_logprobs.clear();
    }
    OJson fr = finishing ? OJson(finish_reason_name(*o.finish_reason)) : OJson(nullptr);
    OJson sr = finishing ? stop_reason_json(st) : OJson(nullptr);
    OJson c = chunk(index, std::move(delta), std::move(lp), std::move(fr), std::move(sr));
    if (meta_.continuous_usage) c["usage"] = usage_json(u);
    append_sse_event(out, c);
  }

  OJson full_response(const std::vector<ChoiceState>& choices, const Usage& u) override {
    OJson j = chunk_head("chat.completion");
    OJson arr = OJson::array();
    for (size_t i = 0; i < choices.size(); ++i) {
      const ChoiceState& st = choices[i];
      OJson msg;
      msg["role"] = "assistant";
      msg["content"] = st.echo + st.text;
      msg["refusal"] = nullptr;
      msg["tool_calls"] = OJson::array();
      OJson c;
      c["index"] = i;
      c["message"] = std::move(msg);
      c["logprobs"] = meta_.logprobs ? OJson{{"content", chat_logprob_entries(st.logprobs, ts_)}} : OJson(nullptr);
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
  OJson chunk(int index, OJson delta, OJson logprobs, OJson finish, OJson stop_reason) const {
    OJson j = chunk_head("chat.completion.chunk");
    OJson c;
    c["index"] = index;
    c["delta"] = std::move(delta);
    c["logprobs"] = std::move(logprobs);
    c["finish_reason"] = std::move(finish);
    if (!stop_reason.is_null()) c["stop_reason"] = std::move(stop_reason);
    j["choices"] = OJson::array({std::move(c)});
    // With include_usage, OpenAI sends "usage": null on every chunk but the last.
    if (meta_.include_usage) j["usage"] = nullptr;
    return j;
  }
};

}  // namespace

std::unique_ptr<ResponseFormatter> make_chat_formatter(ResponseMeta meta, TokenStrings ts) {
  return std::make_unique<ChatFormatter>(std::move(meta), std::move(ts));
}

}  // namespace sable::server
