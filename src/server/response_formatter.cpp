#include "server/response_formatter.h"

namespace sable::server {

OJson ResponseFormatter::chunk_head(const char* object) const {
  OJson j;
  j["id"] = meta_.id;
  j["object"] = object;
  j["created"] = meta_.created;
  j["model"] = meta_.model;
  return j;
}

OJson ResponseFormatter::usage_json(const Usage& u) {
  OJson j;
  j["prompt_tokens"] = u.prompt_tokens;
  j["completion_tokens"] = u.completion_tokens;
  j["total_tokens"] = u.prompt_tokens + u.completion_tokens;
  j["prompt_tokens_details"] = OJson{{"cached_tokens", u.cached_tokens}};
  return j;
}

OJson ResponseFormatter::usage_chunk(const Usage& u) const {
  OJson j = chunk_head(chunk_object());
  j["choices"] = OJson::array();
  j["usage"] = usage_json(u);
  return j;
}

OJson ResponseFormatter::stop_reason_json(const ChoiceState& st) const {
  if (st.stop_reason.empty() || !st.finish || *st.finish != FinishReason::kStop) return nullptr;
  for (const auto& s : meta_.stop)
    if (s == st.stop_reason) return st.stop_reason;
  // Not one of the stop strings: the engine reports a stop token's id.
  char* end = nullptr;
  long v = std::strtol(st.stop_reason.c_str(), &end, 10);
  if (end && *end == '\0') return v;
  return st.stop_reason;
}

}  // namespace sable::server
