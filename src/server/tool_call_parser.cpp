#include "server/tool_call_parser.h"

#include <nlohmann/json.hpp>

#include "server/random_id.h"
#include "server/text_markers.h"

namespace sable::server {
namespace {

// Where a format's markers are (see the header for the three formats).
struct Format {
  std::string section_begin;  // "" when calls stand alone (hermes)
  std::string section_end;    // "" likewise
  std::string call_begin;
  std::string call_end;
  // Header formats: the name (and for deepseek_v3 a type before it) up to
  // name_end, then the arguments' text up to call_end, streamed. JSON-body
  // formats (hermes): the whole call is one JSON object {"name", "arguments"}.
  bool json_body = false;
  std::string type_sep;       // deepseek_v3: "<｜tool▁sep｜>" after the type; "" when no type
  std::string name_end;       // deepseek_v3: "\n```json\n"; deepseek_v31: "<｜tool▁sep｜>"
};

// The section and call markers both DeepSeek formats use.
Format deepseek_markers() {
  Format f;
  f.section_begin = "<｜tool▁calls▁begin｜>";
  f.section_end = "<｜tool▁calls▁end｜>";
  f.call_begin = "<｜tool▁call▁begin｜>";
  return f;
}

Format deepseek_v3() {
  Format f = deepseek_markers();
  f.call_end = "\n```<｜tool▁call▁end｜>";
  f.type_sep = "<｜tool▁sep｜>";
  f.name_end = "\n```json\n";
  return f;
}

Format deepseek_v31() {
  Format f = deepseek_markers();
  f.call_end = "<｜tool▁call▁end｜>";
  f.name_end = "<｜tool▁sep｜>";
  return f;
}

Format hermes() {
  Format f;
  f.call_begin = "<tool_call>";
  f.call_end = "</tool_call>";
  f.json_body = true;
  return f;
}

class MarkerParser final : public ToolCallParser {
 public:
  explicit MarkerParser(Format f) : f_(std::move(f)) {}

  void feed(std::string_view text, std::string& content, std::vector<ToolCallDelta>& calls) override {
    buf_.append(text);
    while (step(content, calls)) {
    }
  }

  void finish(std::string& content, std::vector<ToolCallDelta>& calls) override {
    feed({}, content, calls);
    switch (state_) {
      case State::kContent: content += buf_; break;
      case State::kArgs:  // cut short (max_tokens): the arguments so far
        if (!buf_.empty()) calls.push_back(piece(buf_));
        break;
      case State::kHead:
        // A hermes call that never closed, before any complete call: the
        // model wrote text, not a call (vLLM returns it as content).
        if (f_.json_body && calls_ == 0) content += f_.call_begin + buf_;
        break;
      case State::kSection: break;
    }
    buf_.clear();
  }

  int num_calls() const override { return calls_; }

 private:
  enum class State { kContent, kSection, kHead, kArgs };

  ToolCallDelta piece(std::string args) const {
    ToolCallDelta d;
    d.index = calls_ - 1;
    d.arguments = std::move(args);
    return d;
  }

  void start_call(std::string name, std::string args, std::vector<ToolCallDelta>& calls) {
    ToolCallDelta d;
    d.index = calls_++;
    d.first = true;
    d.id = "chatcmpl-tool-" + random_hex_id();
    d.name = std::move(name);
    d.arguments = std::move(args);
    calls.push_back(std::move(d));
  }

  // One transition; false when the buffer needs more text.
  bool step(std::string& content, std::vector<ToolCallDelta>& calls) {
    switch (state_) {
      case State::kContent: {
        const std::string& open = f_.section_begin.empty() ? f_.call_begin : f_.section_begin;
        const size_t p = buf_.find(open);
        if (p == std::string::npos) {
          const size_t keep = partial_marker_suffix(buf_, open);
          content.append(buf_, 0, buf_.size() - keep);
          buf_.erase(0, buf_.size() - keep);
          return false;
        }
        content.append(buf_, 0, p);
        buf_.erase(0, p + open.size());
        state_ = f_.section_begin.empty() ? State::kHead : State::kSection;
        return true;
      }
      case State::kSection: {
        // Between calls: the next call, or the end of the section; anything
        // else (new lines, stray text) is dropped.
        const size_t c = buf_.find(f_.call_begin);
        const size_t e = f_.section_end.empty() ? std::string::npos : buf_.find(f_.section_end);
        if (c != std::string::npos && (e == std::string::npos || c < e)) {
          buf_.erase(0, c + f_.call_begin.size());
          state_ = State::kHead;
          return true;
        }
        if (e != std::string::npos) {
          // After the section the model should stop; what follows is dropped.
          buf_.clear();
          ended_ = true;
          return false;
        }
        if (ended_) {
          buf_.clear();
          return false;
        }
        size_t keep = partial_marker_suffix(buf_, f_.call_begin);
        if (!f_.section_end.empty()) keep = std::max(keep, partial_marker_suffix(buf_, f_.section_end));
        buf_.erase(0, buf_.size() - keep);
        return false;
      }
      case State::kHead: {
        if (f_.json_body) {
          const size_t p = buf_.find(f_.call_end);
          if (p == std::string::npos) return false;
          const std::string body = buf_.substr(0, p);
          buf_.erase(0, p + f_.call_end.size());
          nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
          if (j.is_object() && j.contains("name") && j["name"].is_string()) {
            std::string args = "{}";
            if (j.contains("arguments"))
              args = j["arguments"].is_string() ? j["arguments"].get<std::string>() : j["arguments"].dump();
            start_call(j["name"].get<std::string>(), std::move(args), calls);
          } else if (calls_ == 0) {
            // Not a call after all: give the text back as content.
            content += f_.call_begin + body + f_.call_end;
            state_ = State::kContent;
            return true;
          }
          state_ = State::kSection;
          return true;
        }
        const size_t p = buf_.find(f_.name_end);
        if (p == std::string::npos) return false;
        std::string name = buf_.substr(0, p);
        if (!f_.type_sep.empty()) {
          const size_t s = name.find(f_.type_sep);
          if (s != std::string::npos) name.erase(0, s + f_.type_sep.size());
        }
        buf_.erase(0, p + f_.name_end.size());
        start_call(std::move(name), "", calls);
        state_ = State::kArgs;
        return true;
      }
      case State::kArgs: {
        const size_t p = buf_.find(f_.call_end);
        if (p == std::string::npos) {
          const size_t keep = partial_marker_suffix(buf_, f_.call_end);
          if (buf_.size() > keep) calls.push_back(piece(buf_.substr(0, buf_.size() - keep)));
          buf_.erase(0, buf_.size() - keep);
          return false;
        }
        if (p > 0) calls.push_back(piece(buf_.substr(0, p)));
        buf_.erase(0, p + f_.call_end.size());
        state_ = State::kSection;
        return true;
      }
    }
    return false;
  }

  Format f_;
  State state_ = State::kContent;
  std::string buf_;
  int calls_ = 0;
  bool ended_ = false;
};

// The output is the arguments of one call to a known function.
class ForcedCallParser final : public ToolCallParser {
 public:
  explicit ForcedCallParser(std::string name) : name_(std::move(name)) {}
  void feed(std::string_view text, std::string&, std::vector<ToolCallDelta>& calls) override {
    if (text.empty() && started_) return;
    ToolCallDelta d;
    d.first = !started_;
    if (d.first) {
      d.id = "chatcmpl-tool-" + random_hex_id();
      d.name = name_;
      started_ = true;
    }
    d.arguments = std::string(text);
    calls.push_back(std::move(d));
  }
  void finish(std::string& content, std::vector<ToolCallDelta>& calls) override {
    if (!started_) feed("", content, calls);  // an empty output is still the call
  }
  int num_calls() const override { return started_ ? 1 : 0; }

 private:
  std::string name_;
  bool started_ = false;
};

}  // namespace

std::unique_ptr<ToolCallParser> make_forced_tool_call_parser(const std::string& function_name) {
  return std::make_unique<ForcedCallParser>(function_name);
}

const std::vector<std::string>& tool_call_parser_names() {
  static const std::vector<std::string> names = {"deepseek_v3", "deepseek_v31", "hermes"};
  return names;
}

std::unique_ptr<ToolCallParser> make_tool_call_parser(const std::string& name) {
  if (name == "deepseek_v3") return std::make_unique<MarkerParser>(deepseek_v3());
  if (name == "deepseek_v31") return std::make_unique<MarkerParser>(deepseek_v31());
  if (name == "hermes") return std::make_unique<MarkerParser>(hermes());
  return nullptr;
}

ParsedToolCalls parse_tool_calls(ToolCallParser& parser, std::string_view text) {
  ParsedToolCalls out;
  std::vector<ToolCallDelta> pieces;
  parser.feed(text, out.content, pieces);
  parser.finish(out.content, pieces);
  for (auto& d : pieces) {
    if (d.first) out.calls.push_back({d.id, d.name, ""});
    if (!out.calls.empty()) out.calls.back().arguments += d.arguments;
  }
  return out;
}

}  // namespace sable::server
