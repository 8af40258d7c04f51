#include "core/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>

namespace sable {
namespace {

std::atomic<int> g_level{int(LogLevel::kInfo)};

spdlog::logger& logger() {
  // Logs go to stderr so that stdout stays clean for --json output.
  static std::shared_ptr<spdlog::logger> l = [] {
    auto lg = spdlog::stderr_color_mt("sable");
    lg->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%L%$ %v");
    lg->set_level(spdlog::level::debug);
    return lg;
  }();
  return *l;
}

}  // namespace

bool log_enabled(LogLevel level) { return int(level) >= g_level.load(std::memory_order_relaxed); }
void set_log_level(LogLevel level) { g_level = int(level); }

bool set_log_level(const std::string& name) {
  if (name == "debug") set_log_level(LogLevel::kDebug);
  else if (name == "info") set_log_level(LogLevel::kInfo);
  else if (name == "warning" || name == "warn") set_log_level(LogLevel::kWarn);
  else if (name == "error") set_log_level(LogLevel::kError);
  else return false;
  return true;
}

void log_message(LogLevel level, const std::string& msg) {
  switch (level) {
    case LogLevel::kDebug: logger().debug(msg); break;
    case LogLevel::kInfo: logger().info(msg); break;
    case LogLevel::kWarn: logger().warn(msg); break;
    case LogLevel::kError: logger().error(msg); break;
  }
}

}  // namespace sable
