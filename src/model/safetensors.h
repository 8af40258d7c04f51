// safetensors files: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the data. Files are mmapped read-only and tensors are zero-copy views
// into the mapping (the view keeps the mapping alive).
//
// open() validates everything a reader could trip on and names the file, the
// tensor and the problem: header length past the end of the file, malformed
// header JSON, unknown dtype, offsets outside the data or overlapping, and
// shape x dtype size different from the byte range.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace sable {

struct SafetensorsEntry {
  std::string name;
  DType dtype;
  Shape shape;
  size_t begin = 0, end = 0;  // byte range within the data section
};

class SafetensorsFile {
 public:
  static Result<std::shared_ptr<SafetensorsFile>> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const SafetensorsEntry* find(std::string_view name) const;
  // A zero-copy view of an entry's bytes; keeps this file mapped. The format
  // does not promise alignment: a tensor at an address that is not a multiple
  // of its element size (a writer that did not pad) comes back as an aligned
  // copy instead, so typed access is never misaligned.
  Tensor tensor(const SafetensorsEntry& e) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data section
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  std::weak_ptr<SafetensorsFile> self_;
};

// Writes host tensors. The header lists them in the order given; the data is
// laid out by descending element size (stable), so with the header padded to
// 8 bytes every tensor starts aligned to its element size and readers may
// use typed pointers into the mapping. Written to PATH.tmp.PID, then renamed.
Status write_safetensors(const std::string& path,
                         const std::vector<std::pair<std::string, Tensor>>& tensors,
                         const std::map<std::string, std::string>& metadata = {});

}  // namespace sable
