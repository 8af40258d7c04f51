// A chat template rendered the way transformers' apply_chat_template renders
// it: jinja2 with trim_blocks and lstrip_blocks, the raise_exception,
// strftime_now and namespace globals, the tojson filter with
// ensure_ascii=False, and the variables messages, tools (None unless given),
// documents (None unless given), add_generation_prompt, the special tokens
// (bos_token, eos_token, ...) and any extra keyword variables.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "tokenizer/jinja/interpreter.h"

namespace sable {

class ChatTemplate {
 public:
  // Parses now; a syntax error is reported by every render().
  explicit ChatTemplate(std::string source, jinja::Limits limits = {});
  ~ChatTemplate();

  const std::string& source() const { return source_; }
  // Error (kInvalidArgument) messages say "line L, column C".
  Result<std::string> render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                             const nlohmann::ordered_json& extra_vars,
                             const nlohmann::ordered_json& special_tokens) const;

 private:
  std::string source_;
  jinja::Limits limits_;
  std::unique_ptr<jinja::Template> tmpl_;
  Status parse_error_;
};

}  // namespace sable
