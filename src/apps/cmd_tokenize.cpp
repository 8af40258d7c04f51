// sable tokenize: JSON lines in, JSON lines out (see tokenizer/tokenize_request.h).
// Every input line gets exactly one output line; a bad line gets {"error": ...}
// and processing goes on.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "apps/command.h"
#include "tokenizer/tokenize_request.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_dir.h"

namespace {

int run_tokenize(int argc, char** argv) {
  CLI::App app{"Text <-> token ids and chat messages -> prompt, as JSON lines on stdin/stdout"};
  std::string model_dir, tokenizer_dir, chat_template_file;
  app.add_option("--model", model_dir, "model directory (a Hugging Face checkpoint with tokenizer.json)");
  app.add_option("--tokenizer", tokenizer_dir, "tokenizer directory (default: the model's)");
  app.add_option("--chat-template", chat_template_file, "a Jinja chat template file overriding the tokenizer's");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  bool fell_back = false;
  auto dir = sable::resolve_tokenizer_dir(model_dir, tokenizer_dir, &fell_back);
  if (!dir.is_ok()) {
    std::fprintf(stderr, "sable tokenize: %s\n", dir.status().to_string().c_str());
    return 1;
  }
  if (fell_back)
    std::fprintf(stderr, "sable tokenize: %s; using the bundled DeepSeek-V3 tokenizer (%s)\n",
                 model_dir.empty() ? "no --model given" : ("no tokenizer.json in " + model_dir).c_str(), dir->c_str());
  auto tok = sable::Tokenizer::load(*dir);
  if (!tok.is_ok()) {
    std::fprintf(stderr, "sable tokenize: %s\n", tok.status().to_string().c_str());
    return 1;
  }
  if (!chat_template_file.empty()) {
    std::ifstream f(chat_template_file, std::ios::binary);
    if (!f) {
      std::fprintf(stderr, "sable tokenize: cannot read %s\n", chat_template_file.c_str());
      return 1;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    (*tok)->set_chat_template(ss.str());
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    nlohmann::ordered_json out;
    try {
      out = sable::handle_tokenize_request(**tok, nlohmann::ordered_json::parse(line));
    } catch (const nlohmann::json::exception& e) {
      out = {{"error", std::string("bad JSON: ") + e.what()}};
    }
    const std::string s = out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

SABLE_COMMAND(tokenize, "text <-> ids and chat messages -> prompt, as JSON lines", run_tokenize);
