// Filters and tests: jinja2's builtins that chat templates use, plus
// transformers' tojson (json.dumps with ensure_ascii=False, indent,
// separators and sort_keys).
#include <algorithm>
#include <cfenv>
#include <cmath>
#include <cstdlib>

#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/str_util.h"
#include "tokenizer/utf8.h"

namespace sable::jinja {
namespace {

void json_string(const std::string& s, std::string& out) {
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

struct JsonOpts {
  bool use_indent;
  std::string indent;
  std::string item_sep, key_sep;
  bool sort_keys;
};

void dump(Interpreter& in, const Value& v, const JsonOpts& o, int level, std::string& out) {
  in.step();
  in.check_size(out.size());
  switch (v.type()) {
    case Value::Type::kNone: out += "null"; return;
    case Value::Type::kBool: out += v.as_bool() ? "true" : "false"; return;
    case Value::Type::kInt: out += std::to_string(v.as_int()); return;
    case Value::Type::kFloat: {
      const double d = v.as_double();
      if (std::isnan(d)) out += "NaN";
      else if (std::isinf(d)) out += d > 0 ? "Infinity" : "-Infinity";
      else out += float_repr(d);
      return;
    }
    case Value::Type::kString: json_string(v.str(), out); return;
    case Value::Type::kList:
    case Value::Type::kDict: {
      const bool is_list = v.is_list();
      const size_t n = is_list ? v.items().size() : v.dict().entries.size();
      if (level > 200) in.fail("tojson: value nested too deeply");
      if (n == 0) {
        out += is_list ? "[]" : "{}";
        return;
      }
      out += is_list ? '[' : '{';
      std::vector<size_t> order(n);
      for (size_t i = 0; i < n; ++i) order[i] = i;
      if (!is_list && o.sort_keys) {
        const auto& e = v.dict().entries;
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
          int c = 0;
          if (!values_compare(e[a].first, e[b].first, &c)) in.fail("tojson: sort_keys needs comparable keys");
          return c < 0;
        });
      }
      for (size_t k = 0; k < n; ++k) {
        if (k) out += o.item_sep;
        if (o.use_indent) {
          out += '\n';
          for (int l = 0; l <= level; ++l) out += o.indent;
        }
        if (is_list) {
          dump(in, v.items()[order[k]], o, level + 1, out);
        } else {
          const auto& [key, val] = v.dict().entries[order[k]];
          if (key.is_string()) json_string(key.str(), out);
          else if (key.is_bool()) out += key.as_bool() ? "\"true\"" : "\"false\"";
          else if (key.is_none()) out += "\"null\"";
          else if (key.is_number()) out += "\"" + key.repr() + "\"";
          else in.fail("keys must be str, int, float, bool or None, not " + key.type_name());
          out += o.key_sep;
          dump(in, val, o, level + 1, out);
        }
      }
      if (o.use_indent) {
        out += '\n';
        for (int l = 0; l < level; ++l) out += o.indent;
      }
      out += is_list ? ']' : '}';
      return;
    }
    default:
      in.fail("Object of type " + v.type_name() + " is not JSON serializable");
  }
}

int64_t to_int(const Value& v, int64_t dflt) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_float()) return std::isfinite(v.as_double()) ? static_cast<int64_t>(v.as_double()) : dflt;
  if (v.is_string()) {
    const std::string s = py_strip(v.str(), nullptr, true, true);
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && end && *end == 0 && errno == 0) return x;
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end && *end == 0 && std::isfinite(d)) return static_cast<int64_t>(d);
  }
  return dflt;
}

// The attribute path "a.b.0" of jinja2's map/sort/selectattr.
Value attr_path(Interpreter& in, Value v, const std::string& path) {
  size_t p = 0;
  while (p <= path.size()) {
    const size_t dot = path.find('.', p);
    const std::string part = path.substr(p, dot == std::string::npos ? std::string::npos : dot - p);
    const bool digits = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    v = in.get_item(v, digits ? Value::integer(std::stoll(part)) : Value::string(part));
    if (dot == std::string::npos) break;
    p = dot + 1;
  }
  return v;
}

Value sort_key(const Value& v, bool case_sensitive) {
  return (!case_sensitive && v.is_string()) ? Value::string(py_lower(v.str())) : v;
}

}  // namespace

std::string to_json(Interpreter& in, const Value& v, int, const std::string& indent_str, bool use_indent,
                    const std::string& item_sep, const std::string& key_sep, bool sort_keys) {
  std::string out;
  dump(in, v, JsonOpts{use_indent, indent_str, item_sep, key_sep, sort_keys}, 0, out);
  return out;
}

Value Interpreter::apply_filter(const std::string& name, Value v, CallArgs& a) {
  auto arg = [&](size_t i, const char* k) { return a.get(i, k); };
  auto need_undefined_ok = [&]() {
    if (v.is_undefined()) fail(v.undefined_hint().empty() ? "undefined value passed to filter '" + name + "'" : v.undefined_hint());
  };
  if (name == "default" || name == "d") {
    const Value* dv = arg(0, "default_value");
    const Value* b = arg(1, "boolean");
    if (v.is_undefined() || (b && b->truthy() && !v.truthy())) return dv ? *dv : Value::string("");
    return v;
  }
  if (name == "length" || name == "count") {
    if (v.is_string()) return Value::integer(static_cast<int64_t>(utf8_length(v.str())));
    if (v.is_list()) return Value::integer(static_cast<int64_t>(v.items().size()));
    if (v.is_dict()) return Value::integer(static_cast<int64_t>(v.dict().entries.size()));
    if (v.is_undefined()) return Value::integer(0);
    fail("object of type '" + v.type_name() + "' has no len()");
  }
  if (name == "tojson") {
    const Value* ind = arg(0, "indent");
    const Value* seps = a.kwarg("separators");
    const Value* sk = a.kwarg("sort_keys");
    bool use_indent = ind && !ind->is_none();
    std::string indent_str;
    if (use_indent) {
      if (ind->is_string()) indent_str = ind->str();
      else indent_str = std::string(static_cast<size_t>(std::clamp<int64_t>(ind->as_int(), 0, 64)), ' ');
    }
    std::string item_sep = use_indent ? "," : ", ", key_sep = ": ";
    if (seps && !seps->is_none()) {
      if (!seps->is_list() || seps->items().size() != 2 || !seps->items()[0].is_string() || !seps->items()[1].is_string())
        fail("tojson: separators must be a pair of strings");
      item_sep = seps->items()[0].str();
      key_sep = seps->items()[1].str();
    }
    return Value::string(to_json(*this, v, 0, indent_str, use_indent, item_sep, key_sep, sk && sk->truthy()));
  }
  if (name == "trim") {
    const Value* chars = arg(0, "chars");
    const std::string* c = (chars && chars->is_string()) ? &chars->str() : nullptr;
    return Value::string(py_strip(v.to_str(), c, true, true));
  }
  if (name == "upper") return Value::string(py_upper(v.to_str()));
  if (name == "lower") return Value::string(py_lower(v.to_str()));
  if (name == "title") return Value::string(py_title(v.to_str()));
  if (name == "capitalize") return Value::string(py_capitalize(v.to_str()));
  if (name == "string") return Value::string(v.to_str());
  if (name == "safe" || (name == "list" && v.is_list() && !v.is_tuple())) return v;
  if (name == "list") return Value::list(iterate(v));
  if (name == "e" || name == "escape" || name == "forceescape") {
    std::string out;
    for (char c : v.to_str()) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&#34;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
      }
    }
    return Value::string(std::move(out));
  }
  if (name == "first" || name == "last") {
    List l = iterate(v);
    if (l.empty()) return Value::undefined("No " + name + " item, sequence was empty.");
    return name == "first" ? l.front() : l.back();
  }
  if (name == "reverse") {
    if (v.is_string()) {
      List l = iterate(v);
      std::string out;
      for (size_t i = l.size(); i-- > 0;) out += l[i].str();
      return Value::string(std::move(out));
    }
    List l = iterate(v);
    std::reverse(l.begin(), l.end());
    return Value::list(std::move(l));
  }
  if (name == "join") {
    const Value* sep = arg(0, "d");
    const Value* attr = arg(1, "attribute");
    std::string out;
    bool first = true;
    for (auto& x : iterate(v)) {
      if (!first) out += sep ? sep->to_str() : "";
      first = false;
      out += (attr && !attr->is_none() ? attr_path(*this, x, attr->to_str()) : x).to_str();
      check_size(out.size());
    }
    return Value::string(std::move(out));
  }
  if (name == "items") {
    if (v.is_undefined()) return Value::list({});
    if (!v.is_dict()) fail("Can only get item pairs from a mapping.");
    List l;
    for (const auto& [k, x] : v.dict().entries) l.push_back(Value::tuple({k, x}));
    return Value::list(std::move(l));
  }
  if (name == "dictsort") {
    if (!v.is_dict()) fail("dictsort requires a mapping");
    const Value* cs = arg(0, "case_sensitive");
    const Value* by = arg(1, "by");
    const Value* rev = arg(2, "reverse");
    const bool by_value = by && by->is_string() && by->str() == "value";
    auto entries = v.dict().entries;
    std::stable_sort(entries.begin(), entries.end(), [&](const auto& x, const auto& y) {
      int c = 0;
      const Value kx = sort_key(by_value ? x.second : x.first, cs && cs->truthy());
      const Value ky = sort_key(by_value ? y.second : y.first, cs && cs->truthy());
      if (!values_compare(kx, ky, &c)) fail("dictsort: values cannot be compared");
      return rev && rev->truthy() ? c > 0 : c < 0;
    });
    List l;
    for (auto& [k, x] : entries) l.push_back(Value::tuple({k, x}));
    return Value::list(std::move(l));
  }
  if (name == "sort" || name == "unique" || name == "min" || name == "max") {
    const bool is_sort = name == "sort";
    const Value* rev = is_sort ? arg(0, "reverse") : nullptr;
    const Value* cs = is_sort ? arg(1, "case_sensitive") : arg(0, "case_sensitive");
    const Value* attr = is_sort ? arg(2, "attribute") : arg(1, "attribute");
    const bool case_sensitive = cs && cs->truthy();
    List l = iterate(v);
    auto key = [&](const Value& x) {
      return sort_key(attr && !attr->is_none() ? attr_path(*this, x, attr->to_str()) : x, case_sensitive);
    };
    if (name == "unique") {
      List out, seen;
      for (const auto& x : l) {
        const Value k = key(x);
        bool dup = false;
        for (const auto& s : seen) dup = dup || values_equal(s, k);
        if (!dup) {
          seen.push_back(k);
          out.push_back(x);
        }
      }
      return Value::list(std::move(out));
    }
    auto less = [&](const Value& x, const Value& y) {
      int c = 0;
      if (!values_compare(key(x), key(y), &c))
        fail("'<' not supported between instances of '" + x.type_name() + "' and '" + y.type_name() + "'");
      return c < 0;
    };
    if (name == "min" || name == "max") {
      if (l.empty()) return Value::undefined("No aggregated item, sequence was empty.");
      return name == "min" ? *std::min_element(l.begin(), l.end(), less) : *std::max_element(l.begin(), l.end(), less);
    }
    std::stable_sort(l.begin(), l.end(), [&](const Value& x, const Value& y) { return rev && rev->truthy() ? less(y, x) : less(x, y); });
    return Value::list(std::move(l));
  }
  if (name == "map") {
    List out;
    const Value* attr = a.kwarg("attribute");
    if (attr) {
      const Value* dflt = a.kwarg("default");
      for (const auto& x : iterate(v)) {
        Value r = attr_path(*this, x, attr->to_str());
        out.push_back(r.is_undefined() && dflt ? *dflt : r);
      }
      return Value::list(std::move(out));
    }
    if (a.pos.empty()) fail("map requires a filter name or attribute=");
    const std::string f = a.pos[0].to_str();
    CallArgs rest;
    rest.pos.assign(a.pos.begin() + 1, a.pos.end());
    rest.kw = a.kw;
    for (const auto& x : iterate(v)) out.push_back(apply_filter(f, x, rest));
    return Value::list(std::move(out));
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    const bool by_attr = name.size() > 6;
    const bool keep_if = name[0] == 's';
    size_t first = by_attr ? 1 : 0;
    if (by_attr && a.pos.empty()) fail(name + " requires an attribute name");
    std::string test = a.pos.size() > first ? a.pos[first].to_str() : "";
    CallArgs rest;
    if (a.pos.size() > first + 1) rest.pos.assign(a.pos.begin() + first + 1, a.pos.end());
    List out;
    for (const auto& x : iterate(v)) {
      const Value subject = by_attr ? attr_path(*this, x, a.pos[0].to_str()) : x;
      const bool ok = test.empty() ? subject.truthy() : apply_test(test, subject, rest);
      if (ok == keep_if) out.push_back(x);
    }
    return Value::list(std::move(out));
  }
  if (name == "attr") {
    const Value* n = arg(0, "name");
    if (!n) fail("attr requires a name");
    return get_attr(v, n->to_str());
  }
  if (name == "replace") {
    const Value* f = arg(0, "old");
    const Value* t = arg(1, "new");
    const Value* c = arg(2, "count");
    if (!f || !t) fail("replace requires old and new");
    std::string r = py_replace(v.to_str(), f->to_str(), t->to_str(), c && !c->is_none() ? c->as_int() : -1);
    check_size(r.size());
    return Value::string(std::move(r));
  }
  if (name == "int") {
    const Value* d = arg(0, "default");
    return Value::integer(to_int(v, d ? d->as_int() : 0));
  }
  if (name == "float") {
    const Value* d = arg(0, "default");
    if (v.is_number()) return Value::number(v.as_double());
    if (v.is_string()) {
      char* end = nullptr;
      const std::string s = py_strip(v.str(), nullptr, true, true);
      const double x = std::strtod(s.c_str(), &end);
      if (!s.empty() && end && *end == 0) return Value::number(x);
    }
    return d ? Value::number(d->as_double()) : Value::number(0.0);
  }
  if (name == "abs") {
    need_undefined_ok();
    if (v.is_float()) return Value::number(std::fabs(v.as_double()));
    if (v.is_number()) {
      if (v.as_int() == INT64_MIN) fail("integer overflow");
      return Value::integer(std::llabs(v.as_int()));
    }
    fail("bad operand type for abs(): '" + v.type_name() + "'");
  }
  if (name == "round") {
    const Value* p = arg(0, "precision");
    const Value* m = arg(1, "method");
    const int64_t prec = p ? std::clamp<int64_t>(p->as_int(), -20, 20) : 0;
    const std::string method = m ? m->to_str() : "common";
    const double scale = std::pow(10.0, static_cast<double>(prec));
    double x = v.as_double() * scale;
    if (method == "ceil") x = std::ceil(x);
    else if (method == "floor") x = std::floor(x);
    else x = std::nearbyint(x);  // Python's round: half to even
    return Value::number(x / scale);
  }
  if (name == "sum") {
    const Value* attr = a.kwarg("attribute");
    const Value* start = a.kwarg("start");
    Value acc = start ? *start : Value::integer(0);
    for (const auto& x : iterate(v)) {
      const Value y = attr ? attr_path(*this, x, attr->to_str()) : x;
      if (!acc.is_number() || !y.is_number()) fail("sum: unsupported operand types");
      acc = (acc.is_float() || y.is_float()) ? Value::number(acc.as_double() + y.as_double())
                                             : Value::integer(acc.as_int() + y.as_int());
    }
    return acc;
  }
  if (name == "indent") {
    const Value* w = arg(0, "width");
    const Value* first = arg(1, "first");
    const Value* blank = arg(2, "blank");
    const std::string pad = (w && w->is_string()) ? w->str() : std::string(static_cast<size_t>(std::clamp<int64_t>(w ? w->as_int() : 4, 0, 256)), ' ');
    const std::string s = v.to_str();
    std::string out;
    size_t start = 0;
    bool first_line = true;
    while (start <= s.size()) {
      size_t nl = s.find('\n', start);
      const std::string line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      const bool is_blank = py_strip(line, nullptr, true, true).empty();
      if ((first_line ? (first && first->truthy()) : true) && (!is_blank || (blank && blank->truthy()))) out += pad;
      out += line;
      first_line = false;
      if (nl == std::string::npos) break;
      out += '\n';
      start = nl + 1;
      check_size(out.size());
    }
    return Value::string(std::move(out));
  }
  if (name == "wordcount") return Value::integer(static_cast<int64_t>(py_split(v.to_str(), nullptr, -1, false).size()));
  if (name == "batch") {
    const Value* n = arg(0, "linecount");
    const int64_t k = n ? n->as_int() : 0;
    if (k <= 0) fail("batch size must be positive");
    List out, cur;
    for (const auto& x : iterate(v)) {
      cur.push_back(x);
      if (static_cast<int64_t>(cur.size()) == k) {
        out.push_back(Value::list(std::move(cur)));
        cur.clear();
      }
    }
    if (!cur.empty()) {
      if (const Value* fill = arg(1, "fill_with"))
        while (static_cast<int64_t>(cur.size()) < k) cur.push_back(*fill);
      out.push_back(Value::list(std::move(cur)));
    }
    return Value::list(std::move(out));
  }
  fail("No filter named '" + name + "'.");
}

bool Interpreter::apply_test(const std::string& name, const Value& v, CallArgs& a) {
  const Value* o = a.get(0, "other");
  auto need_other = [&]() -> const Value& {
    if (!o) fail("test '" + name + "' needs an argument");
    return *o;
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
  if (name == "sequence") return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
  if (name == "callable") return v.is_callable();
  if (name == "escaped") return false;
  if (name == "lower") return v.is_string() && py_lower(v.str()) == v.str();
  if (name == "upper") return v.is_string() && py_upper(v.str()) == v.str();
  if (name == "even" || name == "odd") {
    if (!v.is_int() && !v.is_bool()) fail("test '" + name + "' needs an integer");
    const bool even = v.as_int() % 2 == 0;
    return name == "even" ? even : !even;
  }
  if (name == "divisibleby") {
    const Value& d = need_other();
    if (d.as_int() == 0) fail("integer division or modulo by zero");
    return v.as_int() % d.as_int() == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return values_equal(v, need_other());
  if (name == "ne" || name == "!=") return !values_equal(v, need_other());
  if (name == "sameas") {
    const Value& x = need_other();
    if (v.type() != x.type()) return false;
    return values_equal(v, x);
  }
  if (name == "in") {
    const Value& c = need_other();
    if (c.is_string()) return v.is_string() && c.str().find(v.str()) != std::string::npos;
    if (c.is_dict()) return c.dict().find(v) != nullptr;
    for (const auto& x : iterate(c))
      if (values_equal(v, x)) return true;
    return false;
  }
  if (name == "lt" || name == "lessthan" || name == "<" || name == "le" || name == "<=" || name == "gt" ||
      name == "greaterthan" || name == ">" || name == "ge" || name == ">=") {
    int c = 0;
    if (!values_compare(v, need_other(), &c)) fail("values cannot be compared");
    if (name == "lt" || name == "lessthan" || name == "<") return c < 0;
    if (name == "le" || name == "<=") return c <= 0;
    if (name == "gt" || name == "greaterthan" || name == ">") return c > 0;
    return c >= 0;
  }
  fail("No test named '" + name + "'.");
}

}  // namespace sable::jinja
