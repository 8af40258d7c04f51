// Server-sent events as the OpenAI streaming API frames them: each event is
// "data: <json>\n\n" and the stream ends with "data: [DONE]\n\n". An error in
// the middle of a stream is an event {"error": {...}} followed by [DONE].
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sable::server {

inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";
inline constexpr std::string_view kSseContentType = "text/event-stream; charset=utf-8";

// "data: " + compact JSON (invalid UTF-8 replaced, never thrown) + "\n\n".
std::string sse_event(const nlohmann::json& payload);
std::string sse_event(const nlohmann::ordered_json& payload);
// Appends the event to out (avoids a copy per chunk when batching).
void append_sse_event(std::string& out, const nlohmann::ordered_json& payload);

// Compact JSON text that never throws on invalid UTF-8 (it is replaced).
std::string dump_json(const nlohmann::json& j);
std::string dump_json(const nlohmann::ordered_json& j);

}  // namespace sable::server
