// Functions a template can call: builtins (range, namespace, raise_exception,
// bound string/dict methods, loop.cycle) and macros.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja/value.h"

namespace sable::jinja {

struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  // The keyword argument name, or nullptr.
  const Value* kwarg(const std::string& name) const {
    for (const auto& [k, v] : kw)
      if (k == name) return &v;
    return nullptr;
  }
  // Positional argument i, else keyword name, else nullptr.
  const Value* get(size_t i, const std::string& name) const {
    if (i < pos.size()) return &pos[i];
    return kwarg(name);
  }
};

struct Callable {
  std::string name;
  // Throws TemplateError (interpreter.h) on misuse.
  std::function<Value(CallArgs&)> fn;
};

}  // namespace sable::jinja
