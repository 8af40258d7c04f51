// chat.completion and chat.completion.chunk bodies.
#include "server/reasoning_parser.h"
#include "server/required_tool_calls.h"
#include "server/response_formatter.h"
#include "server/tool_call_parser.h"

namespace sable::server {
namespace {

class ChatFormatter final : public ResponseFormatter {
 public:
  using ResponseFormatter::ResponseFormatter;
  const char* chunk_object() const override { return "chat.completion.chunk"; }

  void stream_start(int num_choices, const std::vector<ChoiceState>& choices, std::string& out) override {
    for (int i = 0; i < num_choices; ++i) {
      if (auto p = tool_parser()) parsers_.push_back(std::move(p));
      if (!meta_.reasoning_parser.empty())
        reasoners_.push_back(make_reasoning_parser(meta_.reasoning_parser, meta_.reasoning_closed));
    }
    // Like OpenAI and vLLM: every choice first gets a delta with the role.
    for (int i = 0; i < num_choices; ++i) {
      OJson delta;
      delta["role"] = meta_.role;
      delta["content"] = choices[i].echo;
      append_sse_event(out, chunk(i, std::move(delta), nullptr, nullptr, nullptr));
    }
  }

  void stream_output(int index, const RequestOutput& o, ChoiceState& st, const Usage& u, std::string& out) override {
    bool finishing = o.finish_reason.has_value();
    // With a reasoning parser the text first splits into reasoning and the
    // answer; with a tool-call parser the answer then splits into content
    // and tool_calls deltas (a tag split across outputs waits).
    std::string reasoning, text = o.text;
    ReasoningParser* reasoner = size_t(index) < reasoners_.size() ? reasoners_[size_t(index)].get() : nullptr;
    if (reasoner) {
      text.clear();
      reasoner->feed(o.text, reasoning, text);
      if (finishing) reasoner->finish(reasoning, text);
    }
    std::string content = text;
    OJson tool_calls = OJson::array();
    ToolCallParser* parser = size_t(index) < parsers_.size() ? parsers_[size_t(index)].get() : nullptr;
    if (parser) {
      content.clear();
      std::vector<ToolCallDelta> pieces;
      parser->feed(text, content, pieces);
      if (finishing) parser->finish(content, pieces);
      for (auto& d : pieces) tool_calls.push_back(delta_json(d));
    }
    // Tokens that completed no character yet (half of a UTF-8 sequence) give
    // no text: wait for the rest, keeping their logprobs for that chunk.
    if (content.empty() && reasoning.empty() && tool_calls.empty() && !finishing) return;
    OJson delta = OJson::object();
    // vLLM's `reasoning` (it followed OpenAI's guidance) and DeepSeek's
    // `reasoning_content`, which many clients still read: both.
    if (!reasoning.empty()) {
      delta["reasoning"] = reasoning;
      delta["reasoning_content"] = reasoning;
    }
    if (!content.empty()) delta["content"] = content;
    if (!tool_calls.empty()) delta["tool_calls"] = std::move(tool_calls);
    OJson lp = nullptr;
    if (meta_.logprobs) {
      lp = OJson{{"content", chat_logprob_entries(st.pending_logprobs, ts_)}};
      st.pending_logprobs.clear();
    }
    OJson fr = finishing ? finish_json(*o.finish_reason, parser && parser->num_calls() > 0 && !named_call())
                         : OJson(nullptr);
    OJson sr = finishing ? stop_reason_json(st) : OJson(nullptr);
    OJson c = chunk(index, std::move(delta), std::move(lp), std::move(fr), std::move(sr));
    // prompt_logprobs (vLLM): the request's, top level, on choice 0's first chunk.
    if (meta_.prompt_logprobs && index == 0 && !st.prompt_sent && !st.prompt_logprobs.empty()) {
      c["prompt_logprobs"] = prompt_logprobs_json(st.prompt_logprobs, *meta_.prompt_logprobs, ts_);
      st.prompt_sent = true;
    }
    if (meta_.continuous_usage) c["usage"] = usage_json(u);
    append_sse_event(out, c);
  }

  OJson full_response(const std::vector<ChoiceState>& choices, const Usage& u) override {
    OJson j = chunk_head("chat.completion");
    OJson arr = OJson::array();
    for (size_t i = 0; i < choices.size(); ++i) {
      const ChoiceState& st = choices[i];
      OJson msg;
      msg["role"] = meta_.role;
      std::string text = st.text;
      if (!meta_.reasoning_parser.empty()) {
        // As vLLM: reasoning (also as reasoning_content) and content, each
        // null when empty.
        std::string reasoning;
        text.clear();
        auto r = make_reasoning_parser(meta_.reasoning_parser, meta_.reasoning_closed);
        r->feed(st.text, reasoning, text);
        r->finish(reasoning, text);
        const OJson r_json = reasoning.empty() ? OJson(nullptr) : OJson(reasoning);
        msg["reasoning"] = r_json;
        msg["reasoning_content"] = r_json;
      }
      msg["content"] = st.echo + text;
      if (!meta_.reasoning_parser.empty() && (st.echo + text).empty()) msg["content"] = nullptr;
      msg["refusal"] = nullptr;
      msg["tool_calls"] = OJson::array();
      bool called = false;
      if (auto parser = tool_parser()) {
        ParsedToolCalls parsed = parse_tool_calls(*parser, text);
        called = !parsed.calls.empty();
        // As vLLM: the text before the calls, or null when there is none.
        const std::string content = st.echo + parsed.content;
        msg["content"] = called && content.empty() ? OJson(nullptr) : OJson(content);
        for (auto& tc : parsed.calls)
          msg["tool_calls"].push_back(
              {{"id", tc.id}, {"type", "function"}, {"function", {{"name", tc.name}, {"arguments", tc.arguments}}}});
      }
      OJson c;
      c["index"] = i;
      c["message"] = std::move(msg);
      c["logprobs"] = meta_.logprobs ? OJson{{"content", chat_logprob_entries(st.logprobs, ts_)}} : OJson(nullptr);
      c["finish_reason"] = st.finish ? finish_json(*st.finish, called && !named_call()) : OJson(nullptr);
      c["stop_reason"] = stop_reason_json(st);
      arr.push_back(std::move(c));
    }
    j["choices"] = std::move(arr);
    if (meta_.prompt_logprobs)  // vLLM: the request's, top level
      j["prompt_logprobs"] = prompt_logprobs_json(
          choices.empty() ? std::vector<TokenLogprob>{} : choices[0].prompt_logprobs, *meta_.prompt_logprobs, ts_);
    j["usage"] = usage_json(u);
    j["system_fingerprint"] = nullptr;
    return j;
  }

 private:
  // The tool-call parser of this response: the list of calls of
  // tool_choice "required", the named function's, the server's
  // --tool-call-parser for tool_choice auto, or none.
  std::unique_ptr<ToolCallParser> tool_parser() const {
    if (meta_.forced_required) return make_required_tool_call_parser();
    if (!meta_.forced_tool.empty()) return make_forced_tool_call_parser(meta_.forced_tool);
    if (!meta_.tool_parser.empty()) return make_tool_call_parser(meta_.tool_parser);
    return nullptr;
  }
  bool named_call() const { return !meta_.forced_tool.empty() && !meta_.forced_required; }
  // "tool_calls" when the model called tools and stopped by itself (OpenAI's
  // and vLLM's finish reason; a named tool_choice keeps "stop", as vLLM);
  // otherwise the engine's reason.
  static OJson finish_json(FinishReason r, bool called) {
    return OJson(called && r == FinishReason::kStop ? "tool_calls" : finish_reason_name(r));
  }

  static OJson delta_json(const ToolCallDelta& d) {
    OJson j;
    j["index"] = d.index;
    if (d.first) {
      j["id"] = d.id;
      j["type"] = "function";
      j["function"] = {{"name", d.name}, {"arguments", d.arguments}};
    } else {
      j["function"] = {{"arguments", d.arguments}};
    }
    return j;
  }

  std::vector<std::unique_ptr<ToolCallParser>> parsers_;     // one per choice (streaming)
  std::vector<std::unique_ptr<ReasoningParser>> reasoners_;  // likewise

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
