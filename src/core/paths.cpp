#include "core/paths.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace sable {

std::string find_asset(const std::string& relative) {
  namespace fs = std::filesystem;
  std::vector<fs::path> roots;
  for (const char* var : {"SABLE_ASSETS", "SABLE_ASSETS_DIR"})
    if (const char* env = std::getenv(var)) roots.emplace_back(env);
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    fs::path exe_dir = fs::path(std::string(buf, size_t(n))).parent_path();
    roots.push_back(exe_dir / ".." / "assets");
    roots.push_back(exe_dir / ".." / "share" / "sable" / "assets");
  }
  roots.emplace_back("/usr/share/sable/assets");
#ifdef SABLE_SOURCE_DIR
  roots.push_back(fs::path(SABLE_SOURCE_DIR) / "assets");
#endif
  for (const auto& r : roots) {
    std::error_code ec;
    fs::path p = r / relative;
    if (fs::exists(p, ec)) return fs::weakly_canonical(p, ec).string();
  }
  return "";
}

}  // namespace sable
