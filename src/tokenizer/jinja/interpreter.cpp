#include "tokenizer/jinja/interpreter.h"

#include <cstdint>

#include "tokenizer/utf8.h"

namespace sable::jinja {
namespace {

// Undefined values carry the message jinja2 would raise when they are used.
Value undefined_name(const std::string& name) { return Value::undefined("'" + name + "' is undefined"); }

// Code point offsets of s (so that indexing and slicing count characters,
// as Python's str does).
std::vector<size_t> char_offsets(const std::string& s) {
  std::vector<size_t> off;
  off.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<uint8_t>(s[i]) & 0xC0) != 0x80) off.push_back(i);
  off.push_back(s.size());
  return off;
}

}  // namespace

void Interpreter::fail(const std::string& msg) const { throw TemplateError(msg, line_, col_); }

void Interpreter::step() {
  if (++steps_ > limits_.max_steps)
    fail("template exceeded its step budget (" + std::to_string(limits_.max_steps) + " steps)");
}

void Interpreter::check_size(size_t bytes) const {
  if (bytes > limits_.max_output)
    fail("template output exceeds the limit of " + std::to_string(limits_.max_output) + " bytes");
}

void Interpreter::check_items(size_t n) const {
  if (n > limits_.max_items) fail("template built a list longer than " + std::to_string(limits_.max_items) + " items");
}

void Interpreter::append(std::string& out, const std::string& s) {
  check_size(out.size() + s.size());
  out += s;
}

std::string Interpreter::render(const std::vector<std::pair<std::string, Value>>& vars) {
  struct Cleanup {  // on return and on a TemplateError alike: hold nothing of this render past it
    Interpreter& in;
    ~Cleanup() {
      in.scopes_.clear();
      in.namespaces_.clear();
    }
  } cleanup{*this};
  scopes_.clear();
  scopes_.emplace_back();
  install_builtins(scopes_[0]);
  for (const auto& [k, v] : vars) scopes_[0][k] = v;
  std::string out;
  try {
    exec_body(tmpl_.body, out);  // break/continue outside a loop end the template, as jinja2 rejects them at compile
  } catch (const TemplateError& e) {
    if (e.line() >= 0) throw;
    fail(e.what());  // raised by a value (value.h): say where
  }
  return out;
}

Value Interpreter::lookup(const std::string& name) const {
  for (size_t i = scopes_.size(); i-- > 0;) {
    auto it = scopes_[i].find(name);
    if (it != scopes_[i].end()) return it->second;
  }
  return undefined_name(name);
}

void Interpreter::assign(const std::string& name, Value v) { scopes_.back()[name] = std::move(v); }

void Interpreter::assign_targets(const std::vector<std::string>& targets, const Value& v) {
  if (targets.size() == 1) {
    assign(targets[0], v);
    return;
  }
  List items = iterate(v);
  if (items.size() != targets.size())
    fail(items.size() < targets.size()
             ? "not enough values to unpack (expected " + std::to_string(targets.size()) + ", got " + std::to_string(items.size()) + ")"
             : "too many values to unpack (expected " + std::to_string(targets.size()) + ")");
  for (size_t i = 0; i < targets.size(); ++i) assign(targets[i], items[i]);
}

Interpreter::Flow Interpreter::exec_body(const Body& body, std::string& out) {
  for (const auto& s : body) {
    const Flow f = exec(*s, out);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec(const Stmt& s, std::string& out) {
  step();
  line_ = s.line;
  col_ = s.col;
  switch (s.kind) {
    case Stmt::Kind::kText:
      append(out, s.text);
      return Flow::kNormal;
    case Stmt::Kind::kOutput: {
      const Value v = eval(*s.expr);
      append(out, v.to_str());
      return Flow::kNormal;
    }
    case Stmt::Kind::kIf:
      for (const auto& [cond, body] : s.branches)
        if (eval(*cond).truthy()) return exec_body(body, out);
      return exec_body(s.else_body, out);
    case Stmt::Kind::kFor:
      exec_for(s, out);
      return Flow::kNormal;
    case Stmt::Kind::kSet: {
      Value v = eval(*s.expr);
      if (!s.text.empty()) {
        const Value target = lookup(s.targets[0]);
        line_ = s.line;
        col_ = s.col;
        if (!target.is_namespace()) fail("cannot assign attribute on non-namespace object");
        if (!s.text.empty() && s.text[0] == '_')
          fail("Chat templates cannot store underscore-prefixed attributes on a namespace");
        target.ns().attrs.set(Value::string(s.text), std::move(v));
      } else {
        assign_targets(s.targets, v);
      }
      return Flow::kNormal;
    }
    case Stmt::Kind::kSetBlock: {
      std::string buf;
      exec_body(*s.body, buf);
      Value v = Value::string(std::move(buf));
      if (s.expr) {
        // The filter chain's innermost value is null: feed the captured text.
        std::vector<const Expr*> chain;
        for (const Expr* f = s.expr.get(); f; f = f->args[0].get()) chain.push_back(f);
        for (size_t i = chain.size(); i-- > 0;) {
          CallArgs args;
          for (size_t k = 1; k < chain[i]->args.size(); ++k) args.pos.push_back(eval(*chain[i]->args[k]));
          for (const auto& [k, e] : chain[i]->kwargs) args.kw.emplace_back(k, eval(*e));
          v = apply_filter(chain[i]->name, v, args);
        }
      }
      assign(s.targets[0], std::move(v));
      return Flow::kNormal;
    }
    case Stmt::Kind::kFilterBlock: {
      std::string buf;
      exec_body(*s.body, buf);
      Value v = Value::string(std::move(buf));
      std::vector<const Expr*> chain;
      for (const Expr* f = s.expr.get(); f; f = f->args[0].get()) chain.push_back(f);
      for (size_t i = chain.size(); i-- > 0;) {
        CallArgs args;
        for (size_t k = 1; k < chain[i]->args.size(); ++k) args.pos.push_back(eval(*chain[i]->args[k]));
        for (const auto& [k, e] : chain[i]->kwargs) args.kw.emplace_back(k, eval(*e));
        v = apply_filter(chain[i]->name, v, args);
      }
      append(out, v.to_str());
      return Flow::kNormal;
    }
    case Stmt::Kind::kMacro:
      assign(s.text, make_macro(s));
      return Flow::kNormal;
    case Stmt::Kind::kBreak:
      return Flow::kBreak;
    case Stmt::Kind::kContinue:
      return Flow::kContinue;
    case Stmt::Kind::kScope:
      return exec_body(*s.body, out);
  }
  return Flow::kNormal;
}

void Interpreter::exec_for(const Stmt& s, std::string& out) {
  List all = iterate(eval(*s.expr));
  List items;
  if (s.cond) {
    // The inline filter runs first, so loop.index and loop.length count only kept items.
    for (const auto& item : all) {
      scopes_.emplace_back();
      assign_targets(s.targets, item);
      const bool keep = eval(*s.cond).truthy();
      scopes_.pop_back();
      if (keep) items.push_back(item);
    }
  } else {
    items = std::move(all);
  }
  if (items.empty()) {
    exec_body(s.else_body, out);
    return;
  }
  const int64_t n = static_cast<int64_t>(items.size());
  auto items_ptr = std::make_shared<const List>(items);
  for (int64_t i = 0; i < n; ++i) {
    step();
    Dict loop;
    auto set = [&](const char* k, Value v) { loop.entries.emplace_back(Value::string(k), std::move(v)); };
    set("index", Value::integer(i + 1));
    set("index0", Value::integer(i));
    set("revindex", Value::integer(n - i));
    set("revindex0", Value::integer(n - i - 1));
    set("first", Value::boolean(i == 0));
    set("last", Value::boolean(i == n - 1));
    set("length", Value::integer(n));
    set("depth", Value::integer(1));
    set("depth0", Value::integer(0));
    set("previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
    set("nextitem", i + 1 < n ? items[i + 1] : Value::undefined("there is no next item"));
    auto cycle = std::make_shared<Callable>();
    cycle->name = "cycle";
    cycle->fn = [this, i](CallArgs& a) -> Value {
      if (a.pos.empty()) fail("no items for cycling given");
      return a.pos[static_cast<size_t>(i) % a.pos.size()];
    };
    set("cycle", Value::callable(std::move(cycle)));
    scopes_.emplace_back();  // a fresh scope per iteration, as jinja2 has
    scopes_.back()["loop"] = Value::dict(std::move(loop));
    assign_targets(s.targets, items[i]);
    const Flow f = exec_body(*s.body, out);
    scopes_.pop_back();
    if (f == Flow::kBreak) break;
  }
}

Value Interpreter::make_macro(const Stmt& s) {
  auto c = std::make_shared<Callable>();
  c->name = s.text;
  const Stmt* def = &s;
  c->fn = [this, def](CallArgs& a) -> Value {
    if (++call_depth_ > limits_.max_call_depth) fail("macro calls nested too deeply");
    if (a.pos.size() > def->targets.size()) fail("macro '" + def->text + "' takes not more than " + std::to_string(def->targets.size()) + " argument(s)");
    Scope params;
    for (size_t i = 0; i < def->targets.size(); ++i) {
      const Value* v = a.get(i, def->targets[i]);
      if (v) params[def->targets[i]] = *v;
      else if (def->defaults[i]) params[def->targets[i]] = eval(*def->defaults[i]);
      else params[def->targets[i]] = Value::undefined("parameter '" + def->targets[i] + "' was not provided");
    }
    for (const auto& [k, v] : a.kw) {
      bool known = false;
      for (const auto& t : def->targets) known |= t == k;
      if (!known) fail("macro '" + def->text + "' takes no keyword argument '" + k + "'");
    }
    // The body sees the globals (as of the call) and its parameters.
    std::vector<Scope> saved;
    saved.swap(scopes_);
    scopes_.push_back(saved[0]);
    scopes_.push_back(std::move(params));
    std::string buf;
    try {
      exec_body(*def->body, buf);
    } catch (...) {
      scopes_.swap(saved);
      --call_depth_;
      throw;
    }
    saved[0] = std::move(scopes_[0]);  // top-level sets inside a macro do not leak, but keep globals coherent
    scopes_.swap(saved);
    --call_depth_;
    return Value::string(std::move(buf));
  };
  return Value::callable(std::move(c));
}

List Interpreter::iterate(const Value& v) {
  switch (v.type()) {
    case Value::Type::kList:
      return v.items();
    case Value::Type::kDict: {
      List keys;
      for (const auto& e : v.dict().entries) keys.push_back(e.first);
      return keys;
    }
    case Value::Type::kString: {
      List chars;
      const auto off = char_offsets(v.str());
      for (size_t i = 0; i + 1 < off.size(); ++i) chars.push_back(Value::string(v.str().substr(off[i], off[i + 1] - off[i])));
      return chars;
    }
    case Value::Type::kUndefined:
      return {};
    default:
      fail("'" + v.type_name() + "' object is not iterable");
  }
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) fail(callee.undefined_hint().empty() ? "undefined value is not callable" : callee.undefined_hint());
  if (!callee.is_callable()) fail("'" + callee.type_name() + "' object is not callable");
  return callee.fn().fn(args);
}

Value Interpreter::get_item(const Value& obj, const Value& key) {
  switch (obj.type()) {
    case Value::Type::kUndefined:
      fail(obj.undefined_hint().empty() ? "undefined value has no items" : obj.undefined_hint());
    case Value::Type::kDict: {
      if (const Value* v = obj.dict().find(key)) return *v;
      break;
    }
    case Value::Type::kList:
    case Value::Type::kString:
      if (key.is_int() || key.is_bool()) {
        int64_t i = key.as_int();
        if (obj.is_list()) {
          const int64_t n = static_cast<int64_t>(obj.items().size());
          if (i < 0) i += n;
          if (i >= 0 && i < n) return obj.items()[i];
          return Value::undefined("list object has no element " + std::to_string(key.as_int()));
        }
        const auto off = char_offsets(obj.str());
        const int64_t n = static_cast<int64_t>(off.size()) - 1;
        if (i < 0) i += n;
        if (i >= 0 && i < n) return Value::string(obj.str().substr(off[i], off[i + 1] - off[i]));
        return Value::undefined("str object has no element " + std::to_string(key.as_int()));
      }
      break;
    default:
      break;
  }
  // jinja2's getitem falls back to the attribute of that name.
  if (key.is_string()) return get_attr(obj, key.str());
  return Value::undefined("'" + obj.type_name() + " object' has no attribute " + key.repr());
}

Value Interpreter::slice(const Value& obj, const Value& start, const Value& stop, const Value& stepv) {
  auto opt = [&](const Value& v, int64_t* out) {
    if (v.is_none() || v.is_undefined()) return false;
    if (!v.is_int() && !v.is_bool()) fail("slice indices must be integers or None");
    *out = v.as_int();
    return true;
  };
  int64_t st = 1;
  opt(stepv, &st);
  if (st == 0) fail("slice step cannot be zero");
  const bool is_str = obj.is_string();
  if (!is_str && !obj.is_list()) {
    if (obj.is_undefined()) fail(obj.undefined_hint().empty() ? "undefined value cannot be sliced" : obj.undefined_hint());
    fail("'" + obj.type_name() + "' object is not subscriptable");
  }
  std::vector<size_t> off;
  int64_t n;
  if (is_str) {
    off = char_offsets(obj.str());
    n = static_cast<int64_t>(off.size()) - 1;
  } else {
    n = static_cast<int64_t>(obj.items().size());
  }
  // Python's slice.indices().
  int64_t b, e;
  auto clamp = [&](int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; };
  if (st > 0) {
    b = opt(start, &b) ? (b < 0 ? clamp(b + n, 0, n) : clamp(b, 0, n)) : 0;
    e = opt(stop, &e) ? (e < 0 ? clamp(e + n, 0, n) : clamp(e, 0, n)) : n;
  } else {
    b = opt(start, &b) ? (b < 0 ? clamp(b + n, -1, n - 1) : clamp(b, -1, n - 1)) : n - 1;
    e = opt(stop, &e) ? (e < 0 ? clamp(e + n, -1, n - 1) : clamp(e, -1, n - 1)) : -1;
  }
  std::string s;
  List l;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) {
    if (is_str) s.append(obj.str(), off[i], off[i + 1] - off[i]);
    else l.push_back(obj.items()[i]);
  }
  return is_str ? Value::string(std::move(s)) : Value::list(std::move(l));
}

Value Interpreter::eval(const Expr& e) {
  step();
  line_ = e.line;
  col_ = e.col;
  switch (e.kind) {
    case Expr::Kind::kLiteral:
      return e.literal;
    case Expr::Kind::kName:
      return lookup(e.name);
    case Expr::Kind::kAttr: {
      const Value obj = eval(*e.args[0]);
      line_ = e.line;
      col_ = e.col;
      return get_attr(obj, e.name);
    }
    case Expr::Kind::kItem: {
      const Value obj = eval(*e.args[0]);
      const Value key = eval(*e.args[1]);
      line_ = e.line;
      col_ = e.col;
      return get_item(obj, key);
    }
    case Expr::Kind::kSlice: {
      const Value obj = eval(*e.args[0]);
      Value parts[3];
      for (int i = 0; i < 3; ++i) parts[i] = e.args[i + 1] ? eval(*e.args[i + 1]) : Value::none();
      line_ = e.line;
      col_ = e.col;
      return slice(obj, parts[0], parts[1], parts[2]);
    }
    case Expr::Kind::kCall: {
      const Value callee = eval(*e.args[0]);
      CallArgs args;
      for (size_t i = 1; i < e.args.size(); ++i) args.pos.push_back(eval(*e.args[i]));
      for (const auto& [k, x] : e.kwargs) args.kw.emplace_back(k, eval(*x));
      line_ = e.line;
      col_ = e.col;
      return call(callee, args);
    }
    case Expr::Kind::kFilter: {
      Value v = eval(*e.args[0]);
      CallArgs args;
      for (size_t i = 1; i < e.args.size(); ++i) args.pos.push_back(eval(*e.args[i]));
      for (const auto& [k, x] : e.kwargs) args.kw.emplace_back(k, eval(*x));
      line_ = e.line;
      col_ = e.col;
      return apply_filter(e.name, std::move(v), args);
    }
    case Expr::Kind::kTest: {
      const Value v = eval(*e.args[0]);
      CallArgs args;
      for (size_t i = 1; i < e.args.size(); ++i) args.pos.push_back(eval(*e.args[i]));
      for (const auto& [k, x] : e.kwargs) args.kw.emplace_back(k, eval(*x));
      line_ = e.line;
      col_ = e.col;
      return Value::boolean(apply_test(e.name, v, args) != e.negated);
    }
    case Expr::Kind::kNeg:
    case Expr::Kind::kPos: {
      const Value v = eval(*e.args[0]);
      line_ = e.line;
      col_ = e.col;
      if (v.is_undefined()) fail(v.undefined_hint().empty() ? "undefined value in arithmetic" : v.undefined_hint());
      if (!v.is_number()) fail("bad operand type for unary " + std::string(e.kind == Expr::Kind::kNeg ? "-" : "+") + ": '" + v.type_name() + "'");
      if (e.kind == Expr::Kind::kPos) return v.is_bool() ? Value::integer(v.as_int()) : v;
      if (v.is_float()) return Value::number(-v.as_double());
      if (v.as_int() == INT64_MIN) fail("integer overflow");
      return Value::integer(-v.as_int());
    }
    case Expr::Kind::kNot:
      return Value::boolean(!eval(*e.args[0]).truthy());
    case Expr::Kind::kAnd: {
      Value l = eval(*e.args[0]);
      return l.truthy() ? eval(*e.args[1]) : l;
    }
    case Expr::Kind::kOr: {
      Value l = eval(*e.args[0]);
      return l.truthy() ? l : eval(*e.args[1]);
    }
    case Expr::Kind::kBinary: {
      const Value l = eval(*e.args[0]);
      const Value r = eval(*e.args[1]);
      line_ = e.line;
      col_ = e.col;
      return eval_binary(e.name, l, r);
    }
    case Expr::Kind::kCompare: {
      Value l = eval(*e.args[0]);
      for (size_t i = 0; i < e.ops.size(); ++i) {
        Value r = eval(*e.args[i + 1]);
        line_ = e.line;
        col_ = e.col;
        if (!eval_compare(e.ops[i], l, r)) return Value::boolean(false);
        l = std::move(r);
      }
      return Value::boolean(true);
    }
    case Expr::Kind::kCond: {
      if (eval(*e.args[1]).truthy()) return eval(*e.args[0]);
      if (e.args[2]) return eval(*e.args[2]);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                              " evaluated to false and no else section was defined.");
    }
    case Expr::Kind::kList:
    case Expr::Kind::kTuple: {
      List l;
      for (const auto& x : e.args) l.push_back(eval(*x));
      return e.kind == Expr::Kind::kTuple ? Value::tuple(std::move(l)) : Value::list(std::move(l));
    }
    case Expr::Kind::kDict: {
      Dict d;
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        Value k = eval(*e.args[i]);
        d.set(std::move(k), eval(*e.args[i + 1]));
      }
      return Value::dict(std::move(d));
    }
  }
  return Value();
}

}  // namespace sable::jinja
