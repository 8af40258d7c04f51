#include "runner/host_memory.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <vector>

#include "model/tensor_specs.h"
#include "runner/memory_planner.h"

namespace sable {

namespace {

std::string gb(int64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GB", double(b) / 1e9);
  return buf;
}

// The first line of a file, or "" when it cannot be read.
std::string first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (!f || !std::getline(f, line)) return "";
  return line;
}

// A byte count from a cgroup file: -1 when absent, unreadable or unlimited
// ("max" in v2; v1 writes a huge number, page-rounded LONG_MAX).
int64_t cgroup_bytes(const std::string& path) {
  const std::string s = first_line(path);
  if (s.empty() || s == "max") return -1;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (end == s.c_str() || v >= (1ull << 62)) return -1;
  return int64_t(v);
}

// The value of `key` in a "key value" file (memory.stat), 0 when absent.
int64_t stat_value(const std::string& path, const std::string& key) {
  std::ifstream f(path);
  std::string k;
  long long v = 0;
  while (f >> k >> v)
    if (k == key) return v;
  return 0;
}

struct CgroupDir {
  std::string dir;                         // the cgroup's directory
  std::string limit, usage, inactive_key;  // file names and the memory.stat key of reclaimable page cache
};

// The memory cgroup of this process and its parents, innermost first.
std::vector<CgroupDir> memory_cgroups(const std::string& root) {
  std::vector<CgroupDir> dirs;
  std::ifstream f(root + "/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line)) {
    // hierarchy-ID:controllers:path; v2 has ID 0 and no controllers.
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    std::string mount, limit, usage, inactive;
    if (controllers.empty()) {
      mount = root + "/sys/fs/cgroup";
      limit = "memory.max";
      usage = "memory.current";
      inactive = "inactive_file";
    } else if (("," + controllers + ",").find(",memory,") != std::string::npos) {
      mount = root + "/sys/fs/cgroup/memory";
      limit = "memory.limit_in_bytes";
      usage = "memory.usage_in_bytes";
      inactive = "total_inactive_file";
    } else {
      continue;
    }
    // Inside a container the path may name the host's hierarchy, which the
    // container's mount does not show: its own cgroup is then the mount's root.
    std::ifstream probe(mount + path + "/" + limit);
    if (!probe) path = "/";
    while (true) {
      dirs.push_back({mount + (path == "/" ? "" : path), limit, usage, inactive});
      if (path == "/" || path.empty()) break;
      const size_t slash = path.rfind('/');
      path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
    }
  }
  return dirs;
}

}  // namespace

HostMemory probe_host_memory(const std::string& root) {
  HostMemory h;
  {
    std::ifstream f(root + "/proc/meminfo");
    std::string key;
    long long kb = 0;
    std::string unit;
    while (f >> key >> kb) {
      std::getline(f, unit);
      if (key == "MemAvailable:") {
        h.available = int64_t(kb) * 1024;
        h.source = "MemAvailable in /proc/meminfo";
        break;
      }
    }
  }
  for (const CgroupDir& c : memory_cgroups(root)) {
    const int64_t limit = cgroup_bytes(c.dir + "/" + c.limit);
    if (limit < 0) continue;
    // Usage counts the page cache too; its inactive part is reclaimed before
    // the limit is enforced (Kubernetes' working set leaves it out as well).
    const int64_t usage = std::max<int64_t>(0, std::max<int64_t>(0, cgroup_bytes(c.dir + "/" + c.usage)) -
                                                   stat_value(c.dir + "/memory.stat", c.inactive_key));
    const int64_t avail = std::max<int64_t>(0, limit - usage);
    if (h.available < 0 || avail < h.available) {
      h.available = avail;
      h.source = "the container's memory limit of " + gb(limit) + " (cgroup " + c.limit + ") less the " + gb(usage) +
                 " in use";
    }
  }
  return h;
}

bool host_memory_check_enabled() {
  const char* e = std::getenv("SABLE_HOST_MEMORY_CHECK");
  return !(e && std::strcmp(e, "0") == 0);
}

namespace {

// The most bytes of any one decoder layer, or of any tensor outside the
// layers (the embedding, lm_head), as loaded: what the host holds at once
// while dummy weights go to a GPU layer by layer.
int64_t largest_layer_bytes(const ModelConfig& c, bool quantize_fp8) {
  std::map<std::string, int64_t> per_layer;
  int64_t largest = 0;
  for (const TensorSpec& s : deepseek_v3_tensor_specs(as_loaded(c, quantize_fp8), /*include_mtp=*/false)) {
    const int64_t b = s.shape.numel() * int64_t(dtype_size(s.dtype));
    const std::string prefix = "model.layers.";
    if (s.name.rfind(prefix, 0) == 0) {
      const size_t dot = s.name.find('.', prefix.size());
      largest = std::max(largest, per_layer[s.name.substr(0, dot)] += b);
    } else {
      largest = std::max(largest, b);
    }
  }
  return largest;
}

bool has(const std::string& name, const char* part) { return name.find(part) != std::string::npos; }

// What the CPU backend holds of a checkpoint in process memory (the rest are
// views of its mmapped files; model/deepseek_v3_weights.cpp):
// - kv_b_proj, split into per-head W_UK / W_UV and kept whole too: two
//   copies, BF16 (F32 from an FP8 checkpoint);
// - under --quantization fp8, the FP8 linear weights and their scales;
// - else q_a_proj and kv_a_proj stacked into one matrix, and under tensor
//   parallelism the column parts (o_proj and the down projections; routed
//   experts' only when split, not placed whole).
int64_t checkpoint_copy_bytes(const ModelConfig& c, bool quantizes, int tp, bool expert_parallel) {
  int64_t total = 0;
  const int64_t kv_b = int64_t(c.num_attention_heads) * (c.qk_nope_head_dim + c.v_head_dim) * c.kv_lora_rank;
  total += int64_t(c.num_hidden_layers) * kv_b * 2 * (c.quantization.is_fp8() ? 4 : 2);
  for (const TensorSpec& s : deepseek_v3_tensor_specs(as_loaded(c, quantizes), /*include_mtp=*/false)) {
    if (has(s.name, "kv_b_proj")) continue;
    const int64_t b = s.shape.numel() * int64_t(dtype_size(s.dtype));
    if (quantizes) {
      if (s.dtype == DType::F8_E4M3 || s.role == TensorRole::kScale) total += b;
    } else if (has(s.name, "q_a_proj.") || has(s.name, "kv_a_proj_with_mqa.")) {
      total += b;
    } else if (tp > 1 && (has(s.name, "o_proj.") || has(s.name, "down_proj.")) &&
               !(expert_parallel && has(s.name, ".experts."))) {
      total += b;
    }
  }
  return total;
}

}  // namespace

HostMemoryPlan plan_host_memory(const HostMemoryPlanInput& in, const HostMemory& host) {
  HostMemoryPlan p;
  p.host = host;
  const ModelConfig& c = in.config;
  const int tp = std::max(1, in.tensor_parallel_size);
  const bool quantizes = in.quantize_fp8 && !c.quantization.is_fp8();
  std::string what;
  if (in.weights_on_host) {
    if (in.dummy_weights) {
      // Every rank's part (the replicated tensors once per rank).
      p.weights = tp == 1 ? weight_bytes(c, in.quantize_fp8) : weight_bytes(c, in.quantize_fp8, tp) * tp;
      what = "dummy weights on the CPU backend are all held in memory";
    } else {
      p.weights = checkpoint_copy_bytes(c, quantizes, tp, in.expert_parallel);
      what = quantizes ? "--quantization fp8 on the CPU backend holds the FP8 copies of the linear weights in memory"
                       : "the checkpoint's files are memory-mapped (read as needed, not held) but for a few copies";
    }
    p.kv = in.kv_cache_bytes;
  } else if (in.dummy_weights) {
    p.weights = largest_layer_bytes(c, in.quantize_fp8);
    what = "dummy weights for a GPU are made on the host one layer at a time";
  }
  p.allowance = kHostMemoryAllowance;
  p.needed = p.weights + p.kv + p.allowance;
  p.fits = host.available < 0 || p.needed <= host.available;
  if (p.fits && in.weights_on_host && !in.dummy_weights && host.available >= 0 &&
      p.needed + in.checkpoint_file_bytes > host.available)
    p.warning = "the checkpoint's files (" + gb(in.checkpoint_file_bytes) + ") do not fit in the memory left beside " +
                "the load (" + gb(host.available - p.needed) + " of " + gb(host.available) + " available, " +
                host.source + "): the page cache cannot keep them, so every step reads weights from disk again and " +
                "runs at the disk's speed. A machine with more memory, --quantization fp8 of a BF16 checkpoint, or " +
                "--device cuda keeps them in memory";
  if (p.fits) return p;

  std::string a =
      "not enough host memory to load this model: it needs " + gb(p.needed) + " (" + gb(p.weights) + " of weights";
  if (p.kv > 0) a += ", a " + gb(p.kv) + " KV cache";
  a += " and " + gb(p.allowance) + " for activations and the process), but " + gb(host.available) + " is available (" +
       host.source + "); " + what + ". Loading would end in the kernel's out-of-memory killer. " + "What would fit:";
  std::vector<std::string> ways;
  if (!in.quantize_fp8 && !c.quantization.is_fp8()) {
    HostMemoryPlanInput q = in;
    q.quantize_fp8 = true;
    const HostMemoryPlan qp = plan_host_memory(q, HostMemory{});
    // Only where it holds less (of a checkpoint on the CPU it holds more: copies of mmapped weights).
    if (qp.weights < p.weights)
      ways.push_back("--quantization fp8 (" + gb(qp.weights) + " of weights" +
                     (qp.needed <= host.available ? ", which fits" : ", still too much") + ")");
  }
  // A smaller KV cache only where the rest fits.
  if (in.weights_on_host && p.kv > (int64_t(256) << 20) && p.needed - p.kv + (int64_t(256) << 20) <= host.available)
    ways.push_back("a smaller --kv-cache-memory (now " + gb(p.kv) + ")");
  if (in.dummy_weights)
    ways.push_back("a checkpoint directory instead of --load-format dummy (its files are memory-mapped, not held)");
  if (in.weights_on_host) ways.push_back("--device cuda on a machine with enough GPU memory");
  ways.push_back("a machine or container with more memory");
  for (size_t i = 0; i < ways.size(); ++i) a += (i ? "; " : " ") + ways[i];
  a += ". Set SABLE_HOST_MEMORY_CHECK=0 to load anyway.";
  p.advice = a;
  return p;
}

std::string HostMemoryPlan::to_string() const {
  std::string s = "host memory: " + gb(needed) + " needed (" + gb(weights) + " weights held, " + gb(kv) + " KV, " +
                  gb(allowance) + " allowance), ";
  s += host.available < 0 ? std::string("available unknown") : gb(host.available) + " available (" + host.source + ")";
  return s;
}

}  // namespace sable
