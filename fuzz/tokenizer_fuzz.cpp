// libFuzzer target: encode, decode and streaming decode on arbitrary bytes.
// Checks, besides memory safety (ASan/UBSan):
//   - decode(encode(s)) == s for well-formed s (byte-level BPE is lossless;
//     Qwen3's NFC normalizer makes it NFC(s), so only DeepSeek-V3 is checked),
//   - ids are in range,
//   - IncrementalDecoder deltas + flush() == decode(ids) when no stop hits,
//     and no delta ever ends inside a UTF-8 character.
// The first input byte picks the tokenizer and the mode.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "tokenizer/incremental_decoder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

std::shared_ptr<sable::Tokenizer> load(const char* name) {
  const char* root = std::getenv("SABLE_ROOT");
  const std::string dir = std::string(root ? root : SABLE_SOURCE_DIR) + "/assets/tokenizers/" + name;
  auto t = sable::Tokenizer::load(dir);
  if (!t.is_ok()) {
    std::fprintf(stderr, "%s\n", t.status().to_string().c_str());
    std::abort();
  }
  return *t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto dsv3 = load("deepseek-v3");
  static auto qwen = load("qwen3");
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const auto& tok = (mode & 1) ? qwen : dsv3;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  if ((mode & 6) == 0) {  // encode (any bytes) and round trip
    const auto ids = tok->encode(input, (mode & 8) != 0);
    for (int32_t id : ids)
      if (id < 0 || id >= tok->vocab_size()) std::abort();
    const std::string text = tok->decode(ids);
    if (!(mode & 1) && !(mode & 8) && text != sable::utf8_lossy(input)) std::abort();
    return 0;
  }
  // Otherwise the bytes are ids (2 bytes each); a few stop strings come from the mode.
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < input.size(); i += 2) {
    const uint16_t raw = static_cast<uint16_t>(static_cast<uint8_t>(input[i]) | static_cast<uint8_t>(input[i + 1]) << 8);
    // Spread 16 bits over the whole vocab (and a little past it).
    ids.push_back(static_cast<int32_t>((static_cast<int64_t>(raw) * (tok->vocab_size() + 16)) >> 16));
  }
  const bool skip = (mode & 16) != 0;
  const std::string full = tok->decode(ids, skip);
  std::vector<std::string> stops;
  if (mode & 32) stops = {"\n\n", "</s>", " the", "ó"};
  sable::IncrementalDecoder dec(tok, skip, stops, (mode & 64) != 0);
  std::string streamed;
  bool stopped = false;
  for (int32_t id : ids) {
    auto step = dec.push(id);
    if (!sable::utf8_valid(step.delta)) std::abort();
    streamed += step.delta;
    if (step.stopped) {
      stopped = true;
      break;
    }
  }
  if (!stopped) {
    streamed += dec.flush();
    if (streamed != full) std::abort();
  } else if (full.find(streamed.substr(0, streamed.size() / 2)) != 0) {
    std::abort();  // what was streamed must be a prefix of the full text (up to the stop)
  }
  if (streamed != dec.text()) std::abort();
  return 0;
}
