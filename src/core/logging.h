// Logging through spdlog, behind a small facade so that only logging.cpp
// compiles spdlog. Messages are formatted with fmt.
#pragma once

#include <fmt/format.h>

#include <string>

namespace sable {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void log_message(LogLevel level, const std::string& msg);
void set_log_level(LogLevel level);
// Parses "debug|info|warning|error"; returns false for anything else.
bool set_log_level(const std::string& name);
bool log_enabled(LogLevel level);

}  // namespace sable

#define SABLE_LOG(level, ...)                                               \
  do {                                                                      \
    if (::sable::log_enabled(level))                                        \
      ::sable::log_message(level, fmt::format(__VA_ARGS__));                \
  } while (0)
#define LOG_DEBUG(...) SABLE_LOG(::sable::LogLevel::kDebug, __VA_ARGS__)
#define LOG_INFO(...) SABLE_LOG(::sable::LogLevel::kInfo, __VA_ARGS__)
#define LOG_WARN(...) SABLE_LOG(::sable::LogLevel::kWarn, __VA_ARGS__)
#define LOG_ERROR(...) SABLE_LOG(::sable::LogLevel::kError, __VA_ARGS__)
