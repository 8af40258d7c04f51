#include "tokenizer/jinja/namespace_registry.h"

#include <algorithm>

namespace sable::jinja {

void NamespaceRegistry::track(const std::shared_ptr<Namespace>& ns) {
  if (namespaces_.size() >= prune_at_) {
    std::erase_if(namespaces_, [](const std::weak_ptr<Namespace>& w) { return w.expired(); });
    prune_at_ = std::max(kMinPrune, 2 * namespaces_.size());
  }
  namespaces_.push_back(ns);
}

void NamespaceRegistry::clear() {
  // Hold every live one first, so that emptying one frees none of the others
  // (whose destruction would then recurse through what they hold).
  std::vector<std::shared_ptr<Namespace>> live;
  for (const auto& w : namespaces_)
    if (auto ns = w.lock()) live.push_back(std::move(ns));
  namespaces_.clear();
  prune_at_ = kMinPrune;
  for (const auto& ns : live) ns->attrs.entries.clear();
}

}  // namespace sable::jinja
