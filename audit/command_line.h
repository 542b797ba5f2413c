// The one parse step of every command-line tool and bench: `--help` prints and exits 0, a usage
// error prints CLI11's message and exits 2 (1 stays for "checked and failed" or "could not do it").
#pragma once

#include <CLI/CLI.hpp>

#include <optional>

namespace escrowless::audit {

// Parses; nullopt when the tool should go on, else the exit code to return now. Exceptions other
// than CLI11's parse errors (from subcommand callbacks, which run inside parse) pass through.
inline std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // CallForHelp and CallForAllHelp exit 0
  }
  return std::nullopt;
}

}  // namespace escrowless::audit
