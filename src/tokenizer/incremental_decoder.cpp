#include "tokenizer/incremental_decoder.h"

#include "tokenizer/utf8.h"

namespace sable {

IncrementalDecoder::IncrementalDecoder(std::shared_ptr<const Tokenizer> tok, bool skip_special_tokens,
                                       std::vector<std::string> stop_strings, bool include_stop_str_in_output)
    : tok_(std::move(tok)), skip_special_(skip_special_tokens), include_stop_(include_stop_str_in_output) {
  for (auto& s : stop_strings)
    if (!s.empty()) stops_.push_back(std::move(s));  // an empty stop string would match everywhere
}

size_t IncrementalDecoder::held_back_len() const {
  size_t best = 0;
  const std::string& t = pending_text_;
  for (const auto& s : stops_) {
    const size_t max_len = std::min(s.size() - 1, t.size());
    for (size_t len = max_len; len > best; --len)
      if (t.compare(t.size() - len, len, s, 0, len) == 0) {
        best = len;
        break;
      }
  }
  return best;
}

IncrementalDecoder::Step IncrementalDecoder::push(int32_t id) {
  Step step;
  if (stopped_) {
    step.stopped = true;
    return step;
  }
  tok_->append_bytes(id, skip_special_, pending_bytes_);
  const size_t stable = utf8_stable_prefix_len(pending_bytes_);
  if (stable == 0) return step;
  pending_text_ += utf8_lossy(std::string_view(pending_bytes_).substr(0, stable));
  pending_bytes_.erase(0, stable);

  // The earliest stop string in the held-back text (longest on a tie).
  size_t best_pos = std::string::npos;
  const std::string* best = nullptr;
  for (const auto& s : stops_) {
    const size_t p = pending_text_.find(s);
    if (p == std::string::npos) continue;
    if (p < best_pos || (p == best_pos && s.size() > best->size())) {
      best_pos = p;
      best = &s;
    }
  }
  if (best) {
    step.delta = pending_text_.substr(0, best_pos + (include_stop_ ? best->size() : 0));
    step.stopped = true;
    step.matched_stop = *best;
    stopped_ = true;
    pending_text_.clear();
    pending_bytes_.clear();
  } else {
    const size_t keep = held_back_len();
    step.delta = pending_text_.substr(0, pending_text_.size() - keep);
    pending_text_.erase(0, pending_text_.size() - keep);
  }
  text_ += step.delta;
  return step;
}

std::string IncrementalDecoder::flush() {
  if (stopped_) return {};
  std::string rest = std::move(pending_text_);
  rest += utf8_lossy(pending_bytes_);
  pending_text_.clear();
  pending_bytes_.clear();
  text_ += rest;
  return rest;
}

}  // namespace sable
