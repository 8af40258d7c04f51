#include "server/logprobs_format.h"

#include <algorithm>
#include <cmath>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace sable::server {

using OJson = nlohmann::ordered_json;

std::string TokenStrings::bytes(int32_t id) const {
  std::string out;
  if (tok_) tok_->append_bytes(id, /*skip_special_tokens=*/false, out);
  return out;
}

std::string TokenStrings::text(int32_t id) const {
  if (as_ids_ || !tok_) return "token_id:" + std::to_string(id);
  return utf8_lossy(bytes(id));
}

double json_logprob(float lp) {
  if (std::isnan(lp)) return -9999.0;
  return std::max(double(lp), -9999.0);
}

static OJson bytes_json(const std::string& b) {
  OJson arr = OJson::array();
  for (unsigned char c : b) arr.push_back(int(c));
  return arr;
}

OJson chat_logprob_entries(const std::vector<TokenLogprob>& lps, const TokenStrings& ts) {
  OJson content = OJson::array();
  for (const TokenLogprob& t : lps) {
    OJson e;
    std::string b = ts.bytes(t.token_id);
    e["token"] = ts.text(t.token_id);
    e["logprob"] = json_logprob(t.logprob);
    e["bytes"] = bytes_json(b);
    OJson top = OJson::array();
    for (const auto& [id, lp] : t.top) {
      OJson x;
      x["token"] = ts.text(id);
      x["logprob"] = json_logprob(lp);
      x["bytes"] = bytes_json(ts.bytes(id));
      top.push_back(std::move(x));
    }
    e["top_logprobs"] = std::move(top);
    content.push_back(std::move(e));
  }
  return content;
}

OJson completion_logprobs(const std::vector<TokenLogprob>& lps, const TokenStrings& ts, size_t* offset,
                          const std::vector<TokenLogprob>* prompt, int top_n) {
  OJson tokens = OJson::array(), token_lps = OJson::array(), tops = OJson::array(), offsets = OJson::array();
  // One token; first: the prompt's first token, which has no logprob.
  auto add = [&](const TokenLogprob& t, size_t max_top, bool first) {
    std::string s = ts.text(t.token_id);
    if (first) {
      token_lps.push_back(nullptr);
      tops.push_back(nullptr);
    } else {
      token_lps.push_back(json_logprob(t.logprob));
      // vLLM's top dict always holds the token itself as well.
      OJson top = OJson::object();
      top[s] = json_logprob(t.logprob);
      for (size_t k = 0; k < t.top.size() && k < max_top; ++k)
        top[ts.text(t.top[k].first)] = json_logprob(t.top[k].second);
      tops.push_back(std::move(top));
    }
    offsets.push_back(*offset);
    *offset += utf8_length(s);
    tokens.push_back(std::move(s));
  };
  if (prompt)
    for (size_t i = 0; i < prompt->size(); ++i) add((*prompt)[i], size_t(std::max(top_n, 0)), i == 0);
  for (const TokenLogprob& t : lps) add(t, t.top.size(), false);
  OJson o;
  o["tokens"] = std::move(tokens);
  o["token_logprobs"] = std::move(token_lps);
  o["top_logprobs"] = std::move(tops);
  o["text_offset"] = std::move(offsets);
  return o;
}

OJson prompt_logprobs_json(const std::vector<TokenLogprob>& lps, int top_n, const TokenStrings& ts) {
  OJson out = OJson::array();
  for (size_t i = 0; i < lps.size(); ++i) {
    if (i == 0) {
      out.push_back(nullptr);
      continue;
    }
    const TokenLogprob& t = lps[i];
    auto entry = [&](int32_t id, float lp, int rank) {
      OJson e;
      e["logprob"] = json_logprob(lp);
      e["rank"] = rank;
      e["decoded_token"] = ts.text(id);
      return e;
    };
    OJson d = OJson::object();
    d[std::to_string(t.token_id)] = entry(t.token_id, t.logprob, t.rank);
    for (size_t k = 0; k < t.top.size() && int(k) < top_n; ++k) {
      const std::string key = std::to_string(t.top[k].first);
      if (!d.contains(key)) d[key] = entry(t.top[k].first, t.top[k].second, int(k) + 1);
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace sable::server
