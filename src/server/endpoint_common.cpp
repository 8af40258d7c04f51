#include "server/endpoint_common.h"

#include <atomic>
#include <chrono>

#include <fmt/format.h>

#include "server/errors.h"

namespace sable::server {

void check_model(const ServerContext& ctx, const std::string& model) {
  if (!ctx.serves(model))
    throw ApiException(ApiError::not_found(fmt::format("The model `{}` does not exist.", model), "model_not_found"));
}

void check_accepting(const ServerContext& ctx) {
  if (ctx.draining.load())
    throw ApiException(ApiError::unavailable("The server is shutting down and accepts no new requests."));
}

void check_tokenizer(const ServerContext& ctx, const char* what) {
  if (!ctx.tokenizer)
    throw_bad_request(fmt::format("This server has no tokenizer, so {} is not possible; send token ids.", what));
}

std::string engine_request_id(const std::string& response_id, const RequestInfo& info, size_t prompt_index,
                              size_t num_prompts) {
  static std::atomic<uint64_t> serial{0};
  std::string id = response_id;
  if (num_prompts > 1) id += fmt::format("-{}", prompt_index);
  if (info.client_id) id += fmt::format("-{}", serial.fetch_add(1));
  return id;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string sanitize_request_id(std::string_view v) {
  if (v.empty() || v.size() > 128) return "";
  for (char c : v)
    if (c < 0x21 || c > 0x7e) return "";
  return std::string(v);
}

}  // namespace sable::server
