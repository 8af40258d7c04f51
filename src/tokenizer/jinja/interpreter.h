// Tree-walking evaluator for parsed templates. Bounded: a render stops with a
// TemplateError when it exceeds its step budget, output size, item count or
// call depth, so no template (hostile or buggy) can hang the server or eat its
// memory.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/callable.h"
#include "tokenizer/jinja/error.h"
#include "tokenizer/jinja/namespace_registry.h"

namespace sable::jinja {

struct Limits {
  uint64_t max_steps = 20'000'000;      // statements + expressions evaluated
  size_t max_output = 32u << 20;        // bytes of any string built, output included
  size_t max_items = 1u << 20;          // elements of any list built (range, *, +)
  int max_call_depth = 64;              // nested macro calls
};

class Interpreter {
 public:
  Interpreter(const Template& tmpl, Limits limits) : tmpl_(tmpl), limits_(limits) {}
  // vars become the template's globals (after the builtins). Throws TemplateError.
  std::string render(const std::vector<std::pair<std::string, Value>>& vars);

  // Used by builtins.
  [[noreturn]] void fail(const std::string& msg) const;
  void step();
  void check_size(size_t bytes) const;
  void check_items(size_t n) const;
  Value call(const Value& callee, CallArgs& args);
  Value get_attr(const Value& obj, const std::string& name);
  Value get_item(const Value& obj, const Value& key);
  // What a for loop iterates: list items, dict keys, string characters.
  List iterate(const Value& v);
  Value apply_filter(const std::string& name, Value v, CallArgs& args);
  bool apply_test(const std::string& name, const Value& v, CallArgs& args);

 private:
  using Scope = std::unordered_map<std::string, Value>;
  enum class Flow { kNormal, kBreak, kContinue };

  Flow exec_body(const Body& body, std::string& out);
  Flow exec(const Stmt& s, std::string& out);
  void exec_for(const Stmt& s, std::string& out);
  Value eval(const Expr& e);
  Value eval_binary(const std::string& op, const Value& l, const Value& r);
  bool eval_compare(const std::string& op, const Value& l, const Value& r);
  Value lookup(const std::string& name) const;
  void assign(const std::string& name, Value v);
  void assign_targets(const std::vector<std::string>& targets, const Value& v);
  Value make_macro(const Stmt& s);
  Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
  void append(std::string& out, const std::string& s);
  void install_builtins(Scope& root);

  const Template& tmpl_;
  Limits limits_;
  std::vector<Scope> scopes_;  // [0] holds the globals; the last is innermost
  uint64_t steps_ = 0;
  int call_depth_ = 0;
  NamespaceRegistry namespaces_;  // emptied when a render ends
  int line_ = 0, col_ = 0;  // position of the node being evaluated, for errors
};

// json.dumps(v, ensure_ascii=False, indent, separators, sort_keys) as
// transformers' tojson filter calls it.
std::string to_json(Interpreter& in, const Value& v, int indent, const std::string& indent_str, bool use_indent,
                    const std::string& item_sep, const std::string& key_sep, bool sort_keys);

}  // namespace sable::jinja
