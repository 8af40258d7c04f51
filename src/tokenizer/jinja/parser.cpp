#include "tokenizer/jinja/parser.h"

#include <cstdlib>
#include <initializer_list>

#include "tokenizer/jinja/error.h"
#include "tokenizer/jinja/lexer.h"

namespace sable::jinja {
namespace {

// Nesting bound: a hostile template cannot overflow the parser's stack.
constexpr int kMaxDepth = 96;

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  std::unique_ptr<Template> run() {
    auto tmpl = std::make_unique<Template>();
    std::string end;
    tmpl->body = parse_body({}, &end);
    return tmpl;
  }

 private:
  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  [[noreturn]] void fail(const std::string& msg, const Token& at) const { throw TemplateError(msg, at.line, at.col); }
  [[noreturn]] void fail(const std::string& msg) const { fail(msg, cur()); }
  bool is_op(const char* op) const { return cur().type == Tok::kOp && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == Tok::kName && cur().text == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    ++i_;
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    ++i_;
    return true;
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail(std::string("expected token '") + op + "', got " + describe(cur()));
  }
  std::string expect_name() {
    if (cur().type != Tok::kName) fail("expected name, got " + describe(cur()));
    return t_[i_++].text;
  }
  void expect_block_end() {
    if (cur().type != Tok::kBlockEnd) fail("expected end of statement block, got " + describe(cur()));
    ++i_;
  }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::kEof: return "end of template";
      case Tok::kBlockEnd: return "'end of statement block'";
      case Tok::kVarEnd: return "'end of print statement'";
      case Tok::kName: return "'" + t.text + "'";
      case Tok::kOp: return "'" + t.text + "'";
      case Tok::kString: return "string";
      case Tok::kInt:
      case Tok::kFloat: return "number";
      default: return "'" + t.text + "'";
    }
  }

  struct DepthGuard {
    Parser* p;
    explicit DepthGuard(Parser* parser) : p(parser) {
      if (++p->depth_ > kMaxDepth) p->fail("template nesting too deep");
    }
    ~DepthGuard() { --p->depth_; }
  };

  ExprPtr node(Expr::Kind k, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = at.line;
    e->col = at.col;
    return e;
  }

  // ---- statements ----

  // Parses statements until a {% tag %} whose name is in ends (the tag name is
  // consumed, its block end is not) or the end of the template.
  Body parse_body(std::initializer_list<const char*> ends, std::string* end_tag) {
    DepthGuard g(this);
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == Tok::kEof) {
        if (ends.size() == 0) return body;
        std::string want;
        for (const char* e : ends) want += (want.empty() ? "'" : " or '") + std::string(e) + "'";
        fail("Unexpected end of template. Jinja was looking for the following tags: " + want + ".");
      }
      if (t.type == Tok::kText) {
        auto s = std::make_unique<Stmt>();
        s->kind = Stmt::Kind::kText;
        s->line = t.line;
        s->col = t.col;
        s->text = t.text;
        body.push_back(std::move(s));
        ++i_;
        continue;
      }
      if (t.type == Tok::kVarBegin) {
        ++i_;
        auto s = std::make_unique<Stmt>();
        s->kind = Stmt::Kind::kOutput;
        s->line = t.line;
        s->col = t.col;
        s->expr = parse_tuple(false, true, {});
        if (cur().type != Tok::kVarEnd) fail("expected token 'end of print statement', got " + describe(cur()));
        ++i_;
        body.push_back(std::move(s));
        continue;
      }
      if (t.type != Tok::kBlockBegin) fail("unexpected " + describe(t));
      const Token& name_tok = peek();
      if (name_tok.type != Tok::kName) fail("tag name expected", name_tok);
      for (const char* e : ends) {
        if (name_tok.text == e) {
          i_ += 2;
          *end_tag = e;
          return body;
        }
      }
      i_ += 2;
      body.push_back(parse_statement(name_tok));
    }
  }

  StmtPtr parse_statement(const Token& tag) {
    auto s = std::make_unique<Stmt>();
    s->line = tag.line;
    s->col = tag.col;
    const std::string& n = tag.text;
    std::string end;
    if (n == "if") {
      s->kind = Stmt::Kind::kIf;
      ExprPtr cond = parse_tuple(false, false, {});
      while (true) {
        expect_block_end();
        Body b = parse_body({"elif", "else", "endif"}, &end);
        s->branches.emplace_back(std::move(cond), std::move(b));
        if (end == "elif") {
          cond = parse_tuple(false, false, {});
          continue;
        }
        if (end == "else") {
          expect_block_end();
          s->else_body = parse_body({"endif"}, &end);
        }
        break;
      }
    } else if (n == "for") {
      s->kind = Stmt::Kind::kFor;
      s->targets = parse_name_targets("in");
      if (!skip_name("in")) fail("expected 'in', got " + describe(cur()));
      s->expr = parse_tuple(false, false, {"recursive", "if"});
      if (skip_name("if")) s->cond = parse_expression(true);
      if (is_name("recursive")) fail("recursive loops are not supported");
      expect_block_end();
      *s->body = parse_body({"endfor", "else"}, &end);
      if (end == "else") {
        expect_block_end();
        s->else_body = parse_body({"endfor"}, &end);
      }
    } else if (n == "set") {
      if (cur().type == Tok::kName && peek().type == Tok::kOp && peek().text == ".") {
        s->targets.push_back(t_[i_].text);
        i_ += 2;
        s->text = expect_name();
      } else {
        s->targets = parse_name_targets(nullptr);
      }
      if (skip_op("=")) {
        s->kind = Stmt::Kind::kSet;
        s->expr = parse_tuple(false, true, {});
      } else {
        if (s->targets.size() != 1 || !s->text.empty()) fail("expected '='");
        s->kind = Stmt::Kind::kSetBlock;
        if (is_op("|")) s->expr = parse_filter_chain(nullptr);
        expect_block_end();
        *s->body = parse_body({"endset"}, &end);
      }
    } else if (n == "macro") {
      s->kind = Stmt::Kind::kMacro;
      s->text = expect_name();
      expect_op("(");
      while (!skip_op(")")) {
        if (!s->targets.empty()) expect_op(",");
        if (skip_op(")")) break;  // trailing comma
        s->targets.push_back(expect_name());
        s->defaults.push_back(skip_op("=") ? parse_expression(true) : nullptr);
      }
      expect_block_end();
      *s->body = parse_body({"endmacro"}, &end);
      if (cur().type == Tok::kName) ++i_;  // {% endmacro name %}
    } else if (n == "filter") {
      s->kind = Stmt::Kind::kFilterBlock;
      s->expr = parse_filter_chain(nullptr, true);
      expect_block_end();
      *s->body = parse_body({"endfilter"}, &end);
    } else if (n == "break" || n == "continue") {
      s->kind = n == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue;
    } else if (n == "generation") {
      s->kind = Stmt::Kind::kScope;
      expect_block_end();
      *s->body = parse_body({"endgeneration"}, &end);
    } else {
      fail("Encountered unknown tag '" + n + "'.", tag);
    }
    expect_block_end();
    return s;
  }

  // name or name, name, ... (optionally parenthesized), stopping before `stop`.
  std::vector<std::string> parse_name_targets(const char* stop) {
    std::vector<std::string> names;
    const bool paren = skip_op("(");
    while (true) {
      names.push_back(expect_name());
      if (!skip_op(",")) break;
      if (cur().type != Tok::kName || (stop && is_name(stop))) break;
    }
    if (paren) expect_op(")");
    return names;
  }

  // ---- expressions (jinja2's precedence) ----

  bool at_tuple_end(std::initializer_list<const char*> extra_end) const {
    const Token& t = cur();
    if (t.type == Tok::kVarEnd || t.type == Tok::kBlockEnd || t.type == Tok::kEof) return true;
    if (t.type == Tok::kOp && t.text == ")") return true;
    if (t.type == Tok::kName)
      for (const char* e : extra_end)
        if (t.text == e) return true;
    return false;
  }

  ExprPtr parse_tuple(bool explicit_parens, bool with_condexpr, std::initializer_list<const char*> extra_end) {
    const Token& start = cur();
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (at_tuple_end(extra_end)) break;
      items.push_back(parse_expression(with_condexpr));
      if (is_op(",")) is_tuple = true;
      else break;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) fail("Expected an expression, got " + describe(cur()));
    }
    auto e = node(Expr::Kind::kTuple, start);
    e->args = std::move(items);
    return e;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard g(this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    const Token& start = cur();
    ExprPtr e1 = parse_or();
    while (skip_name("if")) {
      ExprPtr cond = parse_or();
      ExprPtr e3 = skip_name("else") ? parse_condexpr() : nullptr;
      auto c = node(Expr::Kind::kCond, start);
      c->args.push_back(std::move(e1));
      c->args.push_back(std::move(cond));
      c->args.push_back(std::move(e3));
      e1 = std::move(c);
    }
    return e1;
  }

  ExprPtr binary(Expr::Kind k, const Token& at, ExprPtr l, ExprPtr r, std::string op = {}) {
    auto e = node(k, at);
    e->name = std::move(op);
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr l = parse_and();
    while (is_name("or")) {
      const Token& at = t_[i_++];
      l = binary(Expr::Kind::kOr, at, std::move(l), parse_and());
    }
    return l;
  }
  ExprPtr parse_and() {
    ExprPtr l = parse_not();
    while (is_name("and")) {
      const Token& at = t_[i_++];
      l = binary(Expr::Kind::kAnd, at, std::move(l), parse_not());
    }
    return l;
  }
  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard g(this);
      const Token& at = t_[i_++];
      auto e = node(Expr::Kind::kNot, at);
      e->args.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    const Token& start = cur();
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (cur().type == Tok::kOp &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == ">" ||
           cur().text == "<=" || cur().text == ">=")) {
        op = t_[i_++].text;
      } else if (skip_name("in")) {
        op = "in";
      } else if (is_name("not") && peek().type == Tok::kName && peek().text == "in") {
        i_ += 2;
        op = "notin";
      } else {
        break;
      }
      if (!cmp) {
        cmp = node(Expr::Kind::kCompare, start);
        cmp->args.push_back(std::move(first));
      }
      cmp->ops.push_back(op);
      cmp->args.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }
  ExprPtr parse_math1() {
    ExprPtr l = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& at = t_[i_++];
      l = binary(Expr::Kind::kBinary, at, std::move(l), parse_concat(), at.text);
    }
    return l;
  }
  ExprPtr parse_concat() {
    ExprPtr l = parse_math2();
    while (is_op("~")) {
      const Token& at = t_[i_++];
      l = binary(Expr::Kind::kBinary, at, std::move(l), parse_math2(), "~");
    }
    return l;
  }
  ExprPtr parse_math2() {
    ExprPtr l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& at = t_[i_++];
      l = binary(Expr::Kind::kBinary, at, std::move(l), parse_pow(), at.text);
    }
    return l;
  }
  ExprPtr parse_pow() {
    ExprPtr l = parse_unary(true);
    while (is_op("**")) {
      const Token& at = t_[i_++];
      l = binary(Expr::Kind::kBinary, at, std::move(l), parse_unary(true), "**");
    }
    return l;
  }
  ExprPtr parse_unary(bool with_filter) {
    DepthGuard g(this);
    const Token& at = cur();
    ExprPtr e;
    if (skip_op("-")) {
      e = node(Expr::Kind::kNeg, at);
      e->args.push_back(parse_unary(false));
    } else if (skip_op("+")) {
      e = node(Expr::Kind::kPos, at);
      e->args.push_back(parse_unary(false));
    } else {
      e = parse_postfix(parse_primary());
    }
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    switch (t.type) {
      case Tok::kName: {
        ++i_;
        auto e = node(Expr::Kind::kLiteral, t);
        if (t.text == "true" || t.text == "True") e->literal = Value::boolean(true);
        else if (t.text == "false" || t.text == "False") e->literal = Value::boolean(false);
        else if (t.text == "none" || t.text == "None") e->literal = Value::none();
        else {
          e->kind = Expr::Kind::kName;
          e->name = t.text;
        }
        return e;
      }
      case Tok::kString: {
        std::string s;
        while (cur().type == Tok::kString) s += t_[i_++].text;  // adjacent literals concatenate
        auto e = node(Expr::Kind::kLiteral, t);
        e->literal = Value::string(std::move(s));
        return e;
      }
      case Tok::kInt: {
        ++i_;
        auto e = node(Expr::Kind::kLiteral, t);
        errno = 0;
        const long long v = std::strtoll(t.text.c_str(), nullptr, 10);
        if (errno == ERANGE) e->literal = Value::number(std::strtod(t.text.c_str(), nullptr));
        else e->literal = Value::integer(v);
        return e;
      }
      case Tok::kFloat: {
        ++i_;
        auto e = node(Expr::Kind::kLiteral, t);
        e->literal = Value::number(std::strtod(t.text.c_str(), nullptr));
        return e;
      }
      case Tok::kOp:
        if (t.text == "(") {
          ++i_;
          ExprPtr e = parse_tuple(true, true, {});
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          ++i_;
          auto e = node(Expr::Kind::kList, t);
          while (!skip_op("]")) {
            if (!e->args.empty()) expect_op(",");
            if (skip_op("]")) break;
            e->args.push_back(parse_expression(true));
          }
          return e;
        }
        if (t.text == "{") {
          ++i_;
          auto e = node(Expr::Kind::kDict, t);
          while (!skip_op("}")) {
            if (!e->args.empty()) expect_op(",");
            if (skip_op("}")) break;
            e->args.push_back(parse_expression(true));
            expect_op(":");
            e->args.push_back(parse_expression(true));
          }
          return e;
        }
        break;
      default:
        break;
    }
    fail("unexpected " + describe(t));
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      const Token& at = cur();
      if (skip_op(".")) {
        if (cur().type == Tok::kName) {
          auto a = node(Expr::Kind::kAttr, at);
          a->name = t_[i_++].text;
          a->args.push_back(std::move(e));
          e = std::move(a);
        } else if (cur().type == Tok::kInt) {
          auto a = node(Expr::Kind::kItem, at);
          a->args.push_back(std::move(e));
          auto k = node(Expr::Kind::kLiteral, cur());
          k->literal = Value::integer(std::strtoll(t_[i_++].text.c_str(), nullptr, 10));
          a->args.push_back(std::move(k));
          e = std::move(a);
        } else {
          fail("expected name or number");
        }
      } else if (skip_op("[")) {
        e = parse_subscript(std::move(e), at);
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr obj, const Token& at) {
    DepthGuard g(this);
    ExprPtr parts[3];
    bool is_slice = false;
    if (!is_op(":")) {
      parts[0] = parse_expression(true);
      if (is_op(",")) {  // d[a, b] indexes with a tuple
        auto tup = node(Expr::Kind::kTuple, at);
        tup->args.push_back(std::move(parts[0]));
        while (skip_op(",")) {
          if (is_op("]")) break;
          tup->args.push_back(parse_expression(true));
        }
        parts[0] = std::move(tup);
      }
    }
    if (skip_op(":")) {
      is_slice = true;
      if (!is_op("]") && !is_op(":")) parts[1] = parse_expression(true);
      if (skip_op(":") && !is_op("]")) parts[2] = parse_expression(true);
    }
    expect_op("]");
    auto e = node(is_slice ? Expr::Kind::kSlice : Expr::Kind::kItem, at);
    e->args.push_back(std::move(obj));
    if (is_slice) {
      for (auto& p : parts) e->args.push_back(std::move(p));
    } else {
      e->args.push_back(std::move(parts[0]));
    }
    return e;
  }

  // Parses "(args)" into e->args[first..] / kwargs.
  void parse_args(Expr* e) {
    expect_op("(");
    bool first = true;
    while (!skip_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (skip_op(")")) break;
      if (is_op("*") || is_op("**")) fail("*args and **kwargs are not supported");
      if (cur().type == Tok::kName && peek().type == Tok::kOp && peek().text == "=") {
        std::string k = t_[i_].text;
        i_ += 2;
        e->kwargs.emplace_back(std::move(k), parse_expression(true));
      } else {
        if (!e->kwargs.empty()) fail("positional argument follows keyword argument");
        e->args.push_back(parse_expression(true));
      }
    }
  }

  ExprPtr parse_call(ExprPtr callee) {
    DepthGuard g(this);
    auto e = node(Expr::Kind::kCall, cur());
    e->line = callee->line;  // report calls where the callee is written
    e->col = callee->col;
    e->args.push_back(std::move(callee));
    parse_args(e.get());
    return e;
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        e = parse_filter_chain(std::move(e), false, true);
      } else if (is_name("is")) {
        e = parse_test(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  // value | f1(args) | f2 ... ; with start_without_pipe the first filter has no "|".
  ExprPtr parse_filter_chain(ExprPtr value, bool start_without_pipe = false, bool single = false) {
    bool first = true;
    while (true) {
      if (!(first && start_without_pipe) && !skip_op("|")) break;
      first = false;
      DepthGuard g(this);
      const Token& at = cur();
      std::string name = expect_name();
      while (skip_op(".")) name += "." + expect_name();
      auto f = node(Expr::Kind::kFilter, at);
      f->name = std::move(name);
      f->args.push_back(std::move(value));
      if (is_op("(")) parse_args(f.get());
      value = std::move(f);
      if (single) break;
    }
    return value;
  }

  ExprPtr parse_test(ExprPtr value) {
    DepthGuard g(this);
    const Token& at = t_[i_++];  // "is"
    auto t = node(Expr::Kind::kTest, at);
    t->negated = skip_name("not");
    std::string name = expect_name();
    while (skip_op(".")) name += "." + expect_name();
    t->name = std::move(name);
    t->args.push_back(std::move(value));
    const Token& c = cur();
    if (is_op("(")) {
      parse_args(t.get());
    } else if ((c.type == Tok::kName || c.type == Tok::kString || c.type == Tok::kInt || c.type == Tok::kFloat ||
                (c.type == Tok::kOp && (c.text == "(" || c.text == "[" || c.text == "{"))) &&
               !(c.type == Tok::kName && (c.text == "else" || c.text == "or" || c.text == "and"))) {
      if (is_name("is")) fail("You cannot chain multiple tests with is");
      t->args.push_back(parse_postfix(parse_primary()));
    }
    return t;
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

std::unique_ptr<Template> parse_template(const std::string& source) { return Parser(lex(source)).run(); }

}  // namespace sable::jinja
