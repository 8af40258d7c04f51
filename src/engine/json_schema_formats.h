// JSON Schema string formats that structured output enforces: the list
// OpenAI's structured outputs and llguidance support (date-time, time, date,
// duration, email, hostname, ipv4, ipv6, uuid), each as a regular
// expression in regex_parse.h's syntax, matched against the whole decoded
// string as `pattern` is. Pydantic writes these for datetime, date, time,
// timedelta, UUID, EmailStr and IP address fields, so a constrained answer
// parses back into the model. Other formats stay annotations.
#pragma once

#include <string_view>

namespace sable {

// The format's regular expression, or nullptr when the format is not enforced.
const char* json_schema_format_regex(std::string_view format);

}  // namespace sable
