#include "bench/spec_decode_stats.h"

#include <cmath>
#include <cstdlib>
#include <string>

namespace sable::bench {

namespace {

constexpr std::string_view kDrafts = "vllm:spec_decode_num_drafts_total";
constexpr std::string_view kDraftTokens = "vllm:spec_decode_num_draft_tokens_total";
constexpr std::string_view kAccepted = "vllm:spec_decode_num_accepted_tokens_total";
constexpr std::string_view kPerPos = "vllm:spec_decode_num_accepted_tokens_per_pos_total";

// The value of label `name` in a sample's label text (`a="x",b="y"`), or "".
std::string_view label_value(std::string_view labels, std::string_view name) {
  size_t at = 0;
  while (at < labels.size()) {
    const size_t eq = labels.find('=', at);
    if (eq == std::string_view::npos || eq + 1 >= labels.size() || labels[eq + 1] != '"') return {};
    size_t end = eq + 2;
    while (end < labels.size() && labels[end] != '"') end += labels[end] == '\\' ? 2 : 1;
    if (end >= labels.size()) return {};
    std::string_view key = labels.substr(at, eq - at);
    while (!key.empty() && (key.front() == ' ' || key.front() == ',')) key.remove_prefix(1);
    if (key == name) return labels.substr(eq + 2, end - eq - 2);
    at = end + 1;
  }
  return {};
}

}  // namespace

SpecDecodeCounters parse_spec_decode_counters(std::string_view text) {
  SpecDecodeCounters c;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    // name[{labels}] value [timestamp]
    const size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, name_end);
    std::string_view labels, rest = line.substr(name_end);
    if (rest.front() == '{') {
      const size_t close = rest.rfind('}');
      if (close == std::string_view::npos) continue;
      labels = rest.substr(1, close - 1);
      rest = rest.substr(close + 1);
    }
    const std::string number(rest);
    char* end = nullptr;
    const double v = std::strtod(number.c_str(), &end);
    if (end == number.c_str() || !std::isfinite(v)) continue;
    if (name == kDrafts) {
      c.present = true;
      c.num_drafts += v;
    } else if (name == kDraftTokens) {
      c.draft_tokens += v;
    } else if (name == kAccepted) {
      c.accepted_tokens += v;
    } else if (name == kPerPos) {
      const std::string pos(label_value(labels, "position"));
      char* pend = nullptr;
      const long p = std::strtol(pos.c_str(), &pend, 10);
      if (pos.empty() || *pend != '\0' || p < 0 || p >= 1024) continue;
      if (c.accepted_per_pos.size() <= size_t(p)) c.accepted_per_pos.resize(size_t(p) + 1, 0.0);
      c.accepted_per_pos[size_t(p)] += v;
    }
  }
  return c;
}

std::optional<SpecDecodeStats> spec_decode_delta(const SpecDecodeCounters& before, const SpecDecodeCounters& after) {
  if (!before.present || !after.present) return std::nullopt;
  const double drafts = after.num_drafts - before.num_drafts;
  const double drafted = after.draft_tokens - before.draft_tokens;
  const double accepted = after.accepted_tokens - before.accepted_tokens;
  if (drafts <= 0 || drafted <= 0) return std::nullopt;
  SpecDecodeStats s;
  s.num_drafts = std::llround(drafts);
  s.draft_tokens = std::llround(drafted);
  s.accepted_tokens = std::llround(accepted);
  s.acceptance_rate = 100.0 * accepted / drafted;
  s.acceptance_length = 1.0 + accepted / drafts;
  for (size_t i = 0; i < after.accepted_per_pos.size(); ++i) {
    const double b = i < before.accepted_per_pos.size() ? before.accepted_per_pos[i] : 0.0;
    s.per_position_acceptance_rates.push_back((after.accepted_per_pos[i] - b) / drafts);
  }
  return s;
}

}  // namespace sable::bench
