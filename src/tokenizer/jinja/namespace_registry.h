// The namespaces one render made, emptied when it ends. A namespace is the
// only mutable template value, so it can hold itself (ns.x = ns, or through a
// list or a bound method), and shared pointers never free such a cycle;
// emptying every namespace breaks them all.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "tokenizer/jinja/value.h"

namespace sable::jinja {

class NamespaceRegistry {
 public:
  NamespaceRegistry() = default;
  NamespaceRegistry(const NamespaceRegistry&) = delete;
  NamespaceRegistry& operator=(const NamespaceRegistry&) = delete;
  ~NamespaceRegistry() { clear(); }

  void track(const std::shared_ptr<Namespace>& ns);
  // Empties every namespace still alive and forgets them all.
  void clear();

 private:
  static constexpr size_t kMinPrune = 64;
  std::vector<std::weak_ptr<Namespace>> namespaces_;
  size_t prune_at_ = kMinPrune;  // expired entries are pruned whenever the list doubles
};

}  // namespace sable::jinja
