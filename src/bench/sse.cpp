#include "bench/sse.h"

#include <nlohmann/json.hpp>

namespace sable::bench {

void SseParser::feed(std::string_view bytes, std::vector<std::string>& events) {
  buf_.append(bytes);
  size_t start = 0;
  for (;;) {
    // The earliest blank line ends an event, whichever line ending it uses.
    size_t best = std::string::npos, len = 0;
    for (std::string_view sep : {std::string_view("\n\n"), std::string_view("\r\n\r\n"), std::string_view("\r\r")}) {
      size_t p = buf_.find(sep, start);
      if (p != std::string::npos && p < best) {
        best = p;
        len = sep.size();
      }
    }
    if (best == std::string::npos) break;
    take_event(std::string_view(buf_).substr(start, best - start), events);
    start = best + len;
  }
  buf_.erase(0, start);
}

void SseParser::take_event(std::string_view block, std::vector<std::string>& events) {
  std::string data;
  bool any = false;
  while (!block.empty()) {
    size_t eol = block.find_first_of("\r\n");
    std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 1);
    if (line.rfind("data:", 0) != 0) continue;  // comments, event:, id:, retry:
    line.remove_prefix(5);
    if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (any) data += '\n';
    data.append(line);
    any = true;
  }
  if (any) events.push_back(std::move(data));
}

namespace {
bool nonempty_string(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() && !it->get_ref<const std::string&>().empty();
}
}  // namespace

ChunkInfo classify_chunk(std::string_view data, Endpoint endpoint) {
  ChunkInfo info;
  if (data == "[DONE]") {
    info.done = true;
    return info;
  }
  nlohmann::json j = nlohmann::json::parse(data, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    info.error = "unparseable stream event: " + std::string(data.substr(0, 200));
    return info;
  }
  if (auto e = j.find("error"); e != j.end() && !e->is_null()) {
    info.error = e->is_object() && e->contains("message") && (*e)["message"].is_string()
                     ? (*e)["message"].get<std::string>()
                     : e->dump();
    return info;
  }
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
    auto c = u->find("completion_tokens"), p = u->find("prompt_tokens");
    if (c != u->end() && c->is_number_integer()) info.completion_tokens = c->get<int>();
    if (p != u->end() && p->is_number_integer()) info.prompt_tokens = p->get<int>();
  }
  auto ch = j.find("choices");
  if (ch == j.end() || !ch->is_array() || ch->empty() || !(*ch)[0].is_object()) return info;
  const nlohmann::json& c0 = (*ch)[0];
  if (endpoint == Endpoint::kCompletions) {
    info.has_token = true;
    if (nonempty_string(c0, "text")) info.text = c0["text"].get<std::string>();
    return info;
  }
  const auto d = c0.find("delta");
  const bool finishing = c0.contains("finish_reason") && !c0["finish_reason"].is_null();
  if (d != c0.end() && d->is_object()) {
    if (nonempty_string(*d, "content")) info.text = (*d)["content"].get<std::string>();
    const bool reasoning = nonempty_string(*d, "reasoning_content") || nonempty_string(*d, "reasoning");
    const bool tools = d->contains("tool_calls") && (*d)["tool_calls"].is_array() && !(*d)["tool_calls"].empty();
    info.has_token = !info.text.empty() || reasoning || tools || finishing;
  } else {
    info.has_token = finishing;
  }
  return info;
}

}  // namespace sable::bench
