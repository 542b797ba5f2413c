// The log's side of C2SP tlog-witness add-checkpoint (https://c2sp.org/tlog-witness), for one
// witness of a policy: submits a signed checkpoint with a consistency proof from the size the
// witness last cosigned, learns that size from a 409, and returns the witness's cosignature
// only after checking it under the policy's key for that witness (cosignature/v1).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audit/client/https_client.h"
#include "audit/hash.h"
#include "audit/witness_policy.h"

namespace escrowless::audit::client {

class WitnessClient {
 public:
  // The witness's URL is its submission prefix (https only); FetchError if it has none.
  WitnessClient(const PolicyWitness& witness, ClientOptions options);

  struct Answer {
    std::optional<std::string> cosignature;  // 200: the witness's cosignature line, verified
    std::optional<uint64_t> witness_size;    // 409: the size the witness last cosigned
  };
  // One request. Throws FetchError when no answer came, for any other status (naming it and the
  // witness's text), for a 409 without a size, and for a 200 without a valid cosignature from
  // the witness's key (other lines are ignored, as the spec says).
  Answer add_checkpoint(uint64_t old_size, std::span<const Hash> proof, std::string_view signed_checkpoint) const;

  // The consistency proof between two sizes of the log (the log's own proof source).
  using ProofSource = std::function<std::vector<Hash>(uint64_t from, uint64_t to)>;
  // The whole exchange: asks from `known_size` (what the log believes the witness holds; 0 when
  // it does not know), and after a 409 once more from the size it learned. On success sets
  // `known_size` to the checkpoint's size and returns the cosignature line. A witness that has
  // cosigned a larger tree than the checkpoint's is a FetchError naming both sizes (the log is
  // behind what it published, or forked).
  std::string cosign(uint64_t& known_size, std::string_view signed_checkpoint, const ProofSource& proof) const;

  const PolicyWitness& witness() const { return witness_; }

 private:
  PolicyWitness witness_;
  HttpsClient client_;
};

}  // namespace escrowless::audit::client
