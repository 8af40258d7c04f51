// Tool calls out of a chat model's output text, as vLLM's --tool-call-parser
// does: the formats the models were trained to emit, parsed incrementally so
// that a stream sends content and tool-call deltas as they arrive.
//
//   deepseek_v3   DeepSeek-V3 / R1 (what its chat template renders):
//                 <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n
//                 ```json\nARGS\n```<｜tool▁call▁end｜> ... <｜tool▁calls▁end｜>
//   deepseek_v31  DeepSeek-V3.1: <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME
//                 <｜tool▁sep｜>ARGS<｜tool▁call▁end｜> ... <｜tool▁calls▁end｜>
//   hermes        Qwen3 and Hermes: <tool_call>\n{"name": N, "arguments": {...}}\n</tool_call>
//
// The tool markers are ordinary (non-special) tokens in these tokenizers, so
// they are in the detokenized text whatever skip_special_tokens says.
// Content is the text before the first call; text between and after calls
// is dropped (as vLLM's parsers do). The parser works on bytes; a marker
// split across deltas is held back until it can be told from content.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sable::server {

// One piece of a tool call, in the shape of an OpenAI stream delta: the first
// piece of a call has its id and name (first == true), later pieces only
// more of the arguments' text.
struct ToolCallDelta {
  int index = 0;
  bool first = false;
  std::string id;         // "chatcmpl-tool-<32 hex>" (first piece)
  std::string name;       // (first piece)
  std::string arguments;  // JSON text, possibly a fragment
};

struct ToolCall {
  std::string id, name, arguments;
};

class ToolCallParser {
 public:
  virtual ~ToolCallParser() = default;
  // The next text delta: appends content to `content` and call pieces to `calls`.
  virtual void feed(std::string_view text, std::string& content, std::vector<ToolCallDelta>& calls) = 0;
  // The end of the output: what was held back (content, or the arguments of
  // a call cut short by max_tokens).
  virtual void finish(std::string& content, std::vector<ToolCallDelta>& calls) = 0;
  // Calls started so far.
  virtual int num_calls() const = 0;
};

// The parser for a --tool-call-parser name, or null for an unknown name.
std::unique_ptr<ToolCallParser> make_tool_call_parser(const std::string& name);
// tool_choice naming a function: the whole output (constrained to the
// function's parameters schema) is that function's arguments.
std::unique_ptr<ToolCallParser> make_forced_tool_call_parser(const std::string& function_name);
// The names make_tool_call_parser knows, for error messages.
const std::vector<std::string>& tool_call_parser_names();

// A whole output at once (non-streaming responses): the same parser, fed
// the text in one piece, with the calls' pieces joined.
struct ParsedToolCalls {
  std::string content;
  std::vector<ToolCall> calls;
};
ParsedToolCalls parse_tool_calls(ToolCallParser& parser, std::string_view text);

}  // namespace sable::server
