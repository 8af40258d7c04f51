#include "bench/dataset.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <unordered_set>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace sable::bench {

std::vector<int32_t> drawable_token_ids(const Tokenizer& tok) {
  std::unordered_set<int32_t> added;
  for (const AddedToken& a : tok.added_tokens()) added.insert(a.id);
  std::vector<int32_t> ids;
  std::string bytes;
  for (int64_t i = 0; i < tok.vocab_size(); ++i) {
    const int32_t id = int32_t(i);
    if (added.count(id) || tok.is_special(id)) continue;
    bytes.clear();
    tok.append_bytes(id, /*skip_special_tokens=*/false, bytes);
    if (bytes.empty() || !utf8_valid(bytes)) continue;
    ids.push_back(id);
  }
  return ids;
}

BenchPrompt random_text_prompt(const Tokenizer& tok, int target, const std::vector<int32_t>& allowed, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<size_t> pick(0, allowed.size() - 1);
  auto draw = [&](std::vector<int32_t>& v, int n) {
    for (int i = 0; i < n; ++i) v.push_back(allowed[pick(gen)]);
  };
  BenchPrompt best;
  std::vector<int32_t> ids;
  draw(ids, target);
  // Decoding then encoding merges or splits tokens at the seams, so the
  // count drifts by a few percent; truncating or topping up the re-encoded
  // ids converges in a few rounds.
  for (int round = 0; round < 16; ++round) {
    std::string text = tok.decode(ids, /*skip_special_tokens=*/false);
    std::vector<int32_t> enc = tok.encode(text, /*add_special_tokens=*/false);
    const int n = int(enc.size());
    if (best.ids.empty() || std::abs(n - target) < std::abs(best.prompt_len - target)) {
      best.text = text;
      best.ids = enc;
      best.prompt_len = n;
    }
    if (n == target) break;
    ids = std::move(enc);
    if (n > target) ids.resize(size_t(target));
    else draw(ids, target - n);
  }
  return best;
}

namespace {

int uniform_len(std::mt19937_64& gen, int len, double ratio) {
  if (ratio <= 0) return len;
  const int lo = std::max(1, int(std::floor(len * (1 - ratio))));
  const int hi = std::max(lo, int(std::ceil(len * (1 + ratio))));
  return std::uniform_int_distribution<int>(lo, hi)(gen);
}

int lognormal_len(std::mt19937_64& gen, int median) {
  std::lognormal_distribution<double> d(std::log(std::max(1, median)), 0.8);
  return std::clamp(int(std::lround(d(gen))), 4, std::max(4, 4 * median));
}

// vLLM's ShareGPT sampling: conversations in a seeded shuffle, the first
// turn as the prompt and the second's token count as the output length;
// pairs with either side under 4 tokens, a prompt over 1024 or a total
// over 2048 are skipped.
Result<std::vector<BenchPrompt>> sharegpt_file(const DatasetOptions& o, const Tokenizer& tok) {
  std::ifstream f(o.path);
  if (!f) return not_found("--dataset-path: cannot open " + o.path);
  nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return invalid_argument(o.path + ": not a ShareGPT JSON list");
  std::vector<size_t> order(j.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 gen(o.seed);
  std::shuffle(order.begin(), order.end(), gen);
  std::vector<BenchPrompt> out;
  for (size_t i : order) {
    if (int(out.size()) >= o.num_prompts) break;
    const auto& conv = j[i].is_object() ? j[i].value("conversations", nlohmann::json()) : nlohmann::json();
    if (!conv.is_array() || conv.size() < 2 || !conv[0].is_object() || !conv[1].is_object()) continue;
    const auto p = conv[0].value("value", nlohmann::json()), c = conv[1].value("value", nlohmann::json());
    if (!p.is_string() || !c.is_string()) continue;
    BenchPrompt bp;
    bp.text = p.get<std::string>();
    bp.ids = tok.encode(bp.text, false);
    bp.prompt_len = int(bp.ids.size());
    bp.output_len = int(tok.encode(c.get<std::string>(), false).size());
    if (bp.prompt_len < 4 || bp.output_len < 4 || bp.prompt_len > 1024 || bp.prompt_len + bp.output_len > 2048)
      continue;
    out.push_back(std::move(bp));
  }
  if (int(out.size()) < o.num_prompts)
    return invalid_argument(o.path + ": only " + std::to_string(out.size()) + " usable conversations for " +
                            std::to_string(o.num_prompts) + " prompts");
  return out;
}

}  // namespace

Result<std::vector<BenchPrompt>> make_prompts(const DatasetOptions& o, const Tokenizer* tok, int64_t vocab_size) {
  if (o.num_prompts < 1) return invalid_argument("--num-prompts must be at least 1");
  if (o.input_len < 1 || o.output_len < 1) return invalid_argument("--input-len and --output-len must be at least 1");
  if (o.name != "random" && o.name != "sharegpt-like")
    return invalid_argument("--dataset: unknown '" + o.name + "' (random, sharegpt-like)");
  if (o.name == "sharegpt-like" && !o.path.empty()) {
    if (!tok) return invalid_argument("--dataset-path needs a tokenizer (--tokenizer DIR)");
    return sharegpt_file(o, *tok);
  }
  std::mt19937_64 gen(o.seed);
  std::vector<int32_t> allowed;
  if (tok) allowed = drawable_token_ids(*tok);
  if (tok && allowed.empty()) return invalid_argument("the tokenizer has no plain tokens to draw prompts from");
  if (!tok && vocab_size < 1) return invalid_argument("no tokenizer and no vocabulary size to draw token ids from");
  std::vector<BenchPrompt> out;
  out.reserve(size_t(o.num_prompts));
  for (int i = 0; i < o.num_prompts; ++i) {
    const bool tail = o.name == "sharegpt-like";
    const int in = tail ? lognormal_len(gen, o.input_len) : uniform_len(gen, o.input_len, o.range_ratio);
    const int outl = tail ? lognormal_len(gen, o.output_len) : uniform_len(gen, o.output_len, o.range_ratio);
    const uint64_t prompt_seed = gen();
    BenchPrompt bp;
    if (tok) {
      bp = random_text_prompt(*tok, in, allowed, prompt_seed);
    } else {
      std::mt19937_64 g(prompt_seed);
      std::uniform_int_distribution<int64_t> d(0, vocab_size - 1);
      for (int t = 0; t < in; ++t) bp.ids.push_back(int32_t(d(g)));
      bp.prompt_len = in;
    }
    bp.output_len = outl;
    out.push_back(std::move(bp));
  }
  return out;
}

}  // namespace sable::bench
