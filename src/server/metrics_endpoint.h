// GET /metrics: Prometheus text format (0.0.4) under vLLM's metric names with
// a model_name label, so the dashboards, alerts and autoscalers written for
// vLLM keep working unchanged.
#pragma once

#include <string>

#include "engine/metrics.h"

namespace sable::server {

struct ProcessStats {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double start_time = 0;  // unix seconds
};
// This process's figures from /proc (zeros where unavailable).
ProcessStats read_process_stats(double start_time);

// The whole exposition. metrics may be null (gauges only).
std::string render_prometheus(const std::string& model_name, const EngineGauges& gauges,
                              const EngineMetrics* metrics, const ProcessStats* process);

// A float as Prometheus' Python client prints it ("1.0", "0.005", "+Inf").
std::string prom_number(double v);
// A label value with \\, \" and \n escaped.
std::string prom_label_value(const std::string& v);

}  // namespace sable::server
