#include "tokenizer/tokenize_request.h"

namespace sable {
namespace {

nlohmann::ordered_json error(const std::string& msg) { return {{"error", msg}}; }

nlohmann::ordered_json ids_json(const std::vector<int32_t>& ids) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (int32_t id : ids) a.push_back(id);
  return a;
}

}  // namespace

nlohmann::ordered_json handle_tokenize_request(const Tokenizer& tok, const nlohmann::ordered_json& req) {
  if (!req.is_object()) return error("a request must be a JSON object");
  const bool has_text = req.contains("text"), has_ids = req.contains("ids"), has_msgs = req.contains("messages");
  if (has_text + has_ids + has_msgs != 1) return error("a request needs exactly one of \"text\", \"ids\", \"messages\"");
  auto flag = [&](const char* key, bool dflt, bool* out) -> bool {
    if (!req.contains(key)) {
      *out = dflt;
      return true;
    }
    if (!req[key].is_boolean()) return false;
    *out = req[key].get<bool>();
    return true;
  };
  if (has_text) {
    if (!req["text"].is_string()) return error("\"text\" must be a string");
    bool add = false;
    if (!flag("add_special_tokens", false, &add)) return error("\"add_special_tokens\" must be a boolean");
    return {{"ids", ids_json(tok.encode(req["text"].get_ref<const std::string&>(), add))}};
  }
  if (has_ids) {
    const auto& a = req["ids"];
    if (!a.is_array()) return error("\"ids\" must be an array of integers");
    std::vector<int32_t> ids;
    ids.reserve(a.size());
    for (const auto& x : a) {
      if (!x.is_number_integer()) return error("\"ids\" must be an array of integers");
      const int64_t v = x.get<int64_t>();
      if (v < 0 || v >= tok.vocab_size())
        return error("token id " + std::to_string(v) + " is out of range [0, " + std::to_string(tok.vocab_size()) + ")");
      ids.push_back(static_cast<int32_t>(v));
    }
    bool skip = false;
    if (!flag("skip_special_tokens", false, &skip)) return error("\"skip_special_tokens\" must be a boolean");
    return {{"text", tok.decode(ids, skip)}};
  }
  const auto& msgs = req["messages"];
  if (!msgs.is_array()) return error("\"messages\" must be an array");
  for (const auto& m : msgs)
    if (!m.is_object()) return error("each message must be an object");
  bool agp = false;
  if (!flag("add_generation_prompt", false, &agp)) return error("\"add_generation_prompt\" must be a boolean");
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  for (const char* k : {"tools", "documents"})
    if (req.contains(k)) extra[k] = req[k];
  if (req.contains("chat_template_kwargs")) {
    if (!req["chat_template_kwargs"].is_object()) return error("\"chat_template_kwargs\" must be an object");
    for (auto it = req["chat_template_kwargs"].begin(); it != req["chat_template_kwargs"].end(); ++it)
      extra[it.key()] = it.value();
  }
  auto text = tok.apply_chat_template(msgs, agp, extra);
  if (!text.is_ok()) return error(text.status().message());
  return {{"text", *text}, {"ids", ids_json(tok.encode(*text, false))}};
}

}  // namespace sable
