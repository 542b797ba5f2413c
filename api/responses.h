// JSON shapes shared by several routes.
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <vector>

#include "audit/hash.h"
#include "keyservice/log/sequencer.h"
#include "keyservice/log/transparency_log.h"

namespace escrowless::api {

nlohmann::json hashes_json(const std::vector<audit::Hash>& hashes);

// The "log" member of every write's response: where the entry is, the signed checkpoint that
// covers it, and its inclusion proof against that checkpoint.
nlohmann::json receipt_json(keyservice::TransparencyLog& log, const keyservice::Receipt& receipt);

void send_json(httplib::Response& response, int status, const nlohmann::json& body);

}  // namespace escrowless::api
