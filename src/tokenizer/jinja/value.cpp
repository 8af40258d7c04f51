#include "tokenizer/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "tokenizer/jinja/callable.h"
#include "tokenizer/jinja/error.h"
#include "tokenizer/utf8.h"

namespace sable::jinja {

Value Value::undefined(std::string hint) {
  Value v;
  v.s_ = std::make_shared<const std::string>(std::move(hint));
  return v;
}
Value Value::none() {
  Value v;
  v.type_ = Type::kNone;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.b_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.type_ = Type::kInt;
  v.i_ = i;
  return v;
}
Value Value::number(double d) {
  Value v;
  v.type_ = Type::kFloat;
  v.f_ = d;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.type_ = Type::kString;
  v.s_ = std::make_shared<const std::string>(std::move(s));
  return v;
}
namespace {

// Line -1: the interpreter adds where (Interpreter::render).
[[noreturn]] void throw_too_deep() {
  throw TemplateError("value nested deeper than " + std::to_string(kMaxNesting) + " levels", -1, -1);
}

// The depth of a container holding children of at most `child` levels.
uint16_t nested_depth(int child) {
  if (child + 1 > kMaxNesting) throw_too_deep();
  return static_cast<uint16_t>(child + 1);
}

}  // namespace

Value Value::list(List items) {
  int child = 0;
  for (const Value& x : items) child = std::max(child, x.depth());
  Value v;
  v.type_ = Type::kList;
  v.depth_ = nested_depth(child);
  v.list_ = std::make_shared<const List>(std::move(items));
  return v;
}
Value Value::tuple(List items) {
  Value v = list(std::move(items));
  v.tuple_ = true;
  return v;
}
Value Value::dict(Dict d) {
  int child = 0;
  for (const auto& [k, x] : d.entries) child = std::max({child, k.depth(), x.depth()});
  Value v;
  v.type_ = Type::kDict;
  v.depth_ = nested_depth(child);
  v.dict_ = std::make_shared<const Dict>(std::move(d));
  return v;
}
Value Value::ns(std::shared_ptr<Namespace> n) {
  Value v;
  v.type_ = Type::kNamespace;
  v.depth_ = 1;
  v.ns_ = std::move(n);
  return v;
}
Value Value::callable(std::shared_ptr<const Callable> c) {
  Value v;
  v.type_ = Type::kCallable;
  v.fn_ = std::move(c);
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& j, int level) {
  if ((j.is_array() || j.is_object()) && level >= kMaxNesting) throw_too_deep();  // before recursing, not after
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return none();
    case nlohmann::ordered_json::value_t::boolean:
      return boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      return u > static_cast<uint64_t>(INT64_MAX) ? number(static_cast<double>(u)) : integer(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return number(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List l;
      l.reserve(j.size());
      for (const auto& e : j) l.push_back(from_json(e, level + 1));
      return list(std::move(l));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict d;
      d.entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it)
        d.entries.emplace_back(string(it.key()), from_json(it.value(), level + 1));
      return dict(std::move(d));
    }
    default:
      return none();
  }
}

const std::string& Value::undefined_hint() const {
  static const std::string kEmpty;
  return s_ ? *s_ : kEmpty;
}

bool Value::truthy() const {
  switch (type_) {
    case Type::kUndefined:
    case Type::kNone:
      return false;
    case Type::kBool:
      return b_;
    case Type::kInt:
      return i_ != 0;
    case Type::kFloat:
      return f_ != 0.0;
    case Type::kString:
      return !s_->empty();
    case Type::kList:
      return !list_->empty();
    case Type::kDict:
      return !dict_->entries.empty();
    default:
      return true;
  }
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  // sci = [-]D[.DDD]e[+-]XX
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  const size_t epos = sci.find('e');
  int exp = std::stoi(sci.substr(epos + 1));
  std::string digits;
  for (size_t i = 0; i < epos; ++i)
    if (sci[i] != '.') digits.push_back(sci[i]);
  std::string out = neg ? "-" : "";
  if (exp >= -5 + 1 && exp < 16) {  // Python: fixed when -4 <= exp < 16
    if (exp >= 0) {
      if (digits.size() <= static_cast<size_t>(exp) + 1) {
        out += digits + std::string(exp + 1 - digits.size(), '0') + ".0";
      } else {
        out += digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
      }
    } else {
      out += "0.";  // appended piecewise: GCC 12 warns falsely (-Wrestrict) on "0." + string&&
      out.append(static_cast<size_t>(-exp - 1), '0');
      out += digits;
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out.append(".").append(digits, 1);
    char eb[16];
    std::snprintf(eb, sizeof(eb), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    out += eb;
  }
  return out;
}

std::string py_string_repr(const std::string& s) {
  const bool has_sq = s.find('\'') != std::string::npos, has_dq = s.find('"') != std::string::npos;
  const char q = (has_sq && !has_dq) ? '"' : '\'';
  std::string out(1, q);
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t bad = 1;
    size_t len = utf8_decode(s, i, &cp, &bad);
    if (len == 0) {
      cp = kReplacementChar;
      len = bad;
    }
    char buf[16];
    if (cp == static_cast<uint32_t>(q) || cp == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || cp == 0x7F) {
      std::snprintf(buf, sizeof(buf), "\\x%02x", cp);
      out += buf;
    } else if (cp >= 0x80 && cp < 0xA0) {
      std::snprintf(buf, sizeof(buf), "\\x%02x", cp);
      out += buf;
    } else {
      out.append(s, i, len);
    }
    i += len;
  }
  out.push_back(q);
  return out;
}

std::string Value::to_str() const {
  switch (type_) {
    case Type::kUndefined:
      return "";
    case Type::kString:
      return *s_;
    default:
      return repr();
  }
}

namespace {

// The namespaces whose repr is being built on this thread, outermost first:
// a namespace met again prints its attributes as {...}, as Python's dict
// repr does for a dict that contains itself.
thread_local std::vector<const Namespace*> t_repr_stack;

struct ReprGuard {
  explicit ReprGuard(const Namespace* ns) {
    if (t_repr_stack.size() >= static_cast<size_t>(kMaxNesting)) throw_too_deep();
    t_repr_stack.push_back(ns);
  }
  ~ReprGuard() { t_repr_stack.pop_back(); }
};

}  // namespace

std::string Value::repr() const {
  switch (type_) {
    case Type::kUndefined:
      return "";
    case Type::kNone:
      return "None";
    case Type::kBool:
      return b_ ? "True" : "False";
    case Type::kInt:
      return std::to_string(i_);
    case Type::kFloat:
      return float_repr(f_);
    case Type::kString:
      return py_string_repr(*s_);
    case Type::kList: {
      std::string out = tuple_ ? "(" : "[";
      for (size_t i = 0; i < list_->size(); ++i) {
        if (i) out += ", ";
        out += (*list_)[i].repr();
      }
      if (tuple_ && list_->size() == 1) out += ",";
      return out + (tuple_ ? ")" : "]");
    }
    case Type::kDict: {
      std::string out = "{";
      for (size_t i = 0; i < dict_->entries.size(); ++i) {
        if (i) out += ", ";
        out += dict_->entries[i].first.repr() + ": " + dict_->entries[i].second.repr();
      }
      return out + "}";
    }
    case Type::kNamespace: {
      if (std::find(t_repr_stack.begin(), t_repr_stack.end(), ns_.get()) != t_repr_stack.end())
        return "<Namespace {...}>";
      const ReprGuard guard(ns_.get());
      std::string out = "<Namespace {";
      for (size_t i = 0; i < ns_->attrs.entries.size(); ++i) {
        if (i) out += ", ";
        out += ns_->attrs.entries[i].first.repr() + ": " + ns_->attrs.entries[i].second.repr();
      }
      return out + "}>";
    }
    case Type::kCallable:
      return "<function " + fn_->name + ">";
  }
  return "";
}

std::string Value::type_name() const {
  switch (type_) {
    case Type::kUndefined:
      return "Undefined";
    case Type::kNone:
      return "NoneType";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kFloat:
      return "float";
    case Type::kString:
      return "str";
    case Type::kList:
      return "list";
    case Type::kDict:
      return "dict";
    case Type::kNamespace:
      return "Namespace";
    case Type::kCallable:
      return "function";
  }
  return "object";
}

namespace {

// The attributes of namespaces destroyed while an outer namespace's were
// being destroyed (Namespace::~Namespace); null when no destruction runs.
thread_local std::vector<Dict>* t_doomed = nullptr;

}  // namespace

Namespace::~Namespace() {
  if (attrs.entries.empty()) return;
  if (t_doomed) {
    t_doomed->push_back(std::move(attrs));
    return;
  }
  std::vector<Dict> doomed;
  doomed.push_back(std::move(attrs));
  t_doomed = &doomed;
  while (!doomed.empty()) {
    Dict d = std::move(doomed.back());
    doomed.pop_back();
    d.entries.clear();  // may destroy namespaces: they queue their attributes here
  }
  t_doomed = nullptr;
}

const Value* Dict::find(const Value& key) const {
  for (const auto& e : entries)
    if (values_equal(e.first, key)) return &e.second;
  return nullptr;
}

void Dict::set(Value key, Value v) {
  for (auto& e : entries)
    if (values_equal(e.first, key)) {
      e.second = std::move(v);
      return;
    }
  entries.emplace_back(std::move(key), std::move(v));
}

bool values_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone:
      return true;
    case Value::Type::kString:
      return a.str() == b.str();
    case Value::Type::kList: {
      if (a.is_tuple() != b.is_tuple() || a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i)
        if (!values_equal(a.items()[i], b.items()[i])) return false;
      return true;
    }
    case Value::Type::kDict: {
      if (a.dict().entries.size() != b.dict().entries.size()) return false;
      for (const auto& [k, v] : a.dict().entries) {
        const Value* o = b.dict().find(k);
        if (!o || !values_equal(v, *o)) return false;
      }
      return true;
    }
    case Value::Type::kNamespace:
      return &a.ns() == &b.ns();
    case Value::Type::kCallable:
      return &a.fn() == &b.fn();
    default:
      return false;
  }
}

bool values_compare(const Value& a, const Value& b, int* out) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      const double x = a.as_double(), y = b.as_double();
      *out = x < y ? -1 : x > y ? 1 : 0;
    } else {
      const int64_t x = a.as_int(), y = b.as_int();
      *out = x < y ? -1 : x > y ? 1 : 0;
    }
    return true;
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.str().compare(b.str());  // UTF-8 byte order is code point order
    *out = c < 0 ? -1 : c > 0 ? 1 : 0;
    return true;
  }
  if (a.is_list() && b.is_list()) {
    const auto &x = a.items(), &y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (values_equal(x[i], y[i])) continue;
      return values_compare(x[i], y[i], out);
    }
    *out = x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
    return true;
  }
  return false;
}

}  // namespace sable::jinja
