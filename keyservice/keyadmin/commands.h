// keyadmin's subcommands. Each adds itself to the CLI11 app; its callback does the work and prints
// the result to stdout (JSON, or a URI for `token init`). Errors are thrown and turned into a
// message and exit code in main.cc.
#pragma once

#include <CLI/CLI.hpp>

namespace escrowless::keyadmin {

void add_token_commands(CLI::App& app);      // token init | info | mechanisms
void add_key_commands(CLI::App& app);        // key generate | sign, inventory

}  // namespace escrowless::keyadmin
