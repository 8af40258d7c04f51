#include "bench/report.h"

#include <unistd.h>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

namespace sable::bench {

namespace {

void line(std::FILE* out, const char* name, double v, std::optional<double> floor = std::nullopt) {
  if (floor) std::fprintf(out, "%-40s %-12.2f floor %.2f (est.)\n", name, v, *floor);
  else std::fprintf(out, "%-40s %-12.2f\n", name, v);
}

void iline(std::FILE* out, const char* name, long long v) { std::fprintf(out, "%-40s %-12lld\n", name, v); }

void header(std::FILE* out, const char* title, char fill) {
  const int n = 50, len = int(std::string(title).size());
  const int left = (n - len) / 2, right = n - len - left;
  std::fprintf(out, "%s%s%s\n", std::string(size_t(std::max(0, left)), fill).c_str(), title,
               std::string(size_t(std::max(0, right)), fill).c_str());
}

std::string pword(double p) {
  char buf[32];
  if (p == std::floor(p)) std::snprintf(buf, sizeof buf, "%d", int(p));
  else std::snprintf(buf, sizeof buf, "%g", p);
  return buf;
}

void metric_block(std::FILE* out, const char* title, const char* name, const Summary& s,
                  std::optional<double> floor) {
  header(out, title, '-');
  line(out, (std::string("Mean ") + name + " (ms):").c_str(), s.mean_ms);
  line(out, (std::string("Median ") + name + " (ms):").c_str(), s.median_ms, floor);
  for (const auto& [p, v] : s.percentiles_ms) {
    if (p == 50) continue;  // the median, above
    // Built with += : gcc 12 warns (-Wrestrict, a false positive) on "P" + string.
    std::string label = "P";
    label += pword(p);
    label += ' ';
    label += name;
    label += " (ms):";
    line(out, label.c_str(), v);
  }
}

}  // namespace

void print_report(std::FILE* out, const BenchRun& r) {
  const BenchMetrics& m = r.metrics;
  const Floors f = r.floors.value_or(Floors{});
  std::fprintf(out, "\n");
  header(out, r.mode == "offline" ? " Offline Benchmark Result " : " Serving Benchmark Result ", '=');
  if (!r.preset.empty()) std::fprintf(out, "%-40s %s\n", "Preset:", r.preset.c_str());
  std::fprintf(out, "%-40s %s\n", "Model:", r.model_id.c_str());
  std::fprintf(out, "%-40s %d in / %d out (%s)\n", "Prompt / output tokens:", r.input_len, r.output_len,
               r.dataset.c_str());
  iline(out, "Successful requests:", m.completed);
  iline(out, "Failed requests:", m.failed);
  if (r.max_concurrency > 0) iline(out, "Maximum request concurrency:", r.max_concurrency);
  if (!std::isinf(r.request_rate) && r.request_rate > 0) line(out, "Request rate configured (RPS):", r.request_rate);
  line(out, "Benchmark duration (s):", m.duration_s);
  iline(out, "Total input tokens:", m.total_input);
  if (m.total_input_server > 0 && m.total_input_server != m.total_input)
    iline(out, "Total input tokens (server's count):", m.total_input_server);
  iline(out, "Total generated tokens:", m.total_output);
  line(out, "Request throughput (req/s):", m.request_throughput);
  if (m.request_goodput) {
    line(out, "Request goodput (req/s):", *m.request_goodput);
    std::fprintf(out, "%-40s %s\n", "  SLOs (ms):", r.slo.to_string().c_str());
  }
  line(out, "Output token throughput (tok/s):", m.output_throughput, f.output_tok_s);
  line(out, "Peak output token throughput (tok/s):", m.max_output_tokens_per_s);
  iline(out, "Peak concurrent requests:", m.max_concurrent_requests);
  line(out, "Total Token throughput (tok/s):", m.total_token_throughput);
  metric_block(out, "Time to First Token", "TTFT", m.ttft, f.ttft_ms);
  metric_block(out, "Time per Output Token (excl. 1st token)", "TPOT", m.tpot, f.tpot_ms);
  metric_block(out, "Inter-token Latency", "ITL", m.itl, std::nullopt);
  metric_block(out, "End-to-end Latency", "E2EL", m.e2el, f.e2el_ms);
  if (const auto& sd = r.spec_decode) {  // vLLM's section, same labels
    header(out, "Speculative Decoding", '-');
    line(out, "Acceptance rate (%):", sd->acceptance_rate);
    line(out, "Acceptance length:", sd->acceptance_length);
    iline(out, "Drafts:", sd->num_drafts);
    iline(out, "Draft tokens:", sd->draft_tokens);
    iline(out, "Accepted tokens:", sd->accepted_tokens);
    if (!sd->per_position_acceptance_rates.empty()) std::fprintf(out, "Per-position acceptance (%%):\n");
    for (size_t i = 0; i < sd->per_position_acceptance_rates.size(); ++i)
      line(out, ("  Position " + std::to_string(i) + ":").c_str(), 100.0 * sd->per_position_acceptance_rates[i]);
  }
  header(out, "", '=');
  if (!r.floor_note.empty()) std::fprintf(out, "floor: %s\n", r.floor_note.c_str());
  for (const RequestResult& res : r.results)
    if (!res.success) {
      std::fprintf(out, "first error: %s\n", res.error.c_str());
      break;
    }
  std::fflush(out);
}

void print_sweep_table(std::FILE* out, const std::vector<BenchRun>& runs) {
  std::fprintf(out, "\n| concurrency | req/s | output tok/s | TTFT median ms | TTFT p99 ms | TPOT median ms | "
                    "ITL p99 ms | E2EL median ms | failed |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const BenchRun& r : runs) {
    const BenchMetrics& m = r.metrics;
    std::fprintf(out, "| %s | %.2f | %.1f | %.1f | %.1f | %.2f | %.2f | %.1f | %d |\n",
                 r.max_concurrency > 0 ? std::to_string(r.max_concurrency).c_str() : "inf", m.request_throughput,
                 m.output_throughput, m.ttft.median_ms, m.ttft.percentile(99), m.tpot.median_ms,
                 m.itl.percentile(99), m.e2el.median_ms, m.failed);
  }
  std::fflush(out);
}

nlohmann::ordered_json run_to_json(const BenchRun& r) {
  using OJ = nlohmann::ordered_json;
  const BenchMetrics& m = r.metrics;
  OJ j;
  char date[32];
  std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y%m%d-%H%M%S", std::gmtime(&now));
  j["date"] = date;
  j["backend"] = r.backend;
  j["model_id"] = r.model_id;
  j["tokenizer_id"] = r.tokenizer_id;
  j["num_prompts"] = r.num_prompts;
  j["request_rate"] = std::isinf(r.request_rate) ? OJ("inf") : OJ(r.request_rate);
  j["burstiness"] = r.burstiness;
  j["max_concurrency"] = r.max_concurrency > 0 ? OJ(r.max_concurrency) : OJ(nullptr);
  j["duration"] = m.duration_s;
  j["completed"] = m.completed;
  j["failed"] = m.failed;
  j["total_input_tokens"] = m.total_input;
  j["total_output_tokens"] = m.total_output;
  j["request_throughput"] = m.request_throughput;
  j["request_goodput"] = m.request_goodput ? OJ(*m.request_goodput) : OJ(nullptr);
  j["output_throughput"] = m.output_throughput;
  j["total_token_throughput"] = m.total_token_throughput;
  j["max_output_tokens_per_s"] = m.max_output_tokens_per_s;
  j["max_concurrent_requests"] = m.max_concurrent_requests;
  OJ in = OJ::array(), outl = OJ::array(), ttfts = OJ::array(), itls = OJ::array(), e2els = OJ::array(),
     tpots = OJ::array(), starts = OJ::array(), errors = OJ::array();
  for (const RequestResult& x : r.results) {
    in.push_back(x.prompt_len);
    outl.push_back(x.success ? x.output_tokens : 0);
    ttfts.push_back(x.ttft);
    itls.push_back(x.itl);
    e2els.push_back(x.latency);
    auto t = request_tpot(x);
    tpots.push_back(t ? OJ(*t) : OJ(nullptr));
    starts.push_back(x.start_time);
    errors.push_back(x.error);
  }
  j["input_lens"] = std::move(in);
  j["output_lens"] = std::move(outl);
  j["ttfts"] = std::move(ttfts);
  j["itls"] = std::move(itls);
  j["errors"] = std::move(errors);
  auto put = [&](const char* key, const Summary& s) {
    j[std::string("mean_") + key + "_ms"] = s.mean_ms;
    j[std::string("median_") + key + "_ms"] = s.median_ms;
    j[std::string("std_") + key + "_ms"] = s.std_ms;
    for (const auto& [p, v] : s.percentiles_ms) {
      std::string k = "p";  // += rather than +: see metric_block
      k += pword(p);
      k += '_';
      k += key;
      k += "_ms";
      j[k] = v;
    }
  };
  put("ttft", m.ttft);
  put("tpot", m.tpot);
  put("itl", m.itl);
  put("e2el", m.e2el);
  if (const auto& sd = r.spec_decode) {  // vLLM's keys
    j["spec_decode_acceptance_rate"] = sd->acceptance_rate;
    j["spec_decode_acceptance_length"] = sd->acceptance_length;
    j["spec_decode_num_drafts"] = sd->num_drafts;
    j["spec_decode_draft_tokens"] = sd->draft_tokens;
    j["spec_decode_accepted_tokens"] = sd->accepted_tokens;
    j["spec_decode_per_position_acceptance_rates"] = sd->per_position_acceptance_rates;
  }
  OJ s;
  s["mode"] = r.mode;
  s["preset"] = r.preset;
  s["base_url"] = r.base_url;
  s["endpoint"] = r.endpoint;
  s["dataset"] = r.dataset;
  s["input_len"] = r.input_len;
  s["output_len"] = r.output_len;
  s["seed"] = r.seed;
  s["slo"] = r.slo.to_string();
  s["total_input_tokens_server"] = m.total_input_server;
  s["e2els"] = std::move(e2els);
  s["tpots"] = std::move(tpots);
  s["start_times"] = std::move(starts);
  OJ fl;
  if (r.floors) {
    auto opt = [](const std::optional<double>& v) { return v ? OJ(*v) : OJ(nullptr); };
    fl["ttft_ms"] = opt(r.floors->ttft_ms);
    fl["tpot_ms"] = opt(r.floors->tpot_ms);
    fl["e2el_ms"] = opt(r.floors->e2el_ms);
    fl["output_tok_s"] = opt(r.floors->output_tok_s);
    fl["decode_step_bytes"] = r.floors->step_bytes;
  }
  fl["note"] = r.floor_note;
  s["floor_estimate"] = std::move(fl);
  s["commit"] = current_commit();
  s["client_host"] = host_description();
  s["device"] = r.device;
  s["command"] = r.command;
  j["sable"] = std::move(s);
  return j;
}

Status write_results_json(const std::string& path, const std::vector<BenchRun>& runs) {
  nlohmann::ordered_json j;
  if (runs.size() == 1) j = run_to_json(runs[0]);
  else {
    j = nlohmann::ordered_json::array();
    for (const BenchRun& r : runs) j.push_back(run_to_json(r));
  }
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::ofstream f(path);
  f << j.dump(1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  if (!f) return io_error("cannot write " + path);
  return Status::ok();
}

namespace {

std::string find_plot_script() {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates;
  if (const char* root = std::getenv("SABLE_ROOT")) candidates.push_back(fs::path(root) / "bench/plot_results.py");
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / "../bench/plot_results.py");
    candidates.push_back(exe.parent_path() / "../share/sable/bench/plot_results.py");
  }
#ifdef SABLE_SOURCE_DIR
  candidates.push_back(fs::path(SABLE_SOURCE_DIR) / "bench/plot_results.py");
#endif
  for (const auto& c : candidates)
    if (fs::is_regular_file(c, ec)) return fs::weakly_canonical(c, ec).string();
  return "";
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

std::vector<std::string> write_plots(const std::string& results_json, const std::string& plot_dir) {
  std::vector<std::string> files;
  const std::string script = find_plot_script();
  if (script.empty()) {
    std::fprintf(stderr, "plots: bench/plot_results.py not found (set SABLE_ROOT to the source tree)\n");
    return files;
  }
  if (std::system("python3 -c 'import matplotlib' >/dev/null 2>&1") != 0) {
    std::fprintf(stderr,
                 "plots: python3 with matplotlib is not available; draw them later with\n  python3 %s %s --out %s\n",
                 script.c_str(), results_json.c_str(), plot_dir.c_str());
    return files;
  }
  const std::string cmd = "python3 " + shell_quote(script) + " " + shell_quote(results_json) + " --out " +
                          shell_quote(plot_dir);
  std::FILE* p = popen(cmd.c_str(), "r");
  if (!p) return files;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) {
    std::string l = buf;
    while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.pop_back();
    if (!l.empty()) files.push_back(l);
  }
  if (pclose(p) != 0) std::fprintf(stderr, "plots: %s failed\n", cmd.c_str());
  return files;
}

std::string current_commit() {
  if (const char* c = std::getenv("SABLE_COMMIT")) return c;
  std::FILE* p = popen("git rev-parse --short HEAD 2>/dev/null", "r");
  if (!p) return "unknown";
  char buf[64] = {0};
  std::string s = std::fgets(buf, sizeof buf, p) ? std::string(buf) : std::string();
  pclose(p);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "unknown" : s;
}

std::string host_description() {
  std::ifstream f("/proc/cpuinfo");
  std::string l, model = "unknown CPU";
  while (std::getline(f, l))
    if (l.rfind("model name", 0) == 0) {
      model = l.substr(l.find(':') + 2);
      break;
    }
  return model + " x " + std::to_string(std::thread::hardware_concurrency()) + " threads";
}

}  // namespace sable::bench
