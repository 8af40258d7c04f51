#include "server/engine_client.h"

namespace sable::server {
namespace {

class EngineAdapter final : public EngineClient {
 public:
  explicit EngineAdapter(Engine& e) : engine_(e) {}
  Result<std::shared_ptr<RequestHandle>> submit(GenerateRequest req) override {
    return engine_.submit(std::move(req));
  }
  void abort(const std::string& id) override { engine_.abort(id); }
  EngineGauges gauges() const override { return engine_.gauges(); }
  EngineMetrics* metrics() override { return &engine_.metrics(); }
  int max_model_len() const override {
    // The config's 0 means "the model's own limit".
    int m = engine_.config().max_model_len;
    if (m > 0) return m;
    return int(engine_.model_config().max_position_embeddings);
  }
  int64_t vocab_size() const override { return engine_.model_config().vocab_size; }
  void shutdown(std::chrono::milliseconds grace) override { engine_.shutdown(grace); }
  std::string fatal_error() const override { return engine_.fatal_error(); }

 private:
  Engine& engine_;
};

}  // namespace

std::unique_ptr<EngineClient> make_engine_client(Engine& engine) {
  return std::make_unique<EngineAdapter>(engine);
}

}  // namespace sable::server
