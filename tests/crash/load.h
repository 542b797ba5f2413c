// One load client of the crash test: enrolls devices, uploads prekeys, fetches bundles and now
// and then revokes a device, as fast as the server answers, recording every acknowledgement in
// the ledger. A request that gets no answer (the server was killed under it) is not
// acknowledged and asserts nothing; an answer the API does not allow is a failure.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "audit/verifier_key.h"
#include "tests/crash/ledger.h"

namespace escrowless::crashtest {

struct LoadOptions {
  int port = 0;
  std::string ca_file;
  std::string admin_token;
  audit::VerifierKey verifier;
  std::vector<std::string> accounts;
};

// Runs until `stop` is set.
void run_client(const LoadOptions& options, Ledger& ledger, const std::atomic<bool>& stop, unsigned seed);

}  // namespace escrowless::crashtest
