// Subcommands of the `sable` binary register themselves here, one file each
// (apps/cmd_<name>.cpp), so adding a command touches no shared file:
//
//   static int run_tokenize(int argc, char** argv);  // argv[0] = "tokenize"
//   SABLE_COMMAND(tokenize, "text <-> ids as JSON lines", run_tokenize);
//
// Each command parses its own flags (CLI11) and returns the exit code.
#pragma once

#include <functional>
#include <map>
#include <string>

namespace sable {

struct Command {
  std::string help;
  std::function<int(int, char**)> run;
};

std::map<std::string, Command>& command_registry();

struct CommandRegistrar {
  // The identifier's underscores become dashes: make_model -> "make-model".
  CommandRegistrar(const char* name, const char* help, std::function<int(int, char**)> fn) {
    std::string n = name;
    for (char& c : n) if (c == '_') c = '-';
    command_registry()[n] = Command{help, std::move(fn)};
  }
};

}  // namespace sable

#define SABLE_COMMAND(name, help, fn) \
  static ::sable::CommandRegistrar sable_command_registrar_##name(#name, help, fn)
