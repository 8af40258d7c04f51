// vLLM serve flags that Sable has no setting for, so that a `vllm serve`
// command line (or a Helm values file written for vLLM) moves over without
// an "argument was not expected" error and without a silent change:
//  - a flag that only tunes how vLLM runs (swap space, torch.compile, its
//    process layout, its scheduler's knobs, telemetry) and cannot change what
//    a client receives is accepted, with a warning naming it and why it has
//    no effect here;
//  - a flag that would change what clients get or how the server is reached
//    (TLS, a URL prefix, CORS limits, LoRA, CPU offload, generation
//    overrides, ...) is an error that says what to do instead.
// vLLM's other flags are Sable's own flags (cmd_serve.cpp). vLLM also takes
// every flag with underscores (--max_model_len); normalize_vllm_flag_name
// maps those to the dashed name.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace sable {

class VllmOnlyFlags {
 public:
  // Adds every such flag to `app`, out of --help (docs/server.md lists them).
  void add_to(CLI::App& app);
  // After parsing: the error for the first refused flag given, else OK with
  // one warning line per no-effect flag given.
  Status check(std::vector<std::string>* warnings) const;

 private:
  struct Given {  // what the command line gave a flag
    std::vector<std::string> values;
    int count = 0;
  };
  std::vector<Given> given_;  // one per flag of the table, in its order
};

// "--max_model_len=8" -> "--max-model-len=8"; anything not starting with
// "--" (values, short flags) unchanged.
std::string normalize_vllm_flag_name(const std::string& arg);

}  // namespace sable
