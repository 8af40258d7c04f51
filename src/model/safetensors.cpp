#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

namespace sable {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data and Sable views it in place");

namespace {

using json = nlohmann::json;

// nlohmann's message without its "[json.exception.parse_error.101] " tag.
std::string parse_error_text(const nlohmann::json::exception& e) {
  std::string s = e.what();
  size_t p = s.find("] ");
  return s.rfind("[json.exception", 0) == 0 && p != std::string::npos ? s.substr(p + 2) : s;
}

// The safetensors reference implementation refuses headers past 100 MB; a
// larger length is a corrupt file, not a big model (the 671B model's shards
// carry ~100 KB headers).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

std::string show(const json& v) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

std::string errno_text() { return std::strerror(errno); }

// Closes a descriptor on every exit path of open().
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Parses the header JSON, rejecting a tensor name that appears twice at the
// top level (nlohmann would silently keep the last one).
Status parse_header(const std::string& path, const char* text, size_t len, json& out) {
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && duplicate.empty()) {
      const std::string& k = parsed.get_ref<const std::string&>();
      if (!seen.insert(k).second) duplicate = k;
    }
    return true;
  };
  try {
    out = json::parse(text, text + len, cb);
  } catch (const json::exception& e) {  // syntax, or a number past double's range
    return invalid_argument(path + ": malformed header JSON: " + parse_error_text(e));
  }
  if (!duplicate.empty()) return invalid_argument(path + ": tensor '" + duplicate + "' appears twice in the header");
  if (!out.is_object())
    return invalid_argument(path + ": header must be a JSON object, got " + show(out));
  return Status::ok();
}

// Reads one header entry {dtype, shape, data_offsets} into `e`, checking it
// against the data section's size.
Status parse_entry(const std::string& path, const std::string& name, const json& v, size_t data_size,
                   SafetensorsEntry& e) {
  auto bad = [&](const std::string& problem) {
    return invalid_argument(path + ": tensor '" + name + "': " + problem);
  };
  if (!v.is_object()) return bad("header entry must be an object, got " + show(v));
  e.name = name;

  auto dt = v.find("dtype");
  if (dt == v.end()) return bad("missing 'dtype'");
  if (!dt->is_string()) return bad("'dtype' must be a string, got " + show(*dt));
  std::optional<DType> dtype = parse_dtype(dt->get_ref<const std::string&>());
  if (!dtype) return bad("unknown dtype '" + dt->get<std::string>() + "'");
  e.dtype = *dtype;

  auto sh = v.find("shape");
  if (sh == v.end()) return bad("missing 'shape'");
  if (!sh->is_array()) return bad("'shape' must be an array, got " + show(*sh));
  if (sh->size() > size_t(Shape::kMaxDims))
    return bad("shape " + show(*sh) + " has " + std::to_string(sh->size()) + " dimensions; at most " +
               std::to_string(Shape::kMaxDims) + " are supported");
  std::vector<int64_t> dims;
  uint64_t numel = 1;
  bool overflow = false;
  for (const json& d : *sh) {
    // nlohmann stores non-negative integer literals as unsigned; negative
    // ones and fractions fail this test.
    if (!d.is_number_unsigned()) return bad("shape " + show(*sh) + " must hold non-negative integers");
    uint64_t u = d.get<uint64_t>();
    if (u > uint64_t(INT64_MAX)) overflow = true;
    dims.push_back(int64_t(u));
    overflow = overflow || __builtin_mul_overflow(numel, u, &numel);
  }
  uint64_t nbytes = 0;
  overflow = overflow || __builtin_mul_overflow(numel, uint64_t(dtype_size(e.dtype)), &nbytes);
  if (overflow) return bad("shape " + show(*sh) + " is too large");
  e.shape = Shape::from(dims.begin(), dims.end());

  auto off = v.find("data_offsets");
  if (off == v.end()) return bad("missing 'data_offsets'");
  if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
    return bad("'data_offsets' must be [begin, end] (two non-negative integers), got " + show(*off));
  uint64_t begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
  if (begin > end) return bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                              "]: begin is after end");
  if (end > data_size)
    return bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
               "] lie outside the data section (" + std::to_string(data_size) + " bytes)");
  if (end - begin != nbytes)
    return bad("shape " + e.shape.str() + " of " + dtype_name(e.dtype) + " needs " + std::to_string(nbytes) +
               " bytes, but data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] span " +
               std::to_string(end - begin));
  e.begin = size_t(begin);
  e.end = size_t(end);
  return Status::ok();
}

}  // namespace

Result<std::shared_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO by mistake must not hang; regular files ignore it.
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (fd.fd < 0) {
    if (errno == ENOENT) return not_found(path + ": no such file");
    return io_error(path + ": cannot open: " + errno_text());
  }
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) return io_error(path + ": cannot stat: " + errno_text());
  if (!S_ISREG(st.st_mode)) return invalid_argument(path + ": not a regular file");
  uint64_t file_size = uint64_t(st.st_size);
  if (file_size < 8)
    return invalid_argument(path + ": file is " + std::to_string(file_size) +
                            " bytes, shorter than the 8-byte header length that starts a safetensors file");

  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  // The whole file is mapped but only the header's pages are touched here;
  // tensor bytes are paged in when someone reads them.
  void* m = ::mmap(nullptr, size_t(file_size), PROT_READ, MAP_PRIVATE, fd.fd, 0);
  if (m == MAP_FAILED) return io_error(path + ": mmap failed: " + errno_text());
  f->map_ = m;
  f->map_size_ = size_t(file_size);
  const uint8_t* base = static_cast<const uint8_t*>(m);

  uint64_t header_len = 0;
  std::memcpy(&header_len, base, 8);
  if (header_len > kMaxHeaderBytes)
    return invalid_argument(path + ": header length " + std::to_string(header_len) + " is absurdly large (limit " +
                            std::to_string(kMaxHeaderBytes) + " bytes); the file is corrupt or not safetensors");
  if (header_len > file_size - 8)
    return invalid_argument(path + ": header length " + std::to_string(header_len) +
                            " runs past the end of the file (" + std::to_string(file_size) + " bytes)");
  f->data_ = base + 8 + header_len;
  size_t data_size = size_t(file_size - 8 - header_len);

  json header;
  SABLE_RETURN_IF_ERROR(parse_header(path, reinterpret_cast<const char*>(base + 8), size_t(header_len), header));

  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return invalid_argument(path + ": __metadata__ must be an object, got " + show(*it));
      // The format says string -> string; a writer that put other values
      // there still gets its file read, with the value as JSON text.
      for (auto m2 = it->begin(); m2 != it->end(); ++m2)
        f->metadata_[m2.key()] = m2->is_string() ? m2->get<std::string>() : m2->dump();
      continue;
    }
    SafetensorsEntry e;
    SABLE_RETURN_IF_ERROR(parse_entry(path, it.key(), *it, data_size, e));
    f->entries_.push_back(std::move(e));
  }

  // File order, which is also the order to stream them in.
  std::sort(f->entries_.begin(), f->entries_.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // Overlap check over byte ranges in file order; empty tensors own no bytes.
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry& e : f->entries_) {
    if (e.begin == e.end) continue;
    if (prev && e.begin < prev->end)
      return invalid_argument(path + ": tensor '" + e.name + "' (bytes [" + std::to_string(e.begin) + ", " +
                              std::to_string(e.end) + ")) overlaps tensor '" + prev->name + "' (bytes [" +
                              std::to_string(prev->begin) + ", " + std::to_string(prev->end) + "))");
    if (!prev || e.end > prev->end) prev = &e;
  }
  for (size_t i = 0; i < f->entries_.size(); ++i) f->index_.emplace(f->entries_[i].name, i);
  f->self_ = f;
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

const SafetensorsEntry* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

Tensor SafetensorsFile::tensor(const SafetensorsEntry& e) const {
  // The mapping is read-only: writing through the view faults, which is the
  // point (weights are shared by every sequence).
  void* p = const_cast<uint8_t*>(data_ + e.begin);
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(e.dtype) != 0) {
    Tensor copy = Tensor::empty(e.dtype, e.shape);
    std::memcpy(copy.data(), p, e.end - e.begin);
    return copy;
  }
  std::shared_ptr<void> owner = self_.lock();
  assert(owner && "SafetensorsFile must be created by open()");
  return Tensor(p, e.dtype, e.shape, Device::kCPU, std::move(owner));
}

Status write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  std::set<std::string> names;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") return invalid_argument(path + ": '__metadata__' cannot name a tensor");
    if (!names.insert(name).second) return invalid_argument(path + ": tensor '" + name + "' is given twice");
    if (t.device() != Device::kCPU)
      return invalid_argument(path + ": tensor '" + name + "' is not in host memory");
    if (t.numel() > 0 && t.data() == nullptr)
      return invalid_argument(path + ": tensor '" + name + "' has no data");
  }
  // Data order: widest elements first, so every offset is a multiple of its
  // tensor's element size (sizes are powers of two).
  std::vector<size_t> data_order(tensors.size());
  for (size_t i = 0; i < data_order.size(); ++i) data_order[i] = i;
  std::stable_sort(data_order.begin(), data_order.end(), [&](size_t a, size_t b) {
    return dtype_size(tensors[a].second.dtype()) > dtype_size(tensors[b].second.dtype());
  });
  std::vector<uint64_t> begin(tensors.size());
  uint64_t offset = 0;
  for (size_t i : data_order) {
    begin[i] = offset;
    offset += tensors[i].second.nbytes();
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i].second;
    nlohmann::ordered_json shape = nlohmann::ordered_json::array();
    for (int d = 0; d < t.ndim(); ++d) shape.push_back(t.dim(d));
    header[tensors[i].first] = {{"dtype", dtype_name(t.dtype())},
                                {"shape", shape},
                                {"data_offsets", {begin[i], begin[i] + t.nbytes()}}};
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {  // a name or value that is not UTF-8
    return invalid_argument(path + ": cannot write the header: " + parse_error_text(e));
  }
  // Pad with spaces to a multiple of 8 so the data section starts aligned,
  // as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');
  uint64_t len = text.size();

  // Write to a temporary name and rename, so a reader never sees half a file.
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  Fd fd{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (fd.fd < 0) return io_error(path + ": cannot create: " + errno_text());
  auto write_all = [&](const void* p, size_t n) -> bool {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      ssize_t w = ::write(fd.fd, c, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      c += w;
      n -= size_t(w);
    }
    return true;
  };
  bool ok = write_all(&len, 8) && write_all(text.data(), text.size());
  for (size_t i : data_order) {
    if (!ok) break;
    ok = write_all(tensors[i].second.data(), tensors[i].second.nbytes());
  }
  if (!ok) {
    Status s = io_error(path + ": write failed: " + errno_text());
    ::unlink(tmp.c_str());
    return s;
  }
  if (::close(fd.fd) != 0) {
    fd.fd = -1;
    Status s = io_error(path + ": write failed: " + errno_text());
    ::unlink(tmp.c_str());
    return s;
  }
  fd.fd = -1;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = io_error(path + ": cannot rename from " + tmp + ": " + errno_text());
    ::unlink(tmp.c_str());
    return s;
  }
  return Status::ok();
}

}  // namespace sable
