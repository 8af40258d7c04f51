// The sable binary: dispatches to a registered subcommand (apps/command.h).
#include <cstdio>
#include <cstring>
#include <string>

#include "apps/command.h"

namespace sable {
std::map<std::string, Command>& command_registry() {
  static std::map<std::string, Command> r;
  return r;
}
}  // namespace sable

static void usage() {
  std::fprintf(stderr, "Sable " SABLE_VERSION " - an inference server for DeepSeek-V3-class models\n\n"
                       "usage: sable <command> [flags]   (sable <command> --help for its flags)\n\ncommands:\n");
  for (const auto& [name, cmd] : sable::command_registry())
    std::fprintf(stderr, "  %-12s %s\n", name.c_str(), cmd.help.c_str());
}

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("sable %s\n", SABLE_VERSION);
    return 0;
  }
  auto& reg = sable::command_registry();
  auto it = reg.find(argv[1]);
  if (it == reg.end()) {
    std::fprintf(stderr, "sable: unknown command '%s'\n\n", argv[1]);
    usage();
    return 2;
  }
  return it->second.run(argc - 1, argv + 1);
}
