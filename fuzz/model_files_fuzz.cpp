// libFuzzer target for the model-file parsers: safetensors headers (the
// first byte 0) and config.json (otherwise). Neither may crash, hang or leak
// on any input; every rejection is a Status.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "model/config.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] == 0) {
    // The reader maps a file: give it one in memory.
    int fd = memfd_create("fuzz.safetensors", 0);
    if (fd < 0) return 0;
    if (write(fd, data + 1, size - 1) != ssize_t(size - 1)) {
      close(fd);
      return 0;
    }
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    auto f = sable::SafetensorsFile::open(path);
    if (f.is_ok()) {
      // Touch every tensor's bytes: views must stay inside the mapping.
      volatile uint8_t sink = 0;
      for (const auto& e : (*f)->entries()) {
        sable::Tensor t = (*f)->tensor(e);
        const auto* p = static_cast<const uint8_t*>(t.data());
        for (size_t i = 0; i < t.nbytes(); i += 4096) sink ^= p[i];
        if (t.nbytes()) sink ^= p[t.nbytes() - 1];
      }
    }
    close(fd);
  } else {
    auto c = sable::parse_model_config(std::string(reinterpret_cast<const char*>(data) + 1, size - 1), "config.json");
    if (c.is_ok()) (void)sable::model_config_to_json(*c);
  }
  return 0;
}
