// Globals (range, dict, namespace, raise_exception, strftime_now) and
// attribute access: dict keys, namespace attributes, and the str / dict /
// list methods chat templates call, bound to their receiver. Mutating methods
// are refused, as in jinja2's ImmutableSandboxedEnvironment.
#include <ctime>

#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/str_util.h"

namespace sable::jinja {
namespace {

Value builtin(std::string name, std::function<Value(CallArgs&)> fn) {
  auto c = std::make_shared<Callable>();
  c->name = std::move(name);
  c->fn = std::move(fn);
  return Value::callable(std::move(c));
}

const std::string* opt_str(Interpreter& in, const Value* v, const char* what) {
  if (!v || v->is_none()) return nullptr;
  if (!v->is_string()) in.fail(std::string(what) + " arg must be None or str");
  return &v->str();
}

int64_t opt_int(Interpreter& in, const Value* v, int64_t dflt) {
  if (!v || v->is_none()) return dflt;
  if (!v->is_int() && !v->is_bool()) in.fail("'" + v->type_name() + "' object cannot be interpreted as an integer");
  return v->as_int();
}

Value str_list(const std::vector<std::string>& parts) {
  List l;
  for (const auto& p : parts) l.push_back(Value::string(p));
  return Value::list(std::move(l));
}

// Python's str.format with {} / {0} / {name} fields (no format specs).
std::string py_format(Interpreter& in, const std::string& fmt, CallArgs& a) {
  std::string out;
  size_t auto_idx = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '{' && i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
    } else if (c == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') {
      out += '}';
      ++i;
    } else if (c == '{') {
      const size_t e = fmt.find('}', i);
      if (e == std::string::npos) in.fail("Single '{' encountered in format string");
      const std::string field = fmt.substr(i + 1, e - i - 1);
      const Value* v = nullptr;
      if (field.empty()) {
        v = auto_idx < a.pos.size() ? &a.pos[auto_idx] : nullptr;
        ++auto_idx;
      } else if (field.find_first_not_of("0123456789") == std::string::npos) {
        const size_t k = std::stoul(field);
        v = k < a.pos.size() ? &a.pos[k] : nullptr;
      } else {
        v = a.kwarg(field);
      }
      if (!v) in.fail("Replacement index out of range for format string");
      out += v->to_str();
      i = e;
    } else if (c == '}') {
      in.fail("Single '}' encountered in format string");
    } else {
      out += c;
    }
  }
  return out;
}

Value str_method(Interpreter& in, const Value& self, const std::string& name) {
  const std::string s = self.str();
  auto bind = [&](std::function<Value(CallArgs&)> fn) { return builtin("str." + name, std::move(fn)); };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const bool l = name != "rstrip", r = name != "lstrip";
    return bind([&in, s, l, r](CallArgs& a) { return Value::string(py_strip(s, opt_str(in, a.get(0, "chars"), "strip"), l, r)); });
  }
  if (name == "split" || name == "rsplit") {
    const bool right = name == "rsplit";
    return bind([&in, s, right](CallArgs& a) {
      const std::string* sep = opt_str(in, a.get(0, "sep"), "sep");
      if (sep && sep->empty()) in.fail("empty separator");
      return str_list(py_split(s, sep, opt_int(in, a.get(1, "maxsplit"), -1), right));
    });
  }
  if (name == "splitlines") return bind([s](CallArgs&) { return str_list(py_splitlines(s)); });
  if (name == "startswith" || name == "endswith") {
    const bool start = name == "startswith";
    return bind([&in, s, start](CallArgs& a) {
      const Value* p = a.get(0, "prefix");
      if (!p) in.fail("startswith/endswith takes at least 1 argument");
      List cands = p->is_list() ? p->items() : List{*p};
      for (const auto& c : cands) {
        if (!c.is_string()) in.fail("startswith/endswith first arg must be str or a tuple of str");
        const std::string& x = c.str();
        if (x.size() <= s.size() && (start ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0))
          return Value::boolean(true);
      }
      return Value::boolean(false);
    });
  }
  if (name == "upper") return bind([s](CallArgs&) { return Value::string(py_upper(s)); });
  if (name == "lower") return bind([s](CallArgs&) { return Value::string(py_lower(s)); });
  if (name == "title") return bind([s](CallArgs&) { return Value::string(py_title(s)); });
  if (name == "capitalize") return bind([s](CallArgs&) { return Value::string(py_capitalize(s)); });
  if (name == "replace") {
    return bind([&in, s](CallArgs& a) {
      const Value* f = a.get(0, "old");
      const Value* t = a.get(1, "new");
      if (!f || !t || !f->is_string() || !t->is_string()) in.fail("replace() arguments must be str");
      const std::string r = py_replace(s, f->str(), t->str(), opt_int(in, a.get(2, "count"), -1));
      in.check_size(r.size());
      return Value::string(r);
    });
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    return bind([&in, s, name](CallArgs& a) {
      const Value* sub = a.get(0, "sub");
      if (!sub || !sub->is_string()) in.fail(name + "() argument must be str");
      const std::string& x = sub->str();
      if (name == "count") {
        if (x.empty()) return Value::integer(static_cast<int64_t>(cp_index(s, s.size()) + 1));
        int64_t n = 0;
        for (size_t p = s.find(x); p != std::string::npos; p = s.find(x, p + x.size())) ++n;
        return Value::integer(n);
      }
      const size_t p = (name[0] == 'r') ? s.rfind(x) : s.find(x);
      if (p == std::string::npos) {
        if (name == "index" || name == "rindex") in.fail("substring not found");
        return Value::integer(-1);
      }
      return Value::integer(cp_index(s, p));
    });
  }
  if (name == "join") {
    return bind([&in, s](CallArgs& a) {
      const Value* it = a.get(0, "iterable");
      if (!it) in.fail("join() takes exactly one argument");
      std::string out;
      bool first = true;
      for (const auto& v : in.iterate(*it)) {
        if (!v.is_string()) in.fail("sequence item: expected str instance, " + v.type_name() + " found");
        if (!first) out += s;
        first = false;
        out += v.str();
        in.check_size(out.size());
      }
      return Value::string(std::move(out));
    });
  }
  if (name == "format") return bind([&in, s](CallArgs& a) { return Value::string(py_format(in, s, a)); });
  if (name.size() > 2 && name.compare(0, 2, "is") == 0) {
    return bind([s, name](CallArgs&) {
      if (s.empty()) return Value::boolean(false);
      bool ok = true, any_cased = false;
      for (unsigned char c : s) {
        const bool digit = c >= '0' && c <= '9', alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
        if (name == "isdigit" || name == "isnumeric" || name == "isdecimal") ok &= digit;
        else if (name == "isalpha") ok &= alpha;
        else if (name == "isalnum") ok &= alpha || digit;
        else if (name == "isspace") ok &= py_isspace(c);
        else if (name == "islower") { ok &= !(c >= 'A' && c <= 'Z'); any_cased |= c >= 'a' && c <= 'z'; }
        else if (name == "isupper") { ok &= !(c >= 'a' && c <= 'z'); any_cased |= c >= 'A' && c <= 'Z'; }
        else ok = false;
      }
      if (name == "islower" || name == "isupper") ok &= any_cased;
      return Value::boolean(ok);
    });
  }
  return Value::undefined("'str object' has no attribute '" + name + "'");
}

Value unsafe(Interpreter& in, const std::string& type, const std::string& name) {
  return builtin(name, [&in, type, name](CallArgs&) -> Value {
    in.fail("access to attribute '" + name + "' of '" + type + "' object is unsafe.");
  });
}

}  // namespace

Value Interpreter::get_attr(const Value& obj, const std::string& name) {
  switch (obj.type()) {
    case Value::Type::kUndefined:
      fail(obj.undefined_hint().empty() ? "'" + name + "' of an undefined value" : obj.undefined_hint());
    case Value::Type::kDict: {
      const Value self = obj;
      if (name == "items")
        return builtin("dict.items", [self](CallArgs&) {
          List l;
          for (const auto& [k, v] : self.dict().entries) l.push_back(Value::tuple({k, v}));
          return Value::list(std::move(l));
        });
      if (name == "keys")
        return builtin("dict.keys", [self](CallArgs&) {
          List l;
          for (const auto& e : self.dict().entries) l.push_back(e.first);
          return Value::list(std::move(l));
        });
      if (name == "values")
        return builtin("dict.values", [self](CallArgs&) {
          List l;
          for (const auto& e : self.dict().entries) l.push_back(e.second);
          return Value::list(std::move(l));
        });
      if (name == "get")
        return builtin("dict.get", [this, self](CallArgs& a) {
          const Value* k = a.get(0, "key");
          if (!k) fail("get expected at least 1 argument, got 0");
          if (const Value* v = self.dict().find(*k)) return *v;
          const Value* d = a.get(1, "default");
          return d ? *d : Value::none();
        });
      if (name == "copy") return builtin("dict.copy", [self](CallArgs&) { return self; });
      if (name == "pop" || name == "popitem" || name == "setdefault" || name == "update" || name == "clear")
        return unsafe(*this, "dict", name);
      if (const Value* v = obj.dict().find(Value::string(name))) return *v;
      return Value::undefined("'dict object' has no attribute '" + name + "'");
    }
    case Value::Type::kNamespace: {
      if (const Value* v = obj.ns().attrs.find(Value::string(name))) return *v;
      return Value::undefined("'Namespace object' has no attribute '" + name + "'");
    }
    case Value::Type::kString:
      return str_method(*this, obj, name);
    case Value::Type::kList: {
      const Value self = obj;
      if (name == "index" || name == "count")
        return builtin("list." + name, [this, self, name](CallArgs& a) {
          const Value* x = a.get(0, "value");
          if (!x) fail(name + "() takes exactly one argument");
          int64_t n = 0;
          for (size_t i = 0; i < self.items().size(); ++i) {
            if (!values_equal(self.items()[i], *x)) continue;
            if (name == "index") return Value::integer(static_cast<int64_t>(i));
            ++n;
          }
          if (name == "index") fail(x->repr() + " is not in list");
          return Value::integer(n);
        });
      if (name == "copy") return builtin("list.copy", [self](CallArgs&) { return self; });
      if (name == "append" || name == "extend" || name == "insert" || name == "pop" || name == "remove" ||
          name == "reverse" || name == "sort" || name == "clear")
        return unsafe(*this, "list", name);
      return Value::undefined("'list object' has no attribute '" + name + "'");
    }
    case Value::Type::kNone:
      return Value::undefined("'None' has no attribute '" + name + "'");
    default: {
      // Appended, not "'" + string&&: GCC 12 warns falsely (-Wrestrict) on that form.
      std::string hint = "'";
      hint += obj.type_name();
      hint += " object' has no attribute '";
      hint += name;
      hint += "'";
      return Value::undefined(std::move(hint));
    }
  }
}

void Interpreter::install_builtins(Scope& root) {
  root["range"] = builtin("range", [this](CallArgs& a) {
    int64_t start = 0, stop, stepv = 1;
    if (a.pos.empty() || a.pos.size() > 3) fail("range expected 1 to 3 arguments");
    for (const auto& v : a.pos)
      if (!v.is_int() && !v.is_bool()) fail("'" + v.type_name() + "' object cannot be interpreted as an integer");
    if (a.pos.size() == 1) {
      stop = a.pos[0].as_int();
    } else {
      start = a.pos[0].as_int();
      stop = a.pos[1].as_int();
      if (a.pos.size() == 3) stepv = a.pos[2].as_int();
    }
    if (stepv == 0) fail("range() arg 3 must not be zero");
    const long double count_ld = stepv > 0 ? (static_cast<long double>(stop) - start) / stepv
                                           : (static_cast<long double>(start) - stop) / -stepv;
    if (count_ld > static_cast<long double>(limits_.max_items)) check_items(SIZE_MAX);
    List l;
    for (int64_t i = start; stepv > 0 ? i < stop : i > stop; i += stepv) {
      l.push_back(Value::integer(i));
      if (l.size() > limits_.max_items) check_items(l.size());
    }
    return Value::list(std::move(l));
  });
  root["dict"] = builtin("dict", [this](CallArgs& a) {
    Dict d;
    if (!a.pos.empty()) {
      if (a.pos.size() > 1 || !a.pos[0].is_dict()) fail("dict() takes a mapping and keyword arguments");
      d = a.pos[0].dict();
    }
    for (const auto& [k, v] : a.kw) d.set(Value::string(k), v);
    return Value::dict(std::move(d));
  });
  root["namespace"] = builtin("namespace", [this](CallArgs& a) {
    auto ns = std::make_shared<Namespace>();
    namespaces_.track(ns);
    for (const auto& p : a.pos) {
      if (!p.is_dict()) fail("namespace() takes a mapping and keyword arguments");
      for (const auto& [k, v] : p.dict().entries) ns->attrs.set(k, v);
    }
    for (const auto& [k, v] : a.kw) {
      if (!k.empty() && k[0] == '_') fail("Chat templates cannot store underscore-prefixed attributes on a namespace");
      ns->attrs.set(Value::string(k), v);
    }
    return Value::ns(std::move(ns));
  });
  root["raise_exception"] = builtin("raise_exception", [this](CallArgs& a) -> Value {
    const Value* m = a.get(0, "message");
    fail(m ? m->to_str() : "raise_exception called");
  });
  root["strftime_now"] = builtin("strftime_now", [this](CallArgs& a) {
    const Value* f = a.get(0, "format");
    if (!f || !f->is_string()) fail("strftime_now() needs a format string");
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[512];
    const size_t n = std::strftime(buf, sizeof(buf), f->str().c_str(), &tm);
    return Value::string(std::string(buf, n));
  });
}

}  // namespace sable::jinja
