#include "server/metrics_endpoint.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "server/endpoints.h"

namespace sable::server {
namespace {

class Exposition {
 public:
  explicit Exposition(std::string labels) : labels_(std::move(labels)) {}

  void gauge(const char* name, const char* help, double v) {
    head(name, help, "gauge");
    sample(name, "", v);
  }
  void counter(const char* name, const char* help, double v) {
    head(name, help, "counter");
    sample(name, "", v);
  }
  void histogram(const char* name, const char* help, const Histogram::Snapshot& s) {
    head(name, help, "histogram");
    std::string bucket = std::string(name) + "_bucket";
    for (size_t i = 0; i < s.buckets.size() && i < s.cumulative.size(); ++i)
      sample(bucket.c_str(), "le=\"" + prom_number(s.buckets[i]) + "\"", double(s.cumulative[i]));
    sample(bucket.c_str(), "le=\"+Inf\"", double(s.count));
    sample((std::string(name) + "_count").c_str(), "", double(s.count));
    sample((std::string(name) + "_sum").c_str(), "", s.sum);
  }
  void head(const char* name, const char* help, const char* type) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(const char* name, const std::string& extra_labels, double v) {
    out_ += name;
    out_ += '{';
    out_ += labels_;
    if (!extra_labels.empty()) {
      out_ += ',';
      out_ += extra_labels;
    }
    out_ += "} ";
    out_ += prom_number(v);
    out_ += '\n';
  }
  // A sample without the model labels (process_*).
  void plain(const char* name, const char* help, const char* type, double v) {
    head(name, help, type);
    out_ += fmt::format("{} {}\n", name, prom_number(v));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string labels_;
  std::string out_;
};

}  // namespace

std::string prom_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string prom_label_value(const std::string& v) {
  std::string o;
  o.reserve(v.size());
  for (char c : v) {
    if (c == '\\') o += "\\\\";
    else if (c == '"') o += "\\\"";
    else if (c == '\n') o += "\\n";
    else o += c;
  }
  return o;
}

ProcessStats read_process_stats(double start_time) {
  ProcessStats p;
  p.start_time = start_time;
  std::ifstream f("/proc/self/stat");
  std::string line;
  if (std::getline(f, line)) {
    // Fields after the command name (which may hold spaces) start at ") ".
    size_t rp = line.rfind(')');
    if (rp != std::string::npos) {
      std::istringstream ss(line.substr(rp + 2));
      std::vector<std::string> fld;
      std::string x;
      while (ss >> x) fld.push_back(x);
      // fld[0] is field 3 (state): utime=14, stime=15, vsize=23, rss=24.
      auto at = [&](int field) { return size_t(field - 3) < fld.size() ? std::atof(fld[field - 3].c_str()) : 0.0; };
      double ticks = double(sysconf(_SC_CLK_TCK));
      if (ticks > 0) p.cpu_seconds = (at(14) + at(15)) / ticks;
      p.virtual_bytes = at(23);
      p.resident_bytes = at(24) * double(sysconf(_SC_PAGESIZE));
    }
  }
  if (DIR* d = opendir("/proc/self/fd")) {
    int n = 0;
    while (readdir(d)) ++n;
    closedir(d);
    p.open_fds = std::max(0, n - 3);  // ".", "..", and the directory's own fd
  }
  return p;
}

std::string render_prometheus(const std::string& model_name, const EngineGauges& g, const EngineMetrics* m,
                              const ProcessStats* process) {
  // vLLM V1 labels every engine metric with engine and model_name.
  Exposition e("engine=\"0\",model_name=\"" + prom_label_value(model_name) + "\"");
  e.gauge("vllm:num_requests_running", "Number of requests in model execution batches.", g.num_requests_running);
  e.gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", g.num_requests_waiting);
  e.gauge("vllm:num_requests_swapped", "Number of requests swapped to CPU (always 0: Sable recomputes).",
          g.num_requests_swapped);
  e.gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", g.kv_cache_usage);
  e.gauge("vllm:gpu_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage (older name).", g.kv_cache_usage);
  e.gauge("sable:num_kv_blocks", "KV-cache blocks in the pool.", g.num_kv_blocks);
  e.gauge("sable:num_free_kv_blocks", "KV-cache blocks free.", g.num_free_kv_blocks);
  if (m) {
    e.counter("vllm:prefix_cache_queries_total", "Prefix cache queries, in terms of number of queried tokens.",
              double(m->prefix_cache_queries.load()));
    e.counter("vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.",
              double(m->prefix_cache_hits.load()));
    e.counter("vllm:gpu_prefix_cache_queries_total", "Prefix cache queries in tokens (older name).",
              double(m->prefix_cache_queries.load()));
    e.counter("vllm:gpu_prefix_cache_hits_total", "Prefix cache hits in tokens (older name).",
              double(m->prefix_cache_hits.load()));
    e.counter("vllm:num_preemptions_total", "Cumulative number of preemptions from the engine.",
              double(m->num_preemptions.load()));
    e.counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.", double(m->prompt_tokens.load()));
    e.counter("vllm:generation_tokens_total", "Number of generation tokens processed.",
              double(m->generation_tokens.load()));
    if (m->spec_positions > 0) {
      e.counter("vllm:spec_decode_num_drafts_total", "Number of spec decoding drafts.",
                double(m->spec_num_drafts.load()));
      e.counter("vllm:spec_decode_num_draft_tokens_total", "Number of draft tokens.",
                double(m->spec_num_draft_tokens.load()));
      e.counter("vllm:spec_decode_num_accepted_tokens_total", "Number of accepted tokens.",
                double(m->spec_num_accepted_tokens.load()));
      e.head("vllm:spec_decode_num_accepted_tokens_per_pos_total", "Accepted tokens per draft position.", "counter");
      for (int j = 0; j < std::min(m->spec_positions, EngineMetrics::kMaxSpecPositions); ++j)
        e.sample("vllm:spec_decode_num_accepted_tokens_per_pos_total", "position=\"" + std::to_string(j) + "\"",
                 double(m->spec_accepted_per_pos[size_t(j)].load()));
    }
    e.head("vllm:request_success_total", "Count of successfully processed requests.", "counter");
    e.sample("vllm:request_success_total", "finished_reason=\"stop\"", double(m->success_stop.load()));
    e.sample("vllm:request_success_total", "finished_reason=\"length\"", double(m->success_length.load()));
    e.sample("vllm:request_success_total", "finished_reason=\"abort\"", double(m->success_abort.load()));
    e.sample("vllm:request_success_total", "finished_reason=\"error\"", double(m->success_error.load()));
    e.histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
                m->time_to_first_token.snapshot());
    auto itl = m->inter_token_latency.snapshot();
    e.histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", itl);
    e.histogram("vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.", itl);
    e.histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
                m->e2e_request_latency.snapshot());
    e.histogram("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
                m->request_queue_time.snapshot());
    e.histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.",
                m->request_prompt_tokens.snapshot());
    e.histogram("vllm:request_generation_tokens", "Number of generation tokens processed.",
                m->request_generation_tokens.snapshot());
  }
  if (process) {
    e.plain("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter",
            process->cpu_seconds);
    e.plain("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", process->resident_bytes);
    e.plain("process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge", process->virtual_bytes);
    e.plain("process_open_fds", "Number of open file descriptors.", "gauge", process->open_fds);
    e.plain("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge",
            process->start_time);
  }
  return e.take();
}

HandlerResult handle_metrics(ServerContext& ctx, const HttpRequest&, const RequestInfo&) {
  EngineGauges g = ctx.engine->gauges();
  ProcessStats p = read_process_stats(double(ctx.started_at));
  HandlerResult r;
  r.response = HttpResponse::text(200, render_prometheus(ctx.model_name(), g, ctx.engine->metrics(), &p),
                                  "text/plain; version=0.0.4; charset=utf-8");
  return r;
}

}  // namespace sable::server
