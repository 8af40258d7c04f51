// One HTTP request's engine work: one engine request per prompt (each with
// n choices), the outputs gathered per choice, and the response they make,
// streamed as SSE or whole. The connection owns the job and calls pump() on
// its strand whenever the engine signals new outputs; the job never touches
// the socket.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/engine_client.h"
#include "server/http_message.h"
#include "server/response_formatter.h"

namespace sable::server {

struct ServerContext;

class GenerationJob {
 public:
  GenerationJob(ServerContext& ctx, std::unique_ptr<ResponseFormatter> fmt, bool stream, int n);
  ~GenerationJob();

  // Submits the engine requests in order. On an error, aborts the ones
  // already submitted and returns it (the caller answers with it).
  Status submit(std::vector<GenerateRequest> reqs, std::vector<std::string> echo_texts);
  // Called on the engine thread when any of the requests has new outputs.
  void set_wake(const std::function<void()>& wake);

  struct Step {
    std::string sse;                       // streaming: events to send now
    std::optional<HttpResponse> response;  // non-streaming: the answer, once done
    bool done = false;
  };
  // Takes the outputs available now and formats them.
  Step pump();
  // Aborts every unfinished engine request (client gone, or draining).
  void abort();

  bool streaming() const { return stream_; }
  const std::string& id() const { return fmt_->meta().id; }

 private:
  struct Run {
    std::string engine_id;
    std::shared_ptr<RequestHandle> handle;
    int prompt_tokens = 0;
    int finished = 0;
  };
  void apply(int choice, const RequestOutput& o);
  void log_finish() const;

  ServerContext& ctx_;
  std::unique_ptr<ResponseFormatter> fmt_;
  bool stream_;
  int n_;
  std::vector<Run> runs_;
  std::vector<ChoiceState> choices_;
  Usage usage_;
  int finished_choices_ = 0;
  bool started_ = false;
  bool done_ = false;
  bool aborted_ = false;
  std::string error_;  // an engine error (kError) ends the request
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> first_token_;
};

}  // namespace sable::server
