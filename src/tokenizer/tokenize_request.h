// One tokenize request, as `sable tokenize` reads it from a JSON line and the
// server's /tokenize and chat paths receive it:
//   {"text": "..."}                      -> {"ids": [...]}
//   {"ids": [...]}                       -> {"text": "..."}
//   {"messages": [...], "add_generation_prompt": bool,
//    "tools": [...], "documents": [...], "chat_template_kwargs": {...}}
//                                        -> {"text": "...", "ids": [...]}
// Optional: "add_special_tokens" (text), "skip_special_tokens" (ids).
// A bad request yields {"error": "..."}.
#pragma once

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace sable {

nlohmann::ordered_json handle_tokenize_request(const Tokenizer& tok, const nlohmann::ordered_json& req);

}  // namespace sable
