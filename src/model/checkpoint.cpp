#include "model/checkpoint.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/tensor_specs.h"

namespace sable {

namespace fs = std::filesystem;

namespace {

constexpr const char* kIndexName = "model.safetensors.index.json";
constexpr const char* kSingleName = "model.safetensors";
constexpr const char* kLayout =
    "a checkpoint directory holds config.json plus model.safetensors.index.json with its shards, "
    "or a single model.safetensors";

// nlohmann's message without its "[json.exception.parse_error.101] " tag.
std::string parse_error_text(const nlohmann::json::exception& e) {
  std::string s = e.what();
  size_t p = s.find("] ");
  return s.rfind("[json.exception", 0) == 0 && p != std::string::npos ? s.substr(p + 2) : s;
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

Result<std::string> read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return io_error(p.string() + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error(p.string() + ": read failed");
  return ss.str();
}

// The index's weight_map, in the index's own order of shards.
struct Index {
  std::vector<std::string> shards;                          // distinct, first-seen order
  std::vector<std::pair<std::string, size_t>> tensors;      // name -> position in shards
};

Result<Index> read_index(const fs::path& path) {
  using json = nlohmann::json;
  const std::string src = path.string();
  SABLE_ASSIGN_OR_RETURN(std::string text, read_text(path));
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // syntax, or a number past double's range
    return invalid_argument(src + ": malformed JSON: " + parse_error_text(e));
  }
  if (!j.is_object()) return invalid_argument(src + ": expected a JSON object");
  auto wm = j.find("weight_map");
  if (wm == j.end()) return invalid_argument(src + ": field 'weight_map' is missing");
  if (!wm->is_object()) return invalid_argument(src + ": field 'weight_map' must be an object of tensor -> shard");
  Index idx;
  std::map<std::string, size_t> shard_pos;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it->is_string() || it->get_ref<const std::string&>().empty())
      return invalid_argument(src + ": weight_map maps tensor '" + it.key() + "' to " + it->dump() +
                              ", not a shard file name");
    const std::string& shard = it->get_ref<const std::string&>();
    // Shards live in the checkpoint directory; a path that climbs out of it
    // is a corrupt or hostile index.
    fs::path sp(shard);
    bool climbs = false;
    for (const fs::path& part : sp) climbs = climbs || part == "..";
    if (sp.is_absolute() || climbs)
      return invalid_argument(src + ": weight_map maps tensor '" + it.key() + "' to '" + shard +
                              "', which is not a file name inside the checkpoint directory");
    auto [pos, inserted] = shard_pos.emplace(shard, idx.shards.size());
    if (inserted) idx.shards.push_back(shard);
    idx.tensors.emplace_back(it.key(), pos->second);
  }
  return idx;
}

std::string fmt_block(int bo, int bi) { return std::to_string(bo) + "x" + std::to_string(bi); }

}  // namespace

int layer_index_of(const std::string& name) {
  static constexpr std::string_view kPrefix = "model.layers.";
  if (name.compare(0, kPrefix.size(), kPrefix) != 0) return -1;
  const char* b = name.data() + kPrefix.size();
  const char* e = name.data() + name.size();
  int n = -1;
  auto [p, ec] = std::from_chars(b, e, n);
  if (ec != std::errc() || p == b || p == e || *p != '.') return -1;
  return n;
}

Result<std::shared_ptr<Checkpoint>> Checkpoint::open(const std::string& dir_arg) {
  const fs::path dir(dir_arg);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    if (fs::exists(dir, ec)) return invalid_argument(dir_arg + ": not a directory; " + kLayout);
    return not_found(dir_arg + ": no such directory");
  }
  const fs::path config_path = dir / "config.json";
  if (!is_file(config_path)) return not_found(dir_arg + ": no config.json; " + kLayout);

  std::shared_ptr<Checkpoint> ck(new Checkpoint());
  ck->dir_ = dir_arg;
  SABLE_ASSIGN_OR_RETURN(ck->config_, load_model_config(config_path.string()));

  const fs::path index_path = dir / kIndexName;
  if (is_file(index_path)) {
    SABLE_ASSIGN_OR_RETURN(Index idx, read_index(index_path));
    if (idx.tensors.empty()) return invalid_argument(index_path.string() + ": weight_map is empty; no weights");
    // Every shard must exist before any is opened, so the message names the
    // missing one rather than a later symptom.
    for (const std::string& shard : idx.shards)
      if (!is_file(dir / shard))
        return not_found(index_path.string() + " names shard '" + shard + "', which does not exist in " +
                         dir_arg);
    for (const std::string& shard : idx.shards) {
      SABLE_ASSIGN_OR_RETURN(std::shared_ptr<SafetensorsFile> f, SafetensorsFile::open((dir / shard).string()));
      ck->shards_.push_back(std::move(f));
      ck->shard_names_.push_back(shard);
    }
    // The index is authoritative: a weight and its scale may sit in
    // different shards, and tensors a shard holds but the index omits are
    // not part of the model.
    for (const auto& [name, pos] : idx.tensors) {
      const SafetensorsEntry* e = ck->shards_[pos]->find(name);
      if (!e)
        return not_found(index_path.string() + " maps tensor '" + name + "' to " + idx.shards[pos] +
                         ", which has no tensor of that name");
      ck->tensors_.emplace(name, std::make_pair(pos, e));
    }
  } else if (is_file(dir / kSingleName)) {
    SABLE_ASSIGN_OR_RETURN(std::shared_ptr<SafetensorsFile> f, SafetensorsFile::open((dir / kSingleName).string()));
    if (f->entries().empty()) return invalid_argument(f->path() + ": holds no tensors; no weights");
    for (const SafetensorsEntry& e : f->entries()) ck->tensors_.emplace(e.name, std::make_pair(size_t(0), &e));
    ck->shards_.push_back(std::move(f));
    ck->shard_names_.push_back(kSingleName);
  } else {
    return not_found(dir_arg + ": no weights: neither " + kIndexName + " nor " + kSingleName + " is there; " +
                     kLayout);
  }

  for (const auto& [name, where] : ck->tensors_)
    if (ck->is_mtp_tensor(name)) ++ck->num_skipped_mtp_;
  SABLE_RETURN_IF_ERROR(ck->check_fp8_scales());
  return ck;
}

bool Checkpoint::is_mtp_tensor(const std::string& name) const {
  return layer_index_of(name) >= config_.num_hidden_layers;
}

bool Checkpoint::has(const std::string& name) const { return tensors_.count(name) != 0; }

Result<Tensor> Checkpoint::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return not_found("checkpoint " + dir_ + ": no tensor '" + name + "'");
  return shards_[it->second.first]->tensor(*it->second.second);
}

Result<Tensor> Checkpoint::get(const std::string& name, const Shape& expected) const {
  SABLE_ASSIGN_OR_RETURN(Tensor t, get(name));
  if (t.shape() != expected)
    return invalid_argument(file_of(name) + ": tensor '" + name + "' has shape " + t.shape().str() +
                            ", but config.json implies " + expected.str());
  return t;
}

std::string Checkpoint::file_of(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? std::string() : shard_names_[it->second.first];
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size() - num_skipped_mtp_);
  for (const auto& [name, where] : tensors_)
    if (!is_mtp_tensor(name)) out.push_back(name);
  return out;
}

Result<Tensor> Checkpoint::get_scale_inv(const std::string& weight_name) const {
  SABLE_ASSIGN_OR_RETURN(Tensor w, get(weight_name));
  const std::string scale_name = weight_name + "_scale_inv";
  if (w.ndim() != 2)
    return invalid_argument(file_of(weight_name) + ": tensor '" + weight_name + "' has shape " + w.shape().str() +
                            "; a block-scaled weight must be 2-D");
  if (!has(scale_name))
    return not_found("checkpoint " + dir_ + ": " + dtype_name(w.dtype()) + " tensor '" + weight_name +
                     "' has no scale '" + scale_name + "'");
  SABLE_ASSIGN_OR_RETURN(Tensor s, get(scale_name));
  const int bo = config_.quantization.block_out, bi = config_.quantization.block_in;
  Shape want = fp8_scale_shape(w.dim(0), w.dim(1), bo, bi);
  if (s.dtype() != DType::F32)
    return invalid_argument(file_of(scale_name) + ": tensor '" + scale_name + "' has dtype " +
                            dtype_name(s.dtype()) + "; a weight_scale_inv must be F32");
  if (s.shape() != want)
    return invalid_argument(file_of(scale_name) + ": tensor '" + scale_name + "' has shape " + s.shape().str() +
                            ", but weight '" + weight_name + "' " + w.shape().str() + " with " +
                            fmt_block(bo, bi) + " blocks (config.json weight_block_size) implies " + want.str());
  return s;
}

Status Checkpoint::check_fp8_scales() const {
  for (const auto& [name, where] : tensors_) {
    if (where.second->dtype != DType::F8_E4M3 || is_mtp_tensor(name)) continue;
    SABLE_ASSIGN_OR_RETURN(Tensor s, get_scale_inv(name));
    (void)s;
  }
  return Status::ok();
}

}  // namespace sable
