// The benches' entry point: options parsed with CLI11 (--help lists them), SIGPIPE ignored (a
// client may close a connection mid-write), and one exit code convention: 2 for a usage error,
// 1 for a failure while measuring, otherwise what the bench returns.
#pragma once

#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include "audit/command_line.h"

namespace escrowless::bench {

// `add_options(app)` declares the options (and any cross-checks, as an app callback throwing
// CLI::ValidationError); `run()` measures and prints.
template <class AddOptions, class Run>
int bench_main(const std::string& name, const std::string& description, int argc, char** argv,
               AddOptions add_options, Run run) {
  CLI::App app(description, name);
  add_options(app);
  if (const auto exit_code = audit::parse_command_line(app, argc, argv)) return *exit_code;
  ::signal(SIGPIPE, SIG_IGN);
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
    return 1;
  }
}

}  // namespace escrowless::bench
