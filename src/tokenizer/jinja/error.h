// The error a template raises: where (line, column in the template source)
// and what. raise_exception() in a template produces one too.
#pragma once

#include <stdexcept>
#include <string>

namespace sable::jinja {

class TemplateError : public std::runtime_error {
 public:
  TemplateError(std::string msg, int line, int col)
      : std::runtime_error(std::move(msg)), line_(line), col_(col) {}
  int line() const { return line_; }
  int col() const { return col_; }

 private:
  int line_, col_;
};

}  // namespace sable::jinja
