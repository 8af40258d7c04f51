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
  // Tensors of the model proper, sorted; multi-token-prediction layers
  // (model.layers.N.* with N >= num_hidden_layers) are left out.
  std::vector<std::string> names() const;
  // How many tensors names() leaves out as MTP (get() still finds them).
  size_t num_skipped_mtp_tensors() const { return num_skipped_mtp_; }
  // Whether a name belongs to a layer past num_hidden_layers (an MTP layer).
  bool is_mtp_tensor(const std::string& name) const;

  // The float32 `<w>_scale_inv` of an F8_E4M3 weight `<w>` ("...proj.weight"),
  // checked to be [ceil(out/block_out), ceil(in/block_in)] for the weight's
  // shape and config.json's weight_block_size.
  Result<Tensor> get_scale_inv(const std::string& weight_name) const;
  // Every F8_E4M3 tensor of the model proper has a scale of the right shape
  // and dtype (open() runs this).
  Status check_fp8_scales() const;

 private:
  std::string dir_;
  ModelConfig config_;
  std::vector<std::shared_ptr<SafetensorsFile>> shards_;
  std::vector<std::string> shard_names_;  // as the index spells them, parallel to shards_
  std::map<std::string, std::pair<size_t, const SafetensorsEntry*>> tensors_;
  size_t num_skipped_mtp_ = 0;
};

// "model.layers.12.mlp.gate.weight" -> 12; -1 for names outside a layer.
int layer_index_of(const std::string& name);

}  // namespace sable
