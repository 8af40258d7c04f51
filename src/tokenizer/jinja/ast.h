// The syntax tree of a parsed template. Nodes keep their line and column so
// runtime errors can say where they happened.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja/value.h"

namespace sable::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,  // literal
    kName,     // name
    kAttr,     // args[0].name
    kItem,     // args[0][args[1]]
    kSlice,    // args[0][args[1]:args[2]:args[3]] (null parts allowed)
    kCall,     // args[0](args[1..], kwargs)
    kFilter,   // args[0] | name(args[1..], kwargs)
    kTest,     // args[0] is [not] name(args[1..])
    kNeg,      // -args[0]
    kPos,      // +args[0]
    kNot,      // not args[0]
    kBinary,   // args[0] name args[1]: + - * / // % ** ~
    kAnd,
    kOr,
    kCompare,  // args[0] ops[0] args[1] ops[1] args[2] ...
    kCond,     // args[0] if args[1] else args[2]
    kList,
    kTuple,
    kDict,  // args = k0, v0, k1, v1, ...
  };
  Kind kind;
  int line = 0, col = 0;
  Value literal;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  bool negated = false;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  enum class Kind {
    kText,         // text
    kOutput,       // {{ expr }}
    kIf,           // branches (cond, body) ..., else_body
    kFor,          // for targets in expr [if cond]: body, else_body
    kSet,          // set targets = expr, or set targets[0].attr = expr
    kSetBlock,     // set targets[0] %} body {% endset (filter: expr with null args[0])
    kMacro,        // macro name(targets = defaults) body
    kBreak,
    kContinue,
    kFilterBlock,  // filter expr (a kFilter chain with a null innermost value) over body
    kScope,        // body only (e.g. {% generation %})
  };
  Kind kind;
  int line = 0, col = 0;
  std::string text;  // kText; kMacro name; kSet attribute
  ExprPtr expr;
  ExprPtr cond;
  std::vector<std::pair<ExprPtr, Body>> branches;
  std::vector<std::string> targets;
  std::vector<ExprPtr> defaults;  // kMacro: one per target, null when none
  std::shared_ptr<Body> body = std::make_shared<Body>();  // shared: macros outlive their statement's scope
  Body else_body;
};

struct Template {
  Body body;
};

}  // namespace sable::jinja
