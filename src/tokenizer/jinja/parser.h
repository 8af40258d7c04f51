// Parser for the Jinja subset that chat templates use: if/elif/else,
// for (tuple targets, inline if filter, else, loop variables), set (names,
// tuples, namespace attributes, block form), macro, filter blocks, break and
// continue (jinja2.ext.loopcontrols), generation (transformers' tag), and the
// full expression grammar with jinja2's precedence.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/jinja/ast.h"

namespace sable::jinja {

// Throws TemplateError with the line and column of the problem.
std::unique_ptr<Template> parse_template(const std::string& source);

}  // namespace sable::jinja
