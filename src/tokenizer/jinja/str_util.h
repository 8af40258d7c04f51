// Python str operations on UTF-8 strings, for string methods and filters.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/jinja/value.h"

namespace sable::jinja {

bool py_isspace(uint32_t cp);
// strip/lstrip/rstrip; chars == nullptr strips whitespace.
std::string py_strip(const std::string& s, const std::string* chars, bool left, bool right);
// str.split(sep, maxsplit) / str.rsplit; sep == nullptr splits on whitespace runs.
std::vector<std::string> py_split(const std::string& s, const std::string* sep, int64_t maxsplit, bool from_right);
std::vector<std::string> py_splitlines(const std::string& s);
std::string py_upper(const std::string& s);
std::string py_lower(const std::string& s);
std::string py_title(const std::string& s);
std::string py_capitalize(const std::string& s);
std::string py_replace(const std::string& s, const std::string& from, const std::string& to, int64_t count);
// Code point index of byte offset b in s.
int64_t cp_index(const std::string& s, size_t b);

}  // namespace sable::jinja
