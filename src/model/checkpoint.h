// A Hugging Face checkpoint directory: config.json plus either
// model.safetensors.index.json (weight_map: tensor -> shard file) with its
// shards, or a single model.safetensors. Tensors are looked up by name across
// shards through the index (a weight and its weight_scale_inv may sit in
// different shards).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace sable {

class Checkpoint {
 public:
  // Opens config.json and every shard (validating each header); an index
  // that names a missing shard, or a tensor the index maps to a shard that
  // lacks it, is an error naming both.
  static Result<std::shared_ptr<Checkpoint>> open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const ModelConfig& config() const { return config_; }
  bool has(const std::string& name) const;
  // The tensor, or an error naming the tensor and the directory.
  Result<Tensor> get(const std::string& name) const;
  // Like get(), also checking the shape; the error names the file, the
  // tensor, the expected and the found shape.
  Result<Tensor> get(const std::string& name, const Shape& expected) const;
  // Which file holds a tensor (for messages); empty if none.
  std::string file_of(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::string dir_;
  ModelConfig config_;
  std::vector<std::shared_ptr<SafetensorsFile>> shards_;
  std::map<std::string, std::pair<size_t, const SafetensorsEntry*>> tensors_;
};

}  // namespace sable
