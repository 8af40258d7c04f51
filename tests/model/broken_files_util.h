// Helpers for the model-loading tests: a temporary directory that cleans up
// after itself, and writers for deliberately broken files.
#pragma once

#include <cstdint>
#include <string>

namespace sable_test {

// A fresh directory under $TMPDIR (mkdtemp), removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string fixture_dir(const std::string& name);  // tests/fixtures/<name>
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);
std::string u64_le(uint64_t v);
// A safetensors file exactly as given: 8-byte length of `header`, `header`,
// then `data`. Nothing is checked, which is the point.
void write_raw_safetensors(const std::string& path, const std::string& header, const std::string& data);

}  // namespace sable_test
