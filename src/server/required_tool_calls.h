// tool_choice "required" as vLLM does it: the output is constrained to a
// JSON list of calls, each a tool's name and that tool's own parameters,
//
//   [{"name": "get_weather", "parameters": {"city": "Paris"}}, {"name": ...}]
//
// (at least one call; any tool, any number of times), and the list is then
// read back into tool calls: the arguments of each are the text of its
// "parameters" value, streamed as it is generated.
#pragma once

#include <memory>
#include <string>

#include "server/json_fields.h"
#include "server/tool_call_parser.h"

namespace sable::server {

// A tool's parameters schema: its function's "parameters", or an object
// with no properties when it has none (what a named tool_choice constrains
// the output to, and each call's parameters here).
Json tool_parameters_schema(const Json& function);

// The schema for `tools` (the request's list; each {"type": "function",
// "function": {"name", "parameters"?}}). Throws ApiException (400, param
// tool_choice) for a tool without a function name or two with one name.
Json required_tool_calls_schema(const Json& tools);

// Reads the calls out of output that follows that schema.
std::unique_ptr<ToolCallParser> make_required_tool_call_parser();

}  // namespace sable::server
