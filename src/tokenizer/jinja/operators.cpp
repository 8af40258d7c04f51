// The binary operators of Jinja expressions (arithmetic, concatenation,
// repetition, comparisons and membership) with Python's semantics: floor
// division and modulo take the divisor's sign, integers fail on overflow
// instead of wrapping, and repetition respects the output and item limits.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "tokenizer/jinja/interpreter.h"

namespace sable::jinja {
namespace {

bool add_overflows(int64_t a, int64_t b, int64_t* r) { return __builtin_add_overflow(a, b, r); }
bool sub_overflows(int64_t a, int64_t b, int64_t* r) { return __builtin_sub_overflow(a, b, r); }
bool mul_overflows(int64_t a, int64_t b, int64_t* r) { return __builtin_mul_overflow(a, b, r); }

}  // namespace

Value Interpreter::eval_binary(const std::string& op, const Value& l, const Value& r) {
  if (op == "~") {
    std::string s = l.to_str();
    const std::string rs = r.to_str();
    check_size(s.size() + rs.size());
    return Value::string(s + rs);
  }
  for (const Value* v : {&l, &r})
    if (v->is_undefined()) fail(v->undefined_hint().empty() ? "undefined value in an expression" : v->undefined_hint());
  const auto type_error = [&]() {
    if (op == "+" && l.is_string()) fail("can only concatenate str (not \"" + r.type_name() + "\") to str");
    if (op == "+" && l.is_list()) fail("can only concatenate list (not \"" + r.type_name() + "\") to list");
    fail("unsupported operand type(s) for " + op + ": '" + l.type_name() + "' and '" + r.type_name() + "'");
  };
  if (l.is_number() && r.is_number()) {
    const bool fl = l.is_float() || r.is_float();
    const double a = l.as_double(), b = r.as_double();
    const int64_t x = l.as_int(), y = r.as_int();
    int64_t res;
    if (op == "+") {
      if (fl) return Value::number(a + b);
      if (add_overflows(x, y, &res)) fail("integer overflow");
      return Value::integer(res);
    }
    if (op == "-") {
      if (fl) return Value::number(a - b);
      if (sub_overflows(x, y, &res)) fail("integer overflow");
      return Value::integer(res);
    }
    if (op == "*") {
      if (fl) return Value::number(a * b);
      if (mul_overflows(x, y, &res)) fail("integer overflow");
      return Value::integer(res);
    }
    if (op == "/") {
      if (b == 0) fail("division by zero");
      return Value::number(a / b);
    }
    if (op == "//" || op == "%") {
      if (fl ? b == 0 : y == 0) fail(op == "//" ? "integer division or modulo by zero" : "modulo by zero");
      if (fl) {
        double m = std::fmod(a, b);
        if (m != 0 && ((m < 0) != (b < 0))) m += b;
        if (op == "%") return Value::number(m);
        return Value::number(std::floor((a - m) / b));
      }
      if (x == INT64_MIN && y == -1) fail("integer overflow");
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        --q;
        m += y;
      }
      return Value::integer(op == "//" ? q : m);
    }
    if (op == "**") {
      if (!fl && y >= 0) {
        int64_t acc = 1, base = x;
        for (int64_t k = y; k > 0; k >>= 1) {
          if (k & 1)
            if (mul_overflows(acc, base, &acc)) fail("integer overflow");
          if (k > 1 && mul_overflows(base, base, &base)) fail("integer overflow");
        }
        return Value::integer(acc);
      }
      return Value::number(std::pow(a, b));
    }
  }
  if (op == "+") {
    if (l.is_string() && r.is_string()) {
      check_size(l.str().size() + r.str().size());
      return Value::string(l.str() + r.str());
    }
    if (l.is_list() && r.is_list()) {
      check_items(l.items().size() + r.items().size());
      List out = l.items();
      out.insert(out.end(), r.items().begin(), r.items().end());
      return Value::list(std::move(out));
    }
  }
  if (op == "*") {
    const Value* seq = (l.is_string() || l.is_list()) ? &l : (r.is_string() || r.is_list()) ? &r : nullptr;
    const Value* cnt = seq == &l ? &r : &l;
    if (seq && (cnt->is_int() || cnt->is_bool())) {
      const int64_t k = std::max<int64_t>(0, cnt->as_int());
      if (seq->is_string()) {
        if (k > 0 && seq->str().size() > limits_.max_output / static_cast<uint64_t>(k)) check_size(SIZE_MAX);
        std::string out;
        for (int64_t i = 0; i < k; ++i) out += seq->str();
        return Value::string(std::move(out));
      }
      if (k > 0 && seq->items().size() > limits_.max_items / static_cast<uint64_t>(k)) check_items(SIZE_MAX);
      List out;
      for (int64_t i = 0; i < k; ++i) out.insert(out.end(), seq->items().begin(), seq->items().end());
      return Value::list(std::move(out));
    }
  }
  if (op == "%" && l.is_string()) fail("printf-style string formatting is not supported");
  type_error();
  return Value();
}

bool Interpreter::eval_compare(const std::string& op, const Value& l, const Value& r) {
  if (op == "==") return values_equal(l, r);
  if (op == "!=") return !values_equal(l, r);
  if (op == "in" || op == "notin") {
    bool found = false;
    if (r.is_string()) {
      if (!l.is_string()) fail("'in <string>' requires string as left operand, not " + l.type_name());
      found = r.str().find(l.str()) != std::string::npos;
    } else if (r.is_list()) {
      for (const auto& x : r.items()) found = found || values_equal(l, x);
    } else if (r.is_dict()) {
      found = r.dict().find(l) != nullptr;
    } else if (r.is_namespace()) {
      found = r.ns().attrs.find(l) != nullptr;
    } else if (!r.is_undefined()) {
      fail("argument of type '" + r.type_name() + "' is not iterable");
    }
    return op == "in" ? found : !found;
  }
  for (const Value* v : {&l, &r})
    if (v->is_undefined()) fail(v->undefined_hint().empty() ? "undefined value in a comparison" : v->undefined_hint());
  int c;
  if (!values_compare(l, r, &c))
    fail("'" + op + "' not supported between instances of '" + l.type_name() + "' and '" + r.type_name() + "'");
  if (op == "<") return c < 0;
  if (op == ">") return c > 0;
  if (op == "<=") return c <= 0;
  return c >= 0;
}

}  // namespace sable::jinja
