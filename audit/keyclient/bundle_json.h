// The JSON keyclient prints for verified bundles: the response's shape (docs/protocol.md
// "Bundles over HTTP") without the proofs, which have been checked, plus the checkpoint they
// were checked against (its signed note, to compare with what other auditors saw).
#pragma once

#include <nlohmann/json.hpp>

#include "audit/bundle_verify.h"

namespace escrowless::keyclient {

nlohmann::json verified_bundles_json(const audit::VerifiedBundles& verified);

}  // namespace escrowless::keyclient
