#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pre_tokenizer.h"

#include <pcre2.h>

namespace sable {
namespace {

// GPT-2's pattern, used by ByteLevel when use_regex is true.
const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Per-thread match state: one match data block and a JIT stack big enough for
// long whitespace runs (the default 32 KiB can overflow on `\s+(?!\S)`).
struct MatchState {
  pcre2_match_data* md = nullptr;
  pcre2_jit_stack* stack = nullptr;
  pcre2_match_context* ctx = nullptr;
  MatchState() {
    md = pcre2_match_data_create(8, nullptr);
    stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    ctx = pcre2_match_context_create(nullptr);
    pcre2_jit_stack_assign(ctx, nullptr, stack);
  }
  ~MatchState() {
    pcre2_match_context_free(ctx);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(md);
  }
};

MatchState& match_state() {
  thread_local MatchState s;
  return s;
}

#include "tokenizer/regex_unicode_tables.inc"

const char* class_extra(char prop) {
  for (const auto& e : kClassExtras)
    if (e.name == prop) return e.ranges;
  return nullptr;
}

// Makes a tokenizer.json pattern (written for Oniguruma, which HF tokenizers
// uses) mean the same under PCRE2: \p{L|N|P|S|M} gain the code points that
// Oniguruma's newer Unicode tables assign (regex_unicode_tables.inc, generated
// with Oniguruma as the oracle), and \s / \S use Oniguruma's White_Space set
// (PCRE2 also counts U+180E). Inside a character class the extra ranges go
// just before its "]", after the properties, so common characters still
// match on the first (property) test.
std::string adapt_pattern(const std::string& pat) {
  std::string out;
  bool in_class = false;
  size_t class_start = 0;     // index in pat of the class's first member
  std::string class_extras;  // ranges to add before the class closes
  for (size_t i = 0; i < pat.size(); ++i) {
    const char c = pat[i];
    if (c == '\\' && i + 1 < pat.size()) {
      const char e = pat[i + 1];
      if ((e == 'p' || e == 'P') && i + 4 < pat.size() && pat[i + 2] == '{' && pat[i + 4] == '}' &&
          class_extra(pat[i + 3])) {
        const std::string prop = pat.substr(i, 5);
        const char* extra = class_extra(pat[i + 3]);
        if (in_class) {
          out += prop;
          if (e == 'p') class_extras += extra;  // \P inside a class stays PCRE2's
        } else {
          out += (e == 'p' ? "[\\p{" : "[^\\p{") + std::string(1, pat[i + 3]) + "}" + extra + "]";
        }
        i += 4;
        continue;
      }
      if (e == 's' || (e == 'S' && !in_class)) {
        if (in_class) out += kWhiteSpaceClass;
        else out += (e == 's' ? "[" : "[^") + std::string(kWhiteSpaceClass) + "]";
        ++i;
        continue;
      }
      out += c;
      out += e;
      ++i;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      class_start = i + 1;
      if (class_start < pat.size() && pat[class_start] == '^') {
        out += '^';
        ++i;
        ++class_start;
      }
      continue;
    }
    if (in_class && c == '[' && i + 1 < pat.size() && pat[i + 1] == ':') {  // [:alpha:]
      const size_t end = pat.find(":]", i + 2);
      if (end != std::string::npos) {
        out.append(pat, i, end + 2 - i);
        i = end + 1;
        continue;
      }
    }
    if (in_class && c == ']' && i != class_start) {
      out += class_extras;
      class_extras.clear();
      in_class = false;
    }
    out += c;
  }
  return out;
}

Result<SplitBehavior> parse_behavior(const std::string& b) {
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  return invalid_argument("unknown Split behavior '" + b + "'");
}

}  // namespace

Result<std::shared_ptr<Regex>> Regex::compile(const std::string& pattern, bool literal) {
  int err = 0;
  PCRE2_SIZE off = 0;
  uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK;
  if (literal) opts |= PCRE2_LITERAL;
  const std::string pat = literal ? pattern : adapt_pattern(pattern);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pat.data()), pat.size(), opts,
                                   &err, &off, nullptr);
  if (!code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof(buf));
    return invalid_argument("bad regex at offset " + std::to_string(off) + ": " +
                            reinterpret_cast<const char*>(buf));
  }
  std::shared_ptr<Regex> r(new Regex());
  r->code_ = code;
  r->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return r;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

bool Regex::find(std::string_view subject, size_t start, size_t* mbegin, size_t* mend) const {
  MatchState& ms = match_state();
  auto* code = static_cast<pcre2_code*>(code_);
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  // Input is well-formed UTF-8 (the tokenizer makes it so), hence NO_UTF_CHECK.
  const int rc = jit_ ? pcre2_jit_match(code, s, subject.size(), start, PCRE2_NO_UTF_CHECK, ms.md, ms.ctx)
                      : pcre2_match(code, s, subject.size(), start, PCRE2_NO_UTF_CHECK, ms.md, ms.ctx);
  if (rc < 0) return false;  // no match, or a resource limit: the rest is unmatched text
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(ms.md);
  *mbegin = ov[0];
  *mend = ov[1];
  return true;
}

Status PreTokenizer::add_steps(const nlohmann::json& j, std::vector<Step>& steps) {
  if (j.is_null()) return Status::ok();
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    for (const auto& p : j.at("pretokenizers")) SABLE_RETURN_IF_ERROR(add_steps(p, steps));
    return Status::ok();
  }
  if (type == "Split") {
    Step s;
    s.kind = Step::Kind::kSplit;
    const auto& pat = j.at("pattern");
    const bool literal = pat.contains("String");
    const std::string text = literal ? pat.at("String").get<std::string>() : pat.at("Regex").get<std::string>();
    SABLE_ASSIGN_OR_RETURN(s.regex, Regex::compile(text, literal));
    SABLE_ASSIGN_OR_RETURN(s.behavior, parse_behavior(j.value("behavior", "Isolated")));
    s.invert = j.value("invert", false);
    steps.push_back(std::move(s));
    return Status::ok();
  }
  if (type == "ByteLevel") {
    Step s;
    s.kind = Step::Kind::kByteLevel;
    s.add_prefix_space = j.value("add_prefix_space", false);
    if (j.value("use_regex", true)) {
      SABLE_ASSIGN_OR_RETURN(s.regex, Regex::compile(kGpt2Pattern, false));
    }
    steps.push_back(std::move(s));
    return Status::ok();
  }
  return unimplemented("pre-tokenizer type '" + type + "' is not supported");
}

Result<PreTokenizer> PreTokenizer::from_json(const nlohmann::json& j) {
  PreTokenizer p;
  try {
    SABLE_RETURN_IF_ERROR(add_steps(j, p.steps_));
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(std::string("pre_tokenizer: ") + e.what());
  }
  return p;
}

void PreTokenizer::split(const Step& s, std::string_view text, const std::vector<Piece>& in,
                         std::vector<Piece>& out) const {
  struct Part {
    uint32_t b, e;
    bool match;
  };
  std::vector<Part> parts;
  for (const Piece& p : in) {
    if (p.prefix_space) {
      // Only ByteLevel sets prefix_space, and it is the last step in practice;
      // a later Split would have to see the space, which byte ranges cannot
      // express, so such a piece passes through whole.
      out.push_back(p);
      continue;
    }
    const std::string_view sub = text.substr(p.begin, p.end - p.begin);
    parts.clear();
    size_t prev = 0, pos = 0, mb, me;
    while (pos <= sub.size() && s.regex->find(sub, pos, &mb, &me)) {
      if (mb != prev) parts.push_back({uint32_t(p.begin + prev), uint32_t(p.begin + mb), false});
      parts.push_back({uint32_t(p.begin + mb), uint32_t(p.begin + me), true});
      prev = me;
      if (me == mb) {  // empty match: step over one character
        if (me >= sub.size()) break;
        pos = me + 1;
        while (pos < sub.size() && (static_cast<uint8_t>(sub[pos]) & 0xC0) == 0x80) ++pos;
      } else {
        pos = me;
      }
    }
    if (prev != sub.size()) parts.push_back({uint32_t(p.begin + prev), p.end, false});
    if (s.invert)
      for (auto& x : parts) x.match = !x.match;

    // Apply the behavior (mirrors tokenizers' SplitDelimiterBehavior).
    std::vector<Part> merged;
    switch (s.behavior) {
      case SplitBehavior::kIsolated:
        merged = parts;
        break;
      case SplitBehavior::kRemoved:
        for (auto& x : parts)
          if (!x.match) merged.push_back(x);
        break;
      case SplitBehavior::kMergedWithPrevious: {
        bool prev_match = false;
        for (auto& x : parts) {
          if (x.match && !prev_match && !merged.empty()) merged.back().e = x.e;
          else merged.push_back(x);
          prev_match = x.match;
        }
        break;
      }
      case SplitBehavior::kMergedWithNext: {
        bool prev_match = false;
        for (size_t k = parts.size(); k-- > 0;) {
          auto& x = parts[k];
          if (x.match && !prev_match && !merged.empty()) merged.back().b = x.b;
          else merged.push_back(x);
          prev_match = x.match;
        }
        std::reverse(merged.begin(), merged.end());
        break;
      }
      case SplitBehavior::kContiguous: {
        bool prev_match = false;
        for (size_t k = 0; k < parts.size(); ++k) {
          auto& x = parts[k];
          if (k > 0 && x.match == prev_match) merged.back().e = x.e;
          else merged.push_back(x);
          prev_match = x.match;
        }
        break;
      }
    }
    for (auto& x : merged)
      if (x.e > x.b) out.push_back({x.b, x.e, false});
  }
}

void PreTokenizer::run(std::string_view text, std::vector<Piece>& out) const {
  out.clear();
  if (text.empty()) return;
  out.push_back({0, static_cast<uint32_t>(text.size()), false});
  std::vector<Piece> next;
  for (const Step& s : steps_) {
    if (s.kind == Step::Kind::kByteLevel) {
      if (s.regex) {
        next.clear();
        Step iso{Step::Kind::kSplit, s.regex, SplitBehavior::kIsolated, false, false};
        if (s.add_prefix_space) {
          // The space goes before the regex split, so it joins the first word.
          for (auto& p : out) p.prefix_space = text[p.begin] != ' ';
          // Pieces with a prefix pass through split whole; split the rest.
        }
        split(iso, text, out, next);
        out.swap(next);
      } else if (s.add_prefix_space) {
        for (auto& p : out) p.prefix_space = text[p.begin] != ' ';
      }
      continue;
    }
    next.clear();
    split(s, text, out, next);
    out.swap(next);
  }
}

}  // namespace sable
