#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <unordered_map>

#include "core/rng.h"
#include "engine/bad_words.h"

namespace sable {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// log_softmax of the raw logits for the chosen token and the top n.
void raw_logprobs(const float* logits, int64_t V, int32_t chosen, int n, SampleResult& r) {
  float mx = *std::max_element(logits, logits + V);
  double sum = 0;
  for (int64_t i = 0; i < V; ++i) sum += std::exp(double(logits[i] - mx));
  const float lse = mx + float(std::log(sum));
  r.logprob = logits[chosen] - lse;
  if (n <= 0) return;
  // The top k in one pass, kept sorted (k <= 20): no index array of the
  // vocabulary per token (prompt logprobs call this once per prompt token).
  // Ties go to the lower id, which a scan in id order gives for free.
  const size_t k = size_t(std::min<int64_t>(n, V));
  std::vector<int32_t> best;
  best.reserve(k + 1);
  for (int32_t i = 0; i < int32_t(V); ++i) {
    if (best.size() == k && !(logits[i] > logits[best.back()])) continue;
    auto at =
        std::upper_bound(best.begin(), best.end(), i, [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    best.insert(at, i);
    if (best.size() > k) best.pop_back();
  }
  for (int32_t id : best) r.top.push_back({id, logits[id] - lse});
}
}  // namespace

TokenLogprob token_logprob(const float* logits, int64_t V, int32_t token, int n) {
  SampleResult r;
  raw_logprobs(logits, V, token, n, r);
  TokenLogprob t;
  t.token_id = token;
  t.logprob = r.logprob;
  t.top = std::move(r.top);
  t.rank = 1;
  for (int64_t i = 0; i < V; ++i) t.rank += logits[i] > logits[token];
  return t;
}

std::optional<TokenSamplingRow> device_sampling_row(const SamplerRow& row) {
  const SamplingParams& p = *row.params;
  const int generated = int(row.tokens->size()) - row.prompt_len;
  if (p.logprobs || !p.logit_bias.empty() || p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f ||
      p.frequency_penalty != 0.0f || generated < p.min_tokens || p.json_schema || row.allowed ||
      !p.allowed_token_ids.empty() || !p.bad_words_token_ids.empty())
    return std::nullopt;
  TokenSamplingRow r;
  r.temperature = p.temperature < 1e-5f ? 0.f : p.temperature;  // as sample_token's greedy test
  r.top_k = std::max(0, p.top_k);
  r.top_p = p.top_p;
  r.min_p = p.min_p;
  r.seed = hash_counter(row.seed, uint64_t(row.choice) * 0x9e3779b97f4a7c15ull + 1, 0);
  r.step = generated;
  return r;
}

void apply_logits_processors(float* logits, int64_t V, const SamplerRow& row) {
  const SamplingParams& p = *row.params;
  const int generated = int(row.tokens->size()) - row.prompt_len;
  if (row.allowed)
    for (int64_t i = 0; i < V; ++i)
      if (i >= int64_t(row.allowed->size()) || !(*row.allowed)[size_t(i)]) logits[i] = kNegInf;
  // vLLM's order: allowed_token_ids, bad_words, then min_tokens, logit_bias, penalties.
  if (!p.allowed_token_ids.empty()) {
    std::vector<float> kept(p.allowed_token_ids.size(), kNegInf);
    for (size_t i = 0; i < kept.size(); ++i)
      if (p.allowed_token_ids[i] >= 0 && p.allowed_token_ids[i] < V) kept[i] = logits[p.allowed_token_ids[i]];
    std::fill(logits, logits + V, kNegInf);
    for (size_t i = 0; i < kept.size(); ++i)
      if (p.allowed_token_ids[i] >= 0 && p.allowed_token_ids[i] < V) logits[p.allowed_token_ids[i]] = kept[i];
  }
  if (!p.bad_words_token_ids.empty())
    mask_bad_words(logits, V, p.bad_words_token_ids, row.tokens->data() + row.prompt_len, size_t(generated));
  if (generated < p.min_tokens) {
    if (row.eos_token_id && !p.ignore_eos && *row.eos_token_id < V) logits[*row.eos_token_id] = kNegInf;
    for (int32_t t : p.stop_token_ids)
      if (t >= 0 && t < V) logits[t] = kNegInf;
  }
  for (const auto& [t, b] : p.logit_bias)
    if (t >= 0 && t < V) logits[t] += b;
  const bool rep = p.repetition_penalty != 1.0f;
  const bool freq = p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f;
  if (!rep && !freq) return;
  std::unordered_map<int32_t, int> out_counts;
  for (size_t i = size_t(row.prompt_len); i < row.tokens->size(); ++i) ++out_counts[(*row.tokens)[i]];
  if (rep) {
    // vLLM: tokens seen in the prompt or the output; positive logits are
    // divided by the penalty, negative ones multiplied.
    std::vector<char> seen(size_t(V), 0);
    for (int32_t t : *row.tokens)
      if (t >= 0 && t < V) seen[size_t(t)] = 1;
    for (int64_t i = 0; i < V; ++i)
      if (seen[size_t(i)])
        logits[i] = logits[i] > 0 ? logits[i] / p.repetition_penalty : logits[i] * p.repetition_penalty;
  }
  if (freq)
    for (const auto& [t, c] : out_counts)
      if (t >= 0 && t < V) logits[t] -= p.frequency_penalty * float(c) + p.presence_penalty;
}

namespace {
// The logits after the processors: what greedy takes the argmax of and what
// the sampling distribution is built from.
std::vector<float> processed_logits(const float* raw, int64_t V, const SamplerRow& row) {
  std::vector<float> logits(raw, raw + V);
  apply_logits_processors(logits.data(), V, row);
  return logits;
}

int32_t argmax(const std::vector<float>& logits) {
  return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// The distribution sample_token draws from: ids[0, keep) are the kept
// candidates in a canonical order (probability descending, then id), so a
// draw maps to the same token on every run; prob[i] is normalised over the
// top-k candidates, so the kept ones sum to `mass` (<= 1) and a draw scales
// its uniform by mass instead of renormalising.
struct Candidates {
  std::vector<int32_t> ids;
  std::vector<double> prob;
  size_t keep = 0;
  double mass = 0;
};

// Temperature, top-k, min-p and top-p over the processed logits (scaled by
// 1/temperature in place). Shared by sample_token and verify_draft so that
// both draw from the very same distribution.
Candidates truncated_candidates(std::vector<float>& logits, const float* raw, const SamplingParams& p) {
  const int64_t V = int64_t(logits.size());
  const float inv_t = 1.f / p.temperature;
  float mx = kNegInf;
  for (float& l : logits) {
    l *= inv_t;
    mx = std::max(mx, l);
  }
  Candidates c;
  std::vector<int32_t>& cand = c.ids;
  cand.reserve(size_t(V));
  for (int32_t i = 0; i < int32_t(V); ++i)
    if (logits[size_t(i)] != kNegInf) cand.push_back(i);
  if (cand.empty()) cand.push_back(int32_t(std::max_element(raw, raw + V) - raw));
  auto by_prob = [&](int32_t a, int32_t b) {
    return logits[size_t(a)] > logits[size_t(b)] || (logits[size_t(a)] == logits[size_t(b)] && a < b);
  };
  const int top_k = p.top_k > 0 ? std::min<int>(p.top_k, int(cand.size())) : int(cand.size());
  if (top_k < int(cand.size())) {
    std::nth_element(cand.begin(), cand.begin() + top_k, cand.end(), by_prob);
    cand.resize(size_t(top_k));
  }
  std::sort(cand.begin(), cand.end(), by_prob);
  std::vector<double>& prob = c.prob;
  prob.resize(cand.size());
  double sum = 0;
  for (size_t i = 0; i < cand.size(); ++i) sum += prob[i] = std::exp(double(logits[size_t(cand[i])] - mx));
  for (double& q : prob) q /= sum;
  size_t keep = cand.size();
  if (p.min_p > 0) {  // drop tokens below min_p times the most likely one
    const double floor = double(p.min_p) * prob[0];
    while (keep > 1 && prob[keep - 1] < floor) --keep;
  }
  if (p.top_p < 1.0f) {  // smallest prefix whose mass reaches top_p
    double cum = 0;
    size_t k = 0;
    while (k < keep) {
      cum += prob[k++];
      if (cum >= double(p.top_p)) break;
    }
    keep = std::max<size_t>(1, k);
  }
  c.keep = keep;
  for (size_t i = 0; i < keep; ++i) c.mass += prob[i];
  return c;
}

// A uniform in [0, 1) that depends only on (seed, choice, step) and the
// stream: sample_token's draw is stream 1, verify_draft's acceptance test
// stream 2, so the two are independent.
double row_uniform(const SamplerRow& row, uint64_t stream) {
  const uint64_t h = hash_counter(row.seed, uint64_t(row.choice) * 0x9e3779b97f4a7c15ull + stream,
                                  uint64_t(int(row.tokens->size()) - row.prompt_len));
  return double(h >> 11) * 0x1p-53;
}

// The kept candidate where the cumulative probability (in canonical order,
// leaving out index `skip`) first exceeds u; the last one counted when
// rounding leaves u at or past the end.
int32_t pick(const Candidates& c, double u, size_t skip = SIZE_MAX) {
  double cum = 0;
  int32_t last = c.ids[c.keep - 1];
  for (size_t i = 0; i < c.keep; ++i) {
    if (i == skip) continue;
    cum += c.prob[i];
    last = c.ids[i];
    if (u < cum) return c.ids[i];
  }
  return last;
}
}  // namespace

SampleResult sample_token(const float* raw, int64_t V, const SamplerRow& row) {
  const SamplingParams& p = *row.params;
  std::vector<float> logits = processed_logits(raw, V, row);
  SampleResult r;
  if (p.temperature < 1e-5f) {
    r.token = argmax(logits);
  } else {
    const Candidates c = truncated_candidates(logits, raw, p);
    r.token = pick(c, row_uniform(row, 1) * c.mass);
  }
  if (p.logprobs) raw_logprobs(raw, V, r.token, *p.logprobs, r);
  return r;
}

SampleResult verify_draft(const float* raw, int64_t V, const SamplerRow& row, int32_t draft) {
  const SamplingParams& p = *row.params;
  std::vector<float> logits = processed_logits(raw, V, row);
  SampleResult r;
  if (p.temperature < 1e-5f) {
    r.token = argmax(logits);
    r.draft_accepted = r.token == draft;
  } else {
    const Candidates c = truncated_candidates(logits, raw, p);
    size_t at = c.keep;  // the draft's index among the kept candidates, or keep
    if (draft >= 0 && draft < V)
      at = size_t(std::find(c.ids.begin(), c.ids.begin() + ptrdiff_t(c.keep), draft) - c.ids.begin());
    if (at == c.keep) {
      // p(draft) = 0: always rejected, and the residual is p itself, so the
      // draw is sample_token's own (same uniform, same token).
      r.token = pick(c, row_uniform(row, 1) * c.mass);
    } else {
      // Residual mass summed over the others rather than mass - p(draft):
      // no cancellation when the draft holds nearly all the mass.
      const double pd = c.prob[at];
      double rest = 0;
      for (size_t i = 0; i < c.keep; ++i)
        if (i != at) rest += c.prob[i];
      // p(draft) = 1 up to rounding (the draft is the only kept candidate,
      // or the others underflowed): nothing to draw the residual from, and
      // the acceptance test could reject only with probability < 1e-12.
      if (rest <= 0 || pd >= c.mass * (1 - 1e-12)) {
        r.draft_accepted = true;
      } else {
        r.draft_accepted = row_uniform(row, 2) * c.mass < pd;
      }
      r.token = r.draft_accepted ? draft : pick(c, row_uniform(row, 1) * rest, at);
    }
  }
  if (p.logprobs) raw_logprobs(raw, V, r.token, *p.logprobs, r);
  return r;
}

}  // namespace sable
