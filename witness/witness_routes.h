// keywitness's HTTP surface (plain text, as C2SP tlog-witness clients expect):
//   POST /add-checkpoint              the spec's submission API (witness.h says every answer)
//   GET  /{origin_hash}/checkpoint    the latest cosigned checkpoint of a log, for monitors; the
//                                     spec's monitoring path (lowercase hex SHA-256 of the origin)
//   GET  /healthz, GET /metrics       as keyserviced's
#pragma once

#include <memory>

#include "api/http_server.h"
#include "witness/witness.h"

namespace escrowless::witness {

// The server options keywitness always uses over what the caller sets: plain-text errors and
// the request body limit of add-checkpoint.
api::ServerOptions server_options(api::ServerOptions options);

std::unique_ptr<api::HttpServer> make_witness_server(Witness& witness, const api::ServerOptions& options,
                                                     api::Metrics& metrics);

}  // namespace escrowless::witness
