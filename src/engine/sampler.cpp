#include "engine/sampler.h"

#include <algorithm>
#include <array>
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

// True when apply_logits_processors would leave the row as it is: greedy
// can then take the argmax of the raw logits without copying them, and the
// device sampler can take the row.
bool processors_idle(const SamplerRow& row) {
  const SamplingParams& p = *row.params;
  const int generated = int(row.tokens->size()) - row.prompt_len;
  return !row.allowed && p.allowed_token_ids.empty() && p.bad_words_token_ids.empty() && generated >= p.min_tokens &&
         p.logit_bias.empty() && p.repetition_penalty == 1.0f && p.frequency_penalty == 0.0f &&
         p.presence_penalty == 0.0f;
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
  if (p.logprobs || p.json_schema || !processors_idle(row)) return std::nullopt;
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

// The largest of x[0, n), -inf when there is none; NaN never wins. Eight
// independent maxima, which the compiler vectorizes: one running maximum
// (std::max_element, std::max in a loop) waits a compare's latency a value,
// ~100 us over a 129,280-entry vocabulary.
float max_of(const float* x, int64_t n) {
  float m[8] = {kNegInf, kNegInf, kNegInf, kNegInf, kNegInf, kNegInf, kNegInf, kNegInf};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
  for (; i < n; ++i) m[0] = x[i] > m[0] ? x[i] : m[0];
  float best = m[0];
  for (int j = 1; j < 8; ++j) best = m[j] > best ? m[j] : best;
  return best;
}

// The index of the largest value, the lowest on ties; NaN never wins (as
// the CUDA sampler's): the first block of 256 whose max_of is the largest,
// then the value's first place in it.
int32_t argmax(const float* x, int64_t V) {
  constexpr int64_t kBlock = 256;
  float best = kNegInf;
  int64_t best_block = -1;
  for (int64_t b = 0; b < V; b += kBlock) {
    const float bm = max_of(x + b, std::min(kBlock, V - b));
    if (bm > best) {  // strictly: the first block holding the maximum
      best = bm;
      best_block = b;
    }
  }
  // Every value -inf or NaN: the first -inf, else 0.
  const int64_t from = best_block < 0 ? 0 : best_block, to = best_block < 0 ? V : std::min(V, best_block + kBlock);
  for (int64_t i = from; i < to; ++i)
    if (x[i] == best) return int32_t(i);
  return 0;
}
int32_t argmax(const std::vector<float>& logits) { return argmax(logits.data(), int64_t(logits.size())); }

// A candidate token: its id, its processed logit over the temperature, and
// its probability (normalised over the top-k candidates).
struct Weighted {
  int32_t id;
  float x;
  double prob;
};
// The canonical order of the candidates: probability descending, then id,
// so that a draw maps to the same token on every run.
bool before(const Weighted& a, const Weighted& b) { return a.x > b.x || (a.x == b.x && a.id < b.id); }

// Over c[lo, hi), in canonical order, the first candidate at which the
// cumulative probability reaches t (cum >= t when `ge`, cum > t otherwise),
// or the last one when none does. Returns its index r and leaves c[lo, r)
// holding the candidates before it (in any order), c[r] itself, and the rest
// after. A selection, not a sort: O(hi - lo) a round. Each round bins the
// range by x (kBins equal widths from its largest x down to its least; the
// canonical order is bin by bin), walks the bins' masses to the one where
// the sum reaches t, and keeps only that bin, partitioned into place; the
// last few are sorted. Why bins: nth_element halvings took ~60 % of a draw
// over 129,280 logits at T=0.8 (2.2 of 3.5 ms, bench_host_sampler).
size_t cumulative_select(std::vector<Weighted>& c, size_t lo, size_t hi, double t, bool ge) {
  auto reached = [&](double cum) { return ge ? cum >= t : cum > t; };
  auto it = [&](size_t i) { return c.begin() + ptrdiff_t(i); };
  constexpr int kBins = 1024;
  std::array<double, kBins> mass;
  while (hi - lo > 64) {
    // Four independent extremes: one running pair waits a compare's latency a candidate.
    float hi4[4], lo4[4];
    for (int j = 0; j < 4; ++j) hi4[j] = lo4[j] = c[lo].x;
    size_t i = lo;
    for (; i + 4 <= hi; i += 4)
      for (int j = 0; j < 4; ++j) {
        hi4[j] = std::max(hi4[j], c[i + size_t(j)].x);
        lo4[j] = std::min(lo4[j], c[i + size_t(j)].x);
      }
    for (; i < hi; ++i) {
      hi4[0] = std::max(hi4[0], c[i].x);
      lo4[0] = std::min(lo4[0], c[i].x);
    }
    const float xmax = std::max(std::max(hi4[0], hi4[1]), std::max(hi4[2], hi4[3]));
    const float xmin = std::min(std::min(lo4[0], lo4[1]), std::min(lo4[2], lo4[3]));
    const float range = xmax - xmin;
    if (!(range > 0) || !std::isfinite(range)) break;  // ties (or an infinite x): sort them
    // Monotone in x (float rounding is), so the canonical order runs bin by
    // bin; the largest x lands in bin 0 and the least in the last, so every
    // round keeps a strictly smaller range.
    const float scale = float(kBins) / range;
    auto bin = [&](float x) { return std::min(kBins - 1, int((xmax - x) * scale)); };
    mass.fill(0.0);
    for (size_t i = lo; i < hi; ++i) mass[size_t(bin(c[i].x))] += c[i].prob;
    double before_b = 0;
    int b = 0;
    for (; b < kBins && !reached(before_b + mass[size_t(b)]); ++b) before_b += mass[size_t(b)];
    if (b == kBins) {  // never reached: the answer is the last candidate, in the last non-empty bin
      for (b = kBins - 1; b > 0 && mass[size_t(b)] == 0.0; --b) {
      }
      before_b -= mass[size_t(b)];
    }
    const auto first = std::partition(it(lo), it(hi), [&](const Weighted& w) { return bin(w.x) < b; });
    const auto last = std::partition(first, it(hi), [&](const Weighted& w) { return bin(w.x) == b; });
    t -= before_b;
    lo = size_t(first - c.begin());
    hi = size_t(last - c.begin());
  }
  std::sort(it(lo), it(hi), before);
  double cum = 0;
  for (size_t i = lo; i < hi; ++i)
    if (reached(cum += c[i].prob)) return i;
  return hi - 1;
}

// The distribution sample_token draws from: temperature, top-k, min-p and
// top-p over the processed logits (scaled by 1/temperature in place).
// c[0, keep) are the kept candidates, in no order, with probabilities
// normalised over the top-k candidates, so the kept ones sum to `mass`
// (<= 1) and a draw scales its uniform by mass instead of renormalising.
// Shared by sample_token and verify_draft so that both draw from the very
// same distribution.
struct Truncated {
  std::vector<Weighted> c;
  size_t keep = 0;
  double mass = 0;
};
Truncated truncate(std::vector<float>& logits, const float* raw, const SamplingParams& p) {
  const int64_t V = int64_t(logits.size());
  const float inv_t = 1.f / p.temperature;
  for (float& x : logits) x *= inv_t;
  const float mx = max_of(logits.data(), V);  // a running maximum took ~0.35 ms here
  Truncated t;
  std::vector<Weighted>& c = t.c;
  if (p.top_k > 0 && p.top_k < V) {
    // The top k in one pass, a heap whose front is the least of them: after
    // the first few thousand logits almost every one fails the one compare
    // with the front. Why: building every candidate and nth_element took
    // ~1.5 ms of a top-k 50 draw over 129,280 logits (bench_host_sampler).
    // Past the first k, a logit enters only when greater than the front's
    // (an equal one has a higher id): blocks of 16 whose maximum is not are
    // skipped after one vectorized pass.
    c.reserve(size_t(p.top_k));
    const float* l = logits.data();
    int32_t i = 0;
    for (; i < int32_t(V) && c.size() < size_t(p.top_k); ++i)
      if (l[i] != kNegInf && l[i] == l[i]) {  // NaN is never a candidate
        c.push_back({i, l[i], 0.0});
        std::push_heap(c.begin(), c.end(), before);
      }
    auto offer = [&](int32_t at) {
      if (!(l[at] > c.front().x)) return;
      std::pop_heap(c.begin(), c.end(), before);
      c.back() = {at, l[at], 0.0};
      std::push_heap(c.begin(), c.end(), before);
    };
    for (; i + 16 <= int32_t(V); i += 16)
      if (max_of(l + i, 16) > c.front().x)
        for (int j = 0; j < 16; ++j) offer(i + j);
    for (; i < int32_t(V); ++i) offer(i);
  } else {
    c.reserve(size_t(V));
    for (int32_t i = 0; i < int32_t(V); ++i)
      if (logits[size_t(i)] != kNegInf && logits[size_t(i)] == logits[size_t(i)])  // NaN is never a candidate
        c.push_back({i, logits[size_t(i)], 0.0});
  }
  if (c.empty()) {
    const int32_t i = argmax(raw, V);
    c.push_back({i, logits[size_t(i)], 0.0});
  }
  double sum = 0, top = 0;
  for (Weighted& w : c) {
    sum += w.prob = std::exp(double(w.x - mx));
    top = std::max(top, w.prob);
  }
  for (Weighted& w : c) w.prob /= sum;
  top /= sum;
  size_t keep = c.size();
  if (p.min_p > 0) {  // drop tokens below min_p times the most likely one (which stays)
    const double floor = double(p.min_p) * top;
    auto kept = std::partition(c.begin(), c.end(), [&](const Weighted& w) { return w.prob >= floor; });
    if (kept == c.begin()) {  // min_p > 1: the most likely alone
      std::iter_swap(c.begin(), std::min_element(c.begin(), c.end(), before));
      kept = c.begin() + 1;
    }
    keep = size_t(kept - c.begin());
  }
  if (p.top_p < 1.0f)
    keep = cumulative_select(c, 0, keep, double(p.top_p), true) + 1;  // smallest prefix reaching top_p
  t.keep = keep;
  for (size_t i = 0; i < keep; ++i) t.mass += c[i].prob;
  return t;
}

// sample_token's draw when top-k keeps every logit (the API's default
// request: temperature 1, no top-k): the distribution of truncate(), drawn
// without a candidate a logit. Why: building, normalizing and selecting
// 129,280 candidates of 16 bytes took ~1.8 ms a token (bench_host_sampler),
// as long as the demo model's whole step. Here, one pass takes each
// logit's weight exp(x - max) (x = logit / T) into bins of x (kBins equal
// widths from the largest x down to the least, so the canonical order runs
// bin by bin); the bins' masses locate top-p's cut and the draw, and only
// the bins they fall in are gathered as candidates (cumulative_select).
// Weights are unnormalized: top-p's target is top_p times the sum of every
// weight (min-p's drops included, as truncate normalizes), the draw's u
// times the kept mass; min-p keeps weights >= min_p (the top's is 1).
int32_t draw_without_top_k(std::vector<float>& logits, const float* raw, const SamplingParams& p, double u) {
  const int64_t V = int64_t(logits.size());
  float* l = logits.data();
  const float inv_t = 1.f / p.temperature;
  for (int64_t i = 0; i < V; ++i) l[i] *= inv_t;
  const float mx = max_of(l, V);
  // No candidate (every logit -inf or NaN): the raw argmax, as truncate.
  // An infinite logit holds all the mass: the first of them, the raw argmax.
  if (!(mx > kNegInf) || mx == -kNegInf) return argmax(raw, V);
  float lo8[8] = {mx, mx, mx, mx, mx, mx, mx, mx};  // the least candidate x; eight lanes vectorize
  int64_t i = 0;
  for (; i + 8 <= V; i += 8)
    for (int j = 0; j < 8; ++j) lo8[j] = l[i + j] > kNegInf && l[i + j] < lo8[j] ? l[i + j] : lo8[j];
  for (; i < V; ++i) lo8[0] = l[i] > kNegInf && l[i] < lo8[0] ? l[i] : lo8[0];
  const float xmin = *std::min_element(lo8, lo8 + 8);

  constexpr int kBins = 1024;
  const float range = mx - xmin;
  const float scale = range > 0 && std::isfinite(range) ? float(kBins) / range : 0.f;  // else one bin
  auto bin = [&](float x) { return std::min(kBins - 1, int((mx - x) * scale)); };
  const double min_w = p.min_p > 0 ? double(p.min_p) : 0.0;
  std::array<double, kBins> mass{};
  double total = 0;  // every candidate's weight, in id order (truncate's sum)
  for (int64_t k = 0; k < V; ++k) {
    if (!(l[k] > kNegInf)) continue;  // NaN is never a candidate
    const double w = std::exp(double(l[k] - mx));
    total += w;
    if (w >= min_w) mass[size_t(bin(l[k]))] += w;
  }
  // The kept candidates of bin b, with their weights.
  auto members = [&](int b) {
    std::vector<Weighted> m;
    for (int64_t k = 0; k < V; ++k) {
      if (!(l[k] > kNegInf) || bin(l[k]) != b) continue;
      const double w = std::exp(double(l[k] - mx));
      if (w >= min_w) m.push_back({int32_t(k), l[k], w});
    }
    return m;
  };
  int last = kBins - 1;  // the last bin holding a kept candidate
  while (last > 0 && mass[size_t(last)] == 0.0) --last;
  if (mass[size_t(last)] == 0.0) return argmax(l, V);  // min_p > 1: the most likely alone
  double kept = 0;
  for (int b = 0; b <= last; ++b) kept += mass[size_t(b)];
  // top-p: the bin where the kept mass reaches top_p of the whole, and in
  // it the canonical prefix that does (cut, in any order); the kept set
  // ends there.
  std::vector<Weighted> cut;
  if (p.top_p < 1.0f) {
    const double target = double(p.top_p) * total;
    double before = 0;
    int b = 0;
    for (; b <= last && !(before + mass[size_t(b)] >= target); ++b) before += mass[size_t(b)];
    if (b <= last) {  // else min-p kept less than top_p of the mass: every kept candidate stays
      cut = members(b);
      cut.resize(cumulative_select(cut, 0, cut.size(), target - before, true) + 1);
      last = b;
      kept = before;
      for (const Weighted& w : cut) kept += w.prob;
    }
  }
  // The draw: the bin where the cumulative weight first exceeds u times the
  // kept mass (the last kept bin when rounding leaves it at the end).
  const double t = u * kept;
  double before = 0;
  int b = 0;
  for (; b < last && !(before + mass[size_t(b)] > t); ++b) before += mass[size_t(b)];
  std::vector<Weighted> m = b == last && !cut.empty() ? std::move(cut) : members(b);
  return m[cumulative_select(m, 0, m.size(), t - before, false)].id;
}

// The kept candidates in canonical order, as verify_draft walks them.
struct Candidates {
  std::vector<int32_t> ids;
  std::vector<double> prob;
  size_t keep = 0;
  double mass = 0;
};
Candidates sorted_candidates(Truncated t) {
  std::sort(t.c.begin(), t.c.begin() + ptrdiff_t(t.keep), before);
  Candidates c;
  for (size_t i = 0; i < t.keep; ++i) {
    c.ids.push_back(t.c[i].id);
    c.prob.push_back(t.c[i].prob);
  }
  c.keep = t.keep;
  c.mass = t.mass;
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
  SampleResult r;
  if (p.temperature < 1e-5f && processors_idle(row)) {
    r.token = argmax(raw, V);
    if (p.logprobs) raw_logprobs(raw, V, r.token, *p.logprobs, r);
    return r;
  }
  std::vector<float> logits = processed_logits(raw, V, row);
  if (p.temperature < 1e-5f) {
    r.token = argmax(logits);
  } else if (p.top_k > 0 && p.top_k < V) {
    Truncated t = truncate(logits, raw, p);
    r.token = t.c[cumulative_select(t.c, 0, t.keep, row_uniform(row, 1) * t.mass, false)].id;
  } else {
    r.token = draw_without_top_k(logits, raw, p, row_uniform(row, 1));
  }
  if (p.logprobs) raw_logprobs(raw, V, r.token, *p.logprobs, r);
  return r;
}

SampleResult verify_draft(const float* raw, int64_t V, const SamplerRow& row, int32_t draft) {
  const SamplingParams& p = *row.params;
  SampleResult r;
  const bool greedy = p.temperature < 1e-5f;
  std::vector<float> logits = greedy && processors_idle(row) ? std::vector<float>() : processed_logits(raw, V, row);
  if (greedy) {
    r.token = logits.empty() ? argmax(raw, V) : argmax(logits);
    r.draft_accepted = r.token == draft;
  } else {
    const Candidates c = sorted_candidates(truncate(logits, raw, p));
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
