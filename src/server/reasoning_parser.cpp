#include "server/reasoning_parser.h"

#include "server/text_markers.h"

namespace sable::server {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = kReasoningEnd;

class ThinkParser final : public ReasoningParser {
 public:
  // implicit_open: the output starts inside the reasoning (deepseek_r1).
  explicit ThinkParser(bool implicit_open) : implicit_open_(implicit_open) {}

  void feed(std::string_view text, std::string& reasoning, std::string& content) override {
    buf_.append(text);
    for (;;) {
      switch (state_) {
        case State::kStart:
          // Does the output open with <think>? Wait while it may.
          if (buf_.size() < kOpen.size() && std::string_view(kOpen).substr(0, buf_.size()) == buf_) return;
          if (buf_.compare(0, kOpen.size(), kOpen) == 0) {
            buf_.erase(0, kOpen.size());
            state_ = State::kReasoning;
          } else {
            state_ = implicit_open_ ? State::kReasoning : State::kContent;
          }
          continue;
        case State::kReasoning: {
          const size_t p = buf_.find(kClose);
          if (p == std::string::npos) {
            const size_t keep = partial_marker_suffix(buf_, kClose);
            reasoning.append(buf_, 0, buf_.size() - keep);
            buf_.erase(0, buf_.size() - keep);
            return;
          }
          reasoning.append(buf_, 0, p);
          buf_.erase(0, p + kClose.size());
          state_ = State::kContent;
          continue;
        }
        case State::kContent:
          content += buf_;
          buf_.clear();
          return;
      }
    }
  }

  void finish(std::string& reasoning, std::string& content) override {
    feed({}, reasoning, content);
    // Held back: part of a tag that never completed, so text of where we are.
    if (state_ == State::kStart) (implicit_open_ ? reasoning : content) += buf_;
    else if (state_ == State::kReasoning) reasoning += buf_;
    else content += buf_;
    buf_.clear();
  }

 private:
  enum class State { kStart, kReasoning, kContent };
  bool implicit_open_;
  State state_ = State::kStart;
  std::string buf_;
};

}  // namespace

bool reasoning_closed_in_prompt(std::string_view prompt) {
  const size_t close = prompt.rfind(kClose);
  if (close == std::string_view::npos) return false;
  const size_t open = prompt.rfind(kOpen);
  return open == std::string_view::npos || open < close;
}

const std::vector<std::string>& reasoning_parser_names() {
  static const std::vector<std::string> names = {"deepseek_r1", "qwen3"};
  return names;
}

std::unique_ptr<ReasoningParser> make_reasoning_parser(const std::string& name, bool prompt_closed) {
  if (name == "deepseek_r1") return std::make_unique<ThinkParser>(/*implicit_open=*/!prompt_closed);
  if (name == "qwen3") return std::make_unique<ThinkParser>(false);
  return nullptr;
}

}  // namespace sable::server
