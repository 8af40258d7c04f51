// Values of the Jinja interpreter, with Python's semantics where chat
// templates can observe them: truthiness, equality (1 == 1.0 == True), str()
// and repr() formatting, ordered dicts, and jinja2's Undefined (prints as "",
// is falsy and empty, raises when its attributes are read or it is used in
// arithmetic). Lists, dicts and strings are immutable and shared; only a
// namespace() object is mutable, as in HF's ImmutableSandboxedEnvironment.
//
// Bounded recursion: every walk over a value (repr, ==, ordering, tojson,
// destruction) recurses into its children, so a list or dict may nest at most
// kMaxNesting levels (checked where it is built: lists and dicts are
// immutable, so their depth is exact). A namespace counts as one level, since
// its attributes change; the walks that enter namespaces (repr, destruction)
// guard themselves, and any cycle runs through a namespace (the only mutable
// object), which the interpreter clears when a render ends.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace sable::jinja {

class Value;
using List = std::vector<Value>;

// Deepest nesting of lists and dicts a value may have (Python's own
// recursion limit is 1000 frames; chat data nests ~10 levels).
constexpr int kMaxNesting = 512;
struct Dict;
struct Namespace;
struct Callable;

class Value {
 public:
  enum class Type { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kCallable };

  Value() = default;  // Undefined
  static Value undefined(std::string hint = {});
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double d);
  static Value string(std::string s);
  static Value list(List items);
  static Value tuple(List items);  // a list that prints as (a, b) and differs from lists in ==
  static Value dict(Dict d);
  static Value ns(std::shared_ptr<Namespace> n);
  static Value callable(std::shared_ptr<const Callable> c);
  // list/tuple/dict/from_json throw TemplateError (line -1: the interpreter
  // adds where) when the result would nest deeper than kMaxNesting.
  static Value from_json(const nlohmann::ordered_json& j, int level = 0);

  Type type() const { return type_; }
  // Levels of list/dict nesting (a scalar 0, a namespace 1).
  int depth() const { return depth_; }
  bool is_undefined() const { return type_ == Type::kUndefined; }
  bool is_none() const { return type_ == Type::kNone; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_float() const { return type_ == Type::kFloat; }
  bool is_number() const { return type_ == Type::kInt || type_ == Type::kFloat || type_ == Type::kBool; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_list() const { return type_ == Type::kList; }
  bool is_tuple() const { return type_ == Type::kList && tuple_; }
  bool is_dict() const { return type_ == Type::kDict; }
  bool is_namespace() const { return type_ == Type::kNamespace; }
  bool is_callable() const { return type_ == Type::kCallable; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return type_ == Type::kBool ? (b_ ? 1 : 0) : i_; }
  double as_double() const { return type_ == Type::kFloat ? f_ : static_cast<double>(as_int()); }
  const std::string& str() const { return *s_; }
  const List& items() const { return *list_; }
  const Dict& dict() const { return *dict_; }
  Namespace& ns() const { return *ns_; }
  const Callable& fn() const { return *fn_; }
  const std::string& undefined_hint() const;

  bool truthy() const;
  // Python's str() (Undefined prints as ""), and repr().
  std::string to_str() const;
  std::string repr() const;
  // Python's type name, for error messages ("dict object", "str object").
  std::string type_name() const;

 private:
  Type type_ = Type::kUndefined;
  bool b_ = false;
  bool tuple_ = false;
  uint16_t depth_ = 0;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<const std::string> s_;  // string, or the hint of an Undefined
  std::shared_ptr<const List> list_;
  std::shared_ptr<const Dict> dict_;
  std::shared_ptr<Namespace> ns_;
  std::shared_ptr<const Callable> fn_;
};

// An insertion-ordered dict; keys are strings in practice (JSON objects), but
// literals may use numbers, so keys are Values.
struct Dict {
  std::vector<std::pair<Value, Value>> entries;
  const Value* find(const Value& key) const;
  void set(Value key, Value v);
};

// namespace(): attributes assigned with {% set ns.x = ... %}. Namespaces
// can chain without bound (ns.x = namespace(n=ns.x) in a loop), so the
// destructor does not recurse: a namespace destroyed while another's
// attributes are being destroyed queues its own, and the outermost one
// destroys the queue in a loop.
struct Namespace {
  Dict attrs;
  Namespace() = default;
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;
  ~Namespace();
};

// Python equality (deep, numeric across int/float/bool) and ordering.
bool values_equal(const Value& a, const Value& b);
// -1, 0, 1; false when the types cannot be ordered.
bool values_compare(const Value& a, const Value& b, int* out);

// Python's float repr: shortest round-trip digits, "1e-05", "1.0".
std::string float_repr(double d);
// Python's repr() of a str.
std::string py_string_repr(const std::string& s);

}  // namespace sable::jinja
