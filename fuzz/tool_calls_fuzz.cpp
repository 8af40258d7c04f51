// The tool-call and reasoning parsers on arbitrary output text: no crash,
// and the same result whether the text comes whole or in pieces. The first
// byte picks the parser (high bit: a reasoning parser), the second the size
// of the pieces.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "server/reasoning_parser.h"
#include "server/tool_call_parser.h"

using namespace sable::server;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t step = 1 + data[1] % 16;
  const std::string text(reinterpret_cast<const char*>(data + 2), size - 2);
  if (data[0] & 0x80) {
    const auto& rnames = reasoning_parser_names();
    const std::string& rname = rnames[data[0] % rnames.size()];
    std::string r1, c1, r2, c2;
    auto a = make_reasoning_parser(rname);
    a->feed(text, r1, c1);
    a->finish(r1, c1);
    auto b = make_reasoning_parser(rname);
    for (size_t at = 0; at < text.size(); at += step) b->feed(std::string_view(text).substr(at, step), r2, c2);
    b->finish(r2, c2);
    if (r1 != r2 || c1 != c2 || r1.size() + c1.size() > text.size()) abort();
    return 0;
  }
  const auto& names = tool_call_parser_names();
  const std::string& name = names[data[0] % names.size()];

  auto whole_p = make_tool_call_parser(name);
  const ParsedToolCalls whole = parse_tool_calls(*whole_p, text);

  auto p = make_tool_call_parser(name);
  std::string content;
  std::vector<ToolCallDelta> pieces;
  for (size_t at = 0; at < text.size(); at += step)
    p->feed(std::string_view(text).substr(at, step), content, pieces);
  p->finish(content, pieces);
  std::vector<ToolCall> calls;
  for (const auto& d : pieces) {
    if (d.first) calls.push_back({d.id, d.name, ""});
    if (calls.empty()) abort();  // a later piece before any call
    calls.back().arguments += d.arguments;
  }
  if (content != whole.content || calls.size() != whole.calls.size()) abort();
  for (size_t i = 0; i < calls.size(); ++i)
    if (calls[i].name != whole.calls[i].name || calls[i].arguments != whole.calls[i].arguments) abort();
  return 0;
}
