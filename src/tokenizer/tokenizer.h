// Tokenizer: a Hugging Face tokenizer.json (byte-level BPE with added tokens,
// the normalizers and pre-tokenizers that DeepSeek-V3 and Qwen3 use, the
// ByteLevel decoder) plus tokenizer_config.json (BOS/EOS, add_bos_token, the
// chat template). Encoding and decoding match the `tokenizers` library byte
// for byte; chat templates render as jinja2 renders them in transformers.
//
// Thread-safety: every const method may be called from many threads at once
// (the word cache is per thread). set_chat_template is not synchronized: call
// it before sharing the tokenizer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/pre_tokenizer.h"

namespace sable {

class ChatTemplate;

class Tokenizer {
 public:
  // Loads tokenizer.json and (if present) tokenizer_config.json from dir.
  static Result<std::shared_ptr<Tokenizer>> load(const std::string& dir);
  // From the parsed files; config may be null.
  static Result<std::shared_ptr<Tokenizer>> from_json(const nlohmann::json& tokenizer,
                                                      const nlohmann::json& config);
  ~Tokenizer();

  // Text -> ids. Ill-formed UTF-8 is first repaired the way Python's
  // bytes.decode("utf-8", "replace") does (each bad subpart becomes U+FFFD).
  // add_special_tokens prepends BOS (appends EOS) when tokenizer_config says
  // add_bos_token (add_eos_token).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const;
  // Ids -> text; unknown ids are skipped, broken UTF-8 becomes U+FFFD.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;
  // The raw bytes of ids (no UTF-8 repair): what streaming decoders join.
  void append_bytes(int32_t id, bool skip_special_tokens, std::string& out) const;

  int64_t vocab_size() const;  // largest id + 1 (including added tokens)
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  std::optional<int32_t> bos_id() const { return bos_id_; }
  std::optional<int32_t> eos_id() const { return eos_id_; }
  const std::string& bos_token() const { return bos_token_; }
  const std::string& eos_token() const { return eos_token_; }
  bool is_special(int32_t id) const;
  const std::vector<AddedToken>& added_tokens() const { return added_; }

  bool has_chat_template() const;
  // Renders the chat template with messages, add_generation_prompt and extra
  // variables (tools, documents, any chat_template_kwargs), plus the special
  // tokens (bos_token, eos_token, ...) as transformers passes them. Messages
  // are passed as given (a null content stays None). Use the ordered_json
  // overload when key order matters to the output (tools | tojson).
  Result<std::string> apply_chat_template(const nlohmann::json& messages, bool add_generation_prompt,
                                          const nlohmann::json& extra_vars = nlohmann::json::object()) const;
  Result<std::string> apply_chat_template(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                          const nlohmann::ordered_json& extra_vars) const;
  // The same with another template (a request's own), this tokenizer's special tokens.
  Result<std::string> apply_chat_template(const ChatTemplate& tmpl, const nlohmann::json& messages,
                                          bool add_generation_prompt, const nlohmann::json& extra_vars) const;
  void set_chat_template(std::string tmpl);  // --chat-template FILE overrides
  // A named template from tokenizer_config's list form ("tool_use", ...).
  Result<std::string> named_chat_template(const std::string& name) const;

 private:
  Tokenizer() = default;
  void encode_plain(std::string_view text, std::vector<int32_t>& out) const;
  void encode_normalized(std::string_view text, std::vector<int32_t>& out) const;

  BpeModel model_;
  PreTokenizer pre_tokenizer_;
  bool nfc_ = false;  // the normalizer (Sequence of) NFC, or none
  std::vector<AddedToken> added_;
  AddedTokenMatcher raw_matcher_;   // tokens with normalized=false: matched in the input
  AddedTokenMatcher norm_matcher_;  // tokens with normalized=true: matched after normalizing
  std::vector<int32_t> added_index_;  // id -> index in added_, or -1
  std::vector<std::string> id_bytes_;  // what the ByteLevel decoder makes of each id
  int64_t vocab_size_ = 0;

  std::optional<int32_t> bos_id_, eos_id_;
  std::string bos_token_, eos_token_;
  nlohmann::ordered_json special_vars_ = nlohmann::ordered_json::object();  // bos_token, eos_token, ...
  bool add_bos_ = false, add_eos_ = false;
  std::shared_ptr<ChatTemplate> chat_template_;
  std::vector<std::pair<std::string, std::string>> named_templates_;
};

}  // namespace sable
