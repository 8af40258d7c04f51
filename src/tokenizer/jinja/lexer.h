// Jinja lexer with the settings transformers uses for chat templates
// (trim_blocks, lstrip_blocks, keep_trailing_newline=False), following
// jinja2's rules exactly: "-" and "+" whitespace control, lstrip only when the
// tag starts its line, brace balancing inside tags, newline normalization.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sable::jinja {

enum class Tok {
  kText,        // template data
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,  // value already unescaped
  kInt,
  kFloat,
  kOp,  // text holds the operator
  kEof,
};

struct Token {
  Tok type;
  std::string text;
  int line = 1, col = 1;
};

// Throws TemplateError on malformed input (unterminated tag, comment, string).
std::vector<Token> lex(const std::string& source);

}  // namespace sable::jinja
