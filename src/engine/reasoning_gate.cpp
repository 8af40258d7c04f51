#include "engine/reasoning_gate.h"

namespace sable {

ReasoningGate::ReasoningGate(std::string marker) : marker_(std::move(marker)), open_(marker_.empty()) {}

bool ReasoningGate::feed(std::string_view bytes, std::string& after) {
  after.clear();
  if (open_) {
    after.assign(bytes);
    return false;
  }
  window_.append(bytes);
  const size_t at = window_.find(marker_);
  if (at != std::string::npos) {
    open_ = true;
    after = window_.substr(at + marker_.size());
    window_.clear();
    return true;
  }
  if (window_.size() >= marker_.size()) window_.erase(0, window_.size() - (marker_.size() - 1));
  return false;
}

}  // namespace sable
