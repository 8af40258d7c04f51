#include "server/generation_defaults.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace sable::server {

bool SamplingDefaults::empty() const {
  return !temperature && !top_p && !min_p && !repetition_penalty && !top_k && !max_tokens;
}

std::string SamplingDefaults::describe() const {
  std::string s;
  auto add = [&](const char* k, const std::string& v) { s += (s.empty() ? "" : ", ") + std::string(k) + "=" + v; };
  if (temperature) add("temperature", fmt::format("{:g}", *temperature));
  if (top_p) add("top_p", fmt::format("{:g}", *top_p));
  if (top_k) add("top_k", std::to_string(*top_k));
  if (min_p) add("min_p", fmt::format("{:g}", *min_p));
  if (repetition_penalty) add("repetition_penalty", fmt::format("{:g}", *repetition_penalty));
  if (max_tokens) add("max_tokens", std::to_string(*max_tokens));
  return s;
}

Result<SamplingDefaults> load_generation_defaults(const std::string& dir) {
  SamplingDefaults d;
  const std::filesystem::path path = std::filesystem::path(dir) / "generation_config.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return d;
  std::ifstream in(path);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument(path.string() + " is not a JSON object");
  // Hugging Face's defaults: a field equal to one is no override (to_diff_dict).
  auto number = [&](const char* key, double lo, double hi, double hf_default) -> Result<std::optional<float>> {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::optional<float>();
    if (!it->is_number() || !(it->get<double>() >= lo && it->get<double>() <= hi))
      return invalid_argument(fmt::format("{}: '{}' must be a number in [{}, {}]", path.string(), key, lo, hi));
    if (it->get<double>() == hf_default) return std::optional<float>();
    return std::optional<float>(float(it->get<double>()));
  };
  SABLE_ASSIGN_OR_RETURN(d.temperature, number("temperature", 0, 1e4, 1.0));
  SABLE_ASSIGN_OR_RETURN(d.top_p, number("top_p", 1e-9, 1, 1.0));
  SABLE_ASSIGN_OR_RETURN(d.min_p, number("min_p", 0, 1, -1));
  SABLE_ASSIGN_OR_RETURN(d.repetition_penalty, number("repetition_penalty", 1e-6, 1e6, 1.0));
  auto integer = [&](const char* key, int64_t lo) -> Result<std::optional<int64_t>> {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::optional<int64_t>();
    if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > INT32_MAX)
      return invalid_argument(fmt::format("{}: '{}' must be an integer of at least {}", path.string(), key, lo));
    return std::optional<int64_t>(it->get<int64_t>());
  };
  SABLE_ASSIGN_OR_RETURN(std::optional<int64_t> top_k, integer("top_k", -1));
  if (top_k && *top_k != 50) d.top_k = int(*top_k);  // 50: Hugging Face's default
  SABLE_ASSIGN_OR_RETURN(d.max_tokens, integer("max_new_tokens", 1));
  return d;
}

}  // namespace sable::server
