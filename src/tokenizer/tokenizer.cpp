#include "tokenizer/tokenizer.h"

#include <fstream>
#include <sstream>

#include "tokenizer/byte_level.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/unicode_nfc.h"
#include "tokenizer/utf8.h"

namespace sable {
namespace {

Result<nlohmann::json> read_json(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(path + ": " + e.what());
  }
}

// Normalizers: only NFC (alone or in a Sequence) and the empty Sequence,
// which is what byte-level BPE tokenizers ship.
Status parse_normalizer(const nlohmann::json& j, bool* nfc) {
  if (j.is_null()) return Status::ok();
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    for (const auto& n : j.at("normalizers")) SABLE_RETURN_IF_ERROR(parse_normalizer(n, nfc));
    return Status::ok();
  }
  if (type == "NFC") {
    *nfc = true;
    return Status::ok();
  }
  return unimplemented("normalizer type '" + type + "' is not supported");
}

Status check_decoder(const nlohmann::json& j) {
  const std::string type = j.is_null() ? "" : j.value("type", "");
  if (type == "ByteLevel") return Status::ok();
  if (type == "Sequence") {
    for (const auto& d : j.at("decoders")) SABLE_RETURN_IF_ERROR(check_decoder(d));
    return Status::ok();
  }
  return unimplemented("decoder type '" + (type.empty() ? std::string("none") : type) +
                       "' is not supported (only ByteLevel)");
}

// A special token in tokenizer_config: a string, {"content": ...}, or null.
std::optional<std::string> token_string(const nlohmann::json& config, const char* key) {
  if (!config.is_object() || !config.contains(key)) return std::nullopt;
  const auto& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

Tokenizer::~Tokenizer() = default;

Result<std::shared_ptr<Tokenizer>> Tokenizer::load(const std::string& dir) {
  SABLE_ASSIGN_OR_RETURN(auto tok_json, read_json(dir + "/tokenizer.json"));
  nlohmann::json config;
  const std::string config_path = dir + "/tokenizer_config.json";
  if (std::ifstream(config_path).good()) {
    SABLE_ASSIGN_OR_RETURN(config, read_json(config_path));
  }
  auto r = from_json(tok_json, config);
  if (!r.is_ok()) return r.status().with_context("loading tokenizer from " + dir);
  return r;
}

Result<std::shared_ptr<Tokenizer>> Tokenizer::from_json(const nlohmann::json& tj, const nlohmann::json& config) {
  std::shared_ptr<Tokenizer> t(new Tokenizer());
  try {
    SABLE_ASSIGN_OR_RETURN(t->model_, BpeModel::from_json(tj.at("model")));
    SABLE_RETURN_IF_ERROR(parse_normalizer(tj.value("normalizer", nlohmann::json()), &t->nfc_));
    SABLE_ASSIGN_OR_RETURN(t->pre_tokenizer_, PreTokenizer::from_json(tj.value("pre_tokenizer", nlohmann::json())));
    SABLE_RETURN_IF_ERROR(check_decoder(tj.value("decoder", nlohmann::json())));
    if (tj.contains("added_tokens")) {
      for (const auto& a : tj["added_tokens"]) {
        AddedToken at;
        at.id = a.at("id").get<int32_t>();
        if (at.id < 0 || at.id > INT32_MAX / 2) return invalid_argument("added token id out of range");
        at.content = a.at("content").get<std::string>();
        at.single_word = a.value("single_word", false);
        at.lstrip = a.value("lstrip", false);
        at.rstrip = a.value("rstrip", false);
        at.normalized = a.value("normalized", true);
        at.special = a.value("special", false);
        t->added_.push_back(std::move(at));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(std::string("tokenizer.json: ") + e.what());
  }

  // Matchers (pointers into added_, which no longer changes).
  std::vector<const AddedToken*> raw, norm;
  std::vector<AddedToken> normalized_copies;  // contents as the normalizer leaves them
  int64_t max_id = t->model_.size() - 1;
  for (const auto& a : t->added_) {
    (a.normalized ? norm : raw).push_back(&a);
    max_id = std::max<int64_t>(max_id, a.id);
  }
  if (t->nfc_)
    for (auto& a : t->added_)
      if (a.normalized) a.content = nfc_normalize(a.content);
  t->raw_matcher_.build(raw);
  t->norm_matcher_.build(norm);
  t->vocab_size_ = max_id + 1;
  t->added_index_.assign(static_cast<size_t>(t->vocab_size_), -1);
  for (size_t i = 0; i < t->added_.size(); ++i) t->added_index_[t->added_[i].id] = static_cast<int32_t>(i);

  // What the ByteLevel decoder turns each id into: a vocabulary string maps
  // back to bytes; a string with characters outside the byte map (added
  // tokens such as "<｜User｜>") stays as its own UTF-8.
  t->id_bytes_.resize(static_cast<size_t>(t->vocab_size_));
  for (int64_t id = 0; id < t->vocab_size_; ++id) {
    const int32_t ai = t->added_index_[id];
    const std::string& s = ai >= 0 ? t->added_[ai].content : t->model_.id_to_token(static_cast<int32_t>(id));
    std::string bytes;
    t->id_bytes_[id] = byte_level_to_bytes(s, &bytes) ? bytes : s;
  }

  // tokenizer_config.json
  if (config.is_object()) {
    t->add_bos_ = config.value("add_bos_token", false);
    t->add_eos_ = config.value("add_eos_token", false);
    for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"})
      if (auto s = token_string(config, key)) t->special_vars_[key] = *s;
    if (auto s = token_string(config, "bos_token")) {
      t->bos_token_ = *s;
      t->bos_id_ = t->token_to_id(*s);
    }
    if (auto s = token_string(config, "eos_token")) {
      t->eos_token_ = *s;
      t->eos_id_ = t->token_to_id(*s);
    }
    if (config.contains("chat_template")) {
      const auto& ct = config["chat_template"];
      std::string chosen;
      if (ct.is_string()) {
        chosen = ct.get<std::string>();
      } else if (ct.is_array()) {
        // The list form: [{"name": "default", "template": ...}, ...].
        for (const auto& e : ct) {
          if (!e.is_object() || !e.contains("name") || !e.contains("template")) continue;
          t->named_templates_.emplace_back(e["name"].get<std::string>(), e["template"].get<std::string>());
          if (e["name"] == "default") chosen = e["template"].get<std::string>();
        }
      }
      if (!chosen.empty()) t->set_chat_template(std::move(chosen));
    }
  }
  return t;
}

void Tokenizer::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  thread_local std::vector<Piece> pieces;
  pre_tokenizer_.run(text, pieces);
  for (const Piece& p : pieces)
    model_.encode_word(text.substr(p.begin, p.end - p.begin), p.prefix_space, out);
}

void Tokenizer::encode_normalized(std::string_view text, std::vector<int32_t>& out) const {
  std::string normalized;
  if (nfc_ && nfc_may_change(text)) {
    normalized = nfc_normalize(text);
    text = normalized;
  }
  if (norm_matcher_.empty()) {
    encode_plain(text, out);
    return;
  }
  std::vector<TextSegment> segs;
  norm_matcher_.split(text, segs);
  for (const auto& s : segs) {
    if (s.id >= 0) out.push_back(s.id);
    else encode_plain(text.substr(s.begin, s.end - s.begin), out);
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special_tokens && add_bos_ && bos_id_) out.push_back(*bos_id_);
  std::string repaired;
  if (!utf8_valid(text)) {
    repaired = utf8_lossy(text);
    text = repaired;
  }
  if (raw_matcher_.empty()) {
    encode_normalized(text, out);
  } else {
    std::vector<TextSegment> segs;
    raw_matcher_.split(text, segs);
    for (const auto& s : segs) {
      if (s.id >= 0) out.push_back(s.id);
      else encode_normalized(text.substr(s.begin, s.end - s.begin), out);
    }
  }
  if (add_special_tokens && add_eos_ && eos_id_) out.push_back(*eos_id_);
  return out;
}

void Tokenizer::append_bytes(int32_t id, bool skip_special_tokens, std::string& out) const {
  if (id < 0 || id >= vocab_size_) return;
  if (skip_special_tokens && is_special(id)) return;
  out += id_bytes_[id];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) append_bytes(id, skip_special_tokens, bytes);
  return utf8_lossy(bytes);
}

int64_t Tokenizer::vocab_size() const { return vocab_size_; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  for (const auto& a : added_)
    if (a.content == token) return a.id;
  return model_.token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || id >= vocab_size_) return std::nullopt;
  if (added_index_[id] >= 0) return added_[added_index_[id]].content;
  const std::string& s = model_.id_to_token(id);
  if (s.empty()) return std::nullopt;
  return s;
}

bool Tokenizer::is_special(int32_t id) const {
  if (id < 0 || id >= vocab_size_) return false;
  const int32_t ai = added_index_[id];
  return ai >= 0 && added_[ai].special;
}

bool Tokenizer::has_chat_template() const { return chat_template_ != nullptr; }

void Tokenizer::set_chat_template(std::string tmpl) {
  chat_template_ = std::make_shared<ChatTemplate>(std::move(tmpl));
}

Result<std::string> Tokenizer::named_chat_template(const std::string& name) const {
  for (const auto& [n, t] : named_templates_)
    if (n == name) return t;
  return not_found("no chat template named '" + name + "'");
}

Result<std::string> Tokenizer::apply_chat_template(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                                   const nlohmann::ordered_json& extra_vars) const {
  if (!chat_template_)
    return failed_precondition("this tokenizer has no chat template (pass --chat-template FILE)");
  return chat_template_->render(messages, add_generation_prompt, extra_vars, special_vars_);
}

Result<std::string> Tokenizer::apply_chat_template(const ChatTemplate& tmpl, const nlohmann::json& messages,
                                                   bool add_generation_prompt, const nlohmann::json& extra_vars) const {
  return tmpl.render(nlohmann::ordered_json(messages), add_generation_prompt, nlohmann::ordered_json(extra_vars),
                     special_vars_);
}

Result<std::string> Tokenizer::apply_chat_template(const nlohmann::json& messages, bool add_generation_prompt,
                                                   const nlohmann::json& extra_vars) const {
  return apply_chat_template(nlohmann::ordered_json(messages), add_generation_prompt,
                             nlohmann::ordered_json(extra_vars));
}

}  // namespace sable
