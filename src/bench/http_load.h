// The load client of `sable bench serve`: streaming requests to any
// OpenAI-compatible server, all on one Asio io_context on one thread (no
// thread per request, so a thousand concurrent streams cost a thousand
// sockets and nothing more). Requests are sent at their arrival times (see
// arrival_times), at most max_concurrency at once; as in vLLM, a request's
// clock starts when it is sent, not when it arrived and waited for a slot,
// and each request gets its own connection.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "bench/dataset.h"
#include "bench/sse.h"
#include "bench/stats.h"
#include "core/status.h"

namespace sable::bench {

struct ServeTarget {
  std::string host, port, path_prefix;  // "http://h:p/prefix" -> h, p, "/prefix"
};
// Plain http only (a benchmark client does not need TLS; put it behind a
// local port-forward if the server only speaks https).
Result<ServeTarget> parse_base_url(const std::string& url);

struct HttpLoadOptions {
  ServeTarget target;
  std::string endpoint = "/v1/completions";
  Endpoint kind = Endpoint::kCompletions;
  std::string model;
  std::string api_key;           // sent as a bearer token when not empty
  bool ignore_eos = true;        // exact output lengths
  bool send_ids = false;         // prompt as token ids (completions only)
  nlohmann::json extra_body = nlohmann::json::object();  // merged into every request body
  int max_concurrency = 0;       // 0: no limit
  std::vector<double> arrivals;  // send time of each request, s from the start
  double timeout_s = 6 * 3600;   // per request, as vLLM's client
  bool progress = true;
  std::string label = "bench";
};

struct LoadOutcome {
  std::vector<RequestResult> results;  // in prompt order
  double duration_s = 0;               // first send to last completion
};

std::string request_body(const HttpLoadOptions& o, const BenchPrompt& p);

// A plain GET (the model list, health): the body of a 200, else an error.
Result<std::string> http_get(const ServeTarget& t, const std::string& path, const std::string& api_key,
                             double timeout_s);

// Runs every prompt against the server; never throws. A request that fails
// (refused connection, HTTP error, error event, no token) is recorded as
// failed with its error text.
LoadOutcome run_http_load(const HttpLoadOptions& o, const std::vector<BenchPrompt>& prompts);

}  // namespace sable::bench
