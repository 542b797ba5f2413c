// keyaudit's two commands. Each returns the exit code: 0 everything verified, 1 a violation
// (reported), and throws UsageError, audit::client::FetchError or std::runtime_error for the
// cases main() maps to 2 (usage, network, server, state file).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace escrowless::keyaudit {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CommonOptions {
  std::string server;         // the key service, https://host[:port]; or
  std::string tiles;          // a tlog-tiles prefix, https:// or http:// (the tiles verify themselves)
  std::string verifier_key;  // the vkey string, or a file holding it
  std::string state;         // empty: no state, read everything, save nothing
  std::string cacert;
  bool json = false;
  std::string witness_policy;  // policy file; empty: cosignatures are not required
  std::string max_age;         // a duration (witness_quorum.h); empty: one day
  std::vector<std::string> also_seen;  // verify: checkpoints published elsewhere (also_seen.h)
};

struct MonitorOptions {
  std::string account;
  std::string expect;  // path of the expect file
};

int run_verify(const CommonOptions& options);
int run_monitor(const CommonOptions& options, const MonitorOptions& monitor);

}  // namespace escrowless::keyaudit
