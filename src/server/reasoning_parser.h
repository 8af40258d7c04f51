// The model's reasoning apart from its answer, as vLLM's --reasoning-parser:
// the text inside <think> ... </think> goes to `reasoning` (and, for older
// clients, `reasoning_content`), the rest
// to `content`, incrementally so that streams send each as it arrives.
//
//   deepseek_r1  DeepSeek-R1 (the DeepSeek-V3 architecture): its chat template
//                opens <think> in the prompt, so the output starts inside the
//                reasoning, with or without its own <think>; everything up to
//                </think> is reasoning (all of it when </think> never comes).
//                When the rendered prompt has already closed the reasoning
//                (DeepSeek-V3.1 with thinking off ends the prompt in
//                </think>; a continued assistant message), the output is the
//                answer unless it opens a <think> itself (vLLM needs a
//                separate deepseek_v3 parser and the `thinking` template
//                argument for this; the prompt says it for any template).
//   qwen3        Qwen3: reasoning only when the output opens with <think>;
//                otherwise everything is content (enable_thinking=false).
//
// <think> and </think> are ordinary text in these tokenizers' outputs. A tag
// split across deltas is held back until it can be told from text.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sable::server {

class ReasoningParser {
 public:
  virtual ~ReasoningParser() = default;
  // The next text delta, split into reasoning and content (appended).
  virtual void feed(std::string_view text, std::string& reasoning, std::string& content) = 0;
  // The end of the output: what was held back.
  virtual void finish(std::string& reasoning, std::string& content) = 0;
};

// The end of the reasoning in these models' output.
inline constexpr std::string_view kReasoningEnd = "</think>";

// Whether a rendered prompt has already closed the reasoning (its last
// </think> comes after its last <think>: a template with thinking switched
// off, or a continued assistant message), so the reply is the answer from
// its first token. Otherwise structured output waits for the reply's
// </think> (SamplingParams::structured_after), as vLLM's guided decoding
// does with a reasoning parser; a reply that never closes its reasoning is
// then never constrained (vLLM's behaviour too).
bool reasoning_closed_in_prompt(std::string_view prompt);

// The parser for a --reasoning-parser name, or null for an unknown name.
// prompt_closed: reasoning_closed_in_prompt(the rendered prompt).
std::unique_ptr<ReasoningParser> make_reasoning_parser(const std::string& name, bool prompt_closed = false);
const std::vector<std::string>& reasoning_parser_names();

}  // namespace sable::server
