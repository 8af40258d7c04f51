#include "engine/speculative_config.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace sable {

namespace {

using json = nlohmann::json;

constexpr const char* kExample = R"('{"method": "deepseek_mtp", "num_speculative_tokens": 1}')";
constexpr int kMaxSpeculativeTokens = 16;
constexpr int kMaxPromptLookup = 64;
// vLLM's default window when neither prompt_lookup_min nor _max is given.
constexpr int kDefaultPromptLookup = 5;

// Keys that decide what Sable computes.
constexpr std::string_view kUsedKeys[] = {
    "method", "model", "num_speculative_tokens", "prompt_lookup_min", "prompt_lookup_max", "disable_by_batch_size"};

// vLLM keys that only tune a separate draft model: type-checked, then
// ignored. See the header for why every other key is an error.
enum class Kind { kPositiveInt, kString, kBool };
struct IgnoredKey {
  std::string_view name;
  Kind kind;
};
constexpr IgnoredKey kIgnoredKeys[] = {
    {"draft_tensor_parallel_size", Kind::kPositiveInt},
    {"quantization", Kind::kString},
    {"max_model_len", Kind::kPositiveInt},
    {"revision", Kind::kString},
    {"code_revision", Kind::kString},
    {"enforce_eager", Kind::kBool},
    {"disable_padded_drafter_batch", Kind::kBool},
};

Status error(const std::string& msg) { return invalid_argument("--speculative-config: " + msg); }

// nlohmann's message without its "[json.exception.parse_error.101] " tag; it
// keeps "parse error at line L, column C: ...", which names the position.
std::string parse_error_text(const json::exception& e) {
  std::string s = e.what();
  size_t p = s.find("] ");
  return s.rfind("[json.exception", 0) == 0 && p != std::string::npos ? s.substr(p + 2) : s;
}

// A value as it appears in an error: shortened, with its JSON type, so that
// "2" (a string) and 2 read differently.
std::string show(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  const std::string type = v.is_number_integer() ? "integer" : v.type_name();
  return s + " (" + (std::string_view("aeiou").find(type[0]) != std::string_view::npos ? "an " : "a ") + type + ")";
}

// Appended, not "\"" + std::string(s): that form trips GCC 12's -Wrestrict false positive.
std::string in_quotes(std::string_view s) {
  std::string r = "\"";
  r.append(s);
  r += '"';
  return r;
}

std::string accepted_keys() {
  std::string s;
  for (std::string_view k : kUsedKeys) s += (s.empty() ? "" : ", ") + std::string(k);
  s += "; accepted and ignored (they tune a separate draft model): ";
  bool first = true;
  for (const IgnoredKey& k : kIgnoredKeys) {
    s += (first ? "" : ", ") + std::string(k.name);
    first = false;
  }
  return s;
}

// The key's value, or null when absent or null (vLLM's None).
const json* find(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

// An integer in [lo, hi]; a float, bool or string is a type error.
Result<int> get_int(const json& v, const char* key, int64_t lo, int64_t hi) {
  const std::string expected = hi == std::numeric_limits<int64_t>::max()
                                   ? (lo == 1 ? "a positive integer" : "an integer >= " + std::to_string(lo))
                                   : "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (!v.is_number_integer()) return error(in_quotes(key) + " must be " + expected + ", got " + show(v));
  int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())
                  ? std::numeric_limits<int64_t>::max()
                  : v.get<int64_t>();
  if (x < lo || x > hi) return error(in_quotes(key) + " must be " + expected + ", got " + show(v));
  // Only the small ranges reach an int; the ignored keys' values are dropped.
  return static_cast<int>(std::clamp<int64_t>(x, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
}

Status check_ignored(const json& obj) {
  for (const IgnoredKey& k : kIgnoredKeys) {
    const std::string key(k.name);
    const json* v = find(obj, key.c_str());
    if (!v) continue;
    switch (k.kind) {
      case Kind::kPositiveInt: {
        auto r = get_int(*v, key.c_str(), 1, std::numeric_limits<int64_t>::max());
        if (!r.is_ok()) return r.status();
        break;
      }
      case Kind::kString:
        if (!v->is_string()) return error(in_quotes(key) + " must be a string, got " + show(*v));
        break;
      case Kind::kBool:
        if (!v->is_boolean()) return error(in_quotes(key) + " must be true or false, got " + show(*v));
        break;
    }
  }
  return Status::ok();
}

bool is_ngram_name(const std::string& s) { return s == "ngram" || s == "[ngram]"; }

Result<SpeculativeConfig::Method> resolve_method(const json& obj) {
  using Method = SpeculativeConfig::Method;
  std::optional<std::string> model;
  if (const json* v = find(obj, "model")) {
    if (!v->is_string()) return error("\"model\" must be a string, got " + show(*v));
    model = v->get<std::string>();
  }
  const json* m = find(obj, "method");
  if (!m) {
    if (model && is_ngram_name(*model)) return Method::kNgram;  // vLLM's older spelling
    if (model)
      return error("\"model\": \"" + *model +
                   "\" without \"method\" asks for a separate draft model, which Sable does not run; for "
                   "DeepSeek-V3's own multi-token-prediction layer add \"method\": \"deepseek_mtp\" (e.g. " +
                   kExample + "), or use \"method\": \"ngram\" for prompt lookup");
    return error(
        "\"method\" is missing; use \"deepseek_mtp\" (the checkpoint's own multi-token-prediction layer) or "
        "\"ngram\" (prompt lookup), e.g. " +
        std::string(kExample));
  }
  const std::string supported =
      "Sable supports \"deepseek_mtp\" (or \"mtp\": the checkpoint's own multi-token-prediction layer) and "
      "\"ngram\" (prompt lookup)";
  if (!m->is_string()) return error("\"method\" must be a string, got " + show(*m) + "; " + supported);
  const std::string name = m->get<std::string>();
  if (name == "deepseek_mtp" || name == "mtp") return Method::kMtp;  // model, if any, is the target: ignored
  if (is_ngram_name(name)) {
    if (model && !is_ngram_name(*model))
      return error("\"model\": \"" + *model +
                   "\" does not go with \"method\": \"ngram\", which drafts from each sequence's own tokens; "
                   "remove \"model\"");
    return Method::kNgram;
  }
  return error("method \"" + name + "\" is not supported; " + supported +
               "; other methods need a separate draft model or library");
}

// vLLM's rule: neither bound -> both the default; one -> the other equals it.
Status parse_ngram_window(const json& obj, SpeculativeConfig& c) {
  std::optional<int> lo, hi;
  if (const json* v = find(obj, "prompt_lookup_min")) {
    SABLE_ASSIGN_OR_RETURN(lo, get_int(*v, "prompt_lookup_min", 1, kMaxPromptLookup));
  }
  if (const json* v = find(obj, "prompt_lookup_max")) {
    SABLE_ASSIGN_OR_RETURN(hi, get_int(*v, "prompt_lookup_max", 1, kMaxPromptLookup));
  }
  if (c.method != SpeculativeConfig::Method::kNgram) return Status::ok();  // vLLM ignores them for other methods
  if (!lo && !hi) lo = hi = kDefaultPromptLookup;
  if (!lo) lo = hi;
  if (!hi) hi = lo;
  if (*lo > *hi)
    return error("\"prompt_lookup_min\" (" + std::to_string(*lo) + ") must be <= \"prompt_lookup_max\" (" +
                 std::to_string(*hi) + "); they bound the n-gram lengths matched, longest first");
  c.prompt_lookup_min = *lo;
  c.prompt_lookup_max = *hi;
  return Status::ok();
}

}  // namespace

Result<SpeculativeConfig> parse_speculative_config(const std::string& text) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return SpeculativeConfig{};
  json obj;
  try {
    obj = json::parse(text);
  } catch (const json::exception& e) {
    return error("not valid JSON (" + parse_error_text(e) + "); expected a JSON object such as " + kExample);
  }
  if (!obj.is_object()) return error("expected a JSON object such as " + std::string(kExample) + ", got " + show(obj));

  for (const auto& [key, value] : obj.items()) {
    bool known = false;
    for (std::string_view k : kUsedKeys) known = known || key == k;
    for (const IgnoredKey& k : kIgnoredKeys) known = known || key == k.name;
    if (!known)
      return error("unknown or unsupported key \"" + key + "\"; remove it. Accepted keys: " + accepted_keys());
  }
  SABLE_RETURN_IF_ERROR(check_ignored(obj));

  SpeculativeConfig c;
  SABLE_ASSIGN_OR_RETURN(c.method, resolve_method(obj));
  const json* k = find(obj, "num_speculative_tokens");
  if (!k)
    return error("\"num_speculative_tokens\" is missing; give the number of draft tokens per step, an integer in [1, " +
                 std::to_string(kMaxSpeculativeTokens) + "], e.g. " + kExample);
  SABLE_ASSIGN_OR_RETURN(c.num_speculative_tokens, get_int(*k, "num_speculative_tokens", 1, kMaxSpeculativeTokens));
  SABLE_RETURN_IF_ERROR(parse_ngram_window(obj, c));
  // vLLM's bound: at 1 no step would ever draft, so speculation would be off.
  if (const json* d = find(obj, "disable_by_batch_size")) {
    SABLE_ASSIGN_OR_RETURN(c.disable_by_batch_size,
                           get_int(*d, "disable_by_batch_size", 2, std::numeric_limits<int64_t>::max()));
  }
  return c;
}

const char* speculative_method_name(SpeculativeConfig::Method m) {
  switch (m) {
    case SpeculativeConfig::Method::kMtp:
      return "mtp";
    case SpeculativeConfig::Method::kNgram:
      return "ngram";
    case SpeculativeConfig::Method::kNone:
      break;
  }
  return "none";
}

}  // namespace sable
