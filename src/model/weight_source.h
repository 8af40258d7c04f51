// Where a model's weights come from: a checkpoint directory, or random
// weights generated from config.json alone (--load-format dummy, and what
// make-model writes). The loader asks for each tensor by name and expected
// shape; both sources answer with host tensors in the stored dtype.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/status.h"
#include "core/tensor.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/tensor_specs.h"

namespace sable {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual const ModelConfig& config() const = 0;
  virtual bool has(const std::string& name) const = 0;
  // The tensor, checked against `expected`; errors name the tensor, the file
  // and both shapes. Called from several threads at once (the
  // tensor-parallel ranks load their shards concurrently), so a source keeps
  // no unguarded state between calls.
  virtual Result<Tensor> get(const std::string& name, const Shape& expected) = 0;
  // "checkpoint DIR" or "dummy weights (seed S)", for logs.
  virtual std::string describe() const = 0;
};

class CheckpointWeightSource final : public WeightSource {
 public:
  explicit CheckpointWeightSource(std::shared_ptr<Checkpoint> ckpt) : ckpt_(std::move(ckpt)) {}
  const ModelConfig& config() const override { return ckpt_->config(); }
  bool has(const std::string& name) const override { return ckpt_->has(name); }
  Result<Tensor> get(const std::string& name, const Shape& expected) override {
    return ckpt_->get(name, expected);
  }
  std::string describe() const override { return "checkpoint " + ckpt_->dir(); }

 private:
  std::shared_ptr<Checkpoint> ckpt_;
};

// Deterministic random weights: a tensor's values depend only on (seed,
// name), so the same config and seed always give the same model, whatever
// the thread count or the order of requests.
class DummyWeightSource final : public WeightSource {
 public:
  DummyWeightSource(ModelConfig config, uint64_t seed, bool include_mtp = false);
  const ModelConfig& config() const override { return config_; }
  bool has(const std::string& name) const override { return specs_.count(name) > 0; }
  Result<Tensor> get(const std::string& name, const Shape& expected) override;
  std::string describe() const override { return "dummy weights (seed " + std::to_string(seed_) + ")"; }
  // The specs in checkpoint order (for make-model).
  const std::vector<TensorSpec>& ordered_specs() const { return ordered_; }
  // Generates one tensor by spec.
  Tensor generate(const TensorSpec& spec) const;

 private:
  ModelConfig config_;
  uint64_t seed_;
  std::vector<TensorSpec> ordered_;
  std::map<std::string, TensorSpec> specs_;
};

// Opens a model: a checkpoint directory, or with load_format "dummy" random
// weights from the directory's config.json alone.
// include_mtp: the dummy weights include the MTP layer's tensors too.
Result<std::unique_ptr<WeightSource>> open_weight_source(const std::string& model_dir, const std::string& load_format,
                                                         uint64_t seed = 0, bool include_mtp = false);

}  // namespace sable
