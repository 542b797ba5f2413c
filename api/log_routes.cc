// GET /v1/log/checkpoint, /v1/log/verifier-key, /v1/log/entries, /v1/log/proof/inclusion,
// /v1/log/proof/consistency: public, read-only, so anyone can audit the log.
#include <algorithm>

#include "api/http_server.h"
#include "api/problem.h"
#include "api/request.h"
#include "api/responses.h"
#include "api/service.h"
#include "audit/encoding.h"

namespace escrowless::api {
namespace {

constexpr std::uint64_t kMaxEntriesPerRequest = 1000;

}  // namespace

void add_log_routes(HttpServer& server, Service& service) {
  server.get("/v1/log/checkpoint", [&service](const auto& request, auto& response) {
    allow_only(request, {});
    response.set_content(service.log.checkpoint(), "text/plain; charset=utf-8");
  });

  server.get("/v1/log/verifier-key", [&service](const auto& request, auto& response) {
    allow_only(request, {});
    response.set_content(service.log.verifier().to_string() + "\n", "text/plain; charset=utf-8");
  });

  // RFC 6962 / RFC 9162 4.6 get-entries semantics: `start` must lie inside the signed tree; a
  // range reaching past its end, or asking for more than kMaxEntriesPerRequest, answers the
  // entries that exist from `start` on (at most that many), so a client paging in fixed steps
  // reads the tail with the same request. It knows it is done when it has the checkpoint's size.
  server.get("/v1/log/entries", [&service](const auto& request, auto& response) {
    allow_only(request, {"start", "count"});
    const std::uint64_t start = query_uint(request, "start");
    const std::uint64_t count = query_uint(request, "count");
    if (count == 0) throw bad_request("'count' must be at least 1");
    const std::uint64_t size = service.log.size();  // only grows: the range below stays valid
    if (start >= size) {
      throw bad_request("'start' (" + std::to_string(start) + ") is beyond the newest checkpoint (tree size " +
                        std::to_string(size) + ")");
    }
    const std::uint64_t served = std::min({count, kMaxEntriesPerRequest, size - start});
    nlohmann::json entries = nlohmann::json::array();
    std::uint64_t index = start;
    for (const std::string& data : service.log.entries(start, served)) {
      entries.push_back({{"index", index++},
                         {"data", audit::base64_encode(std::span(
                                      reinterpret_cast<const std::uint8_t*>(data.data()), data.size()))}});
    }
    send_json(response, 200, {{"entries", entries}});
  });

  server.get("/v1/log/proof/inclusion",
             [&service](const auto& request, auto& response) {
               allow_only(request, {"index", "size"});
               const std::uint64_t index = query_uint(request, "index");
               const std::uint64_t size = query_uint(request, "size");
               send_json(response, 200,
                         {{"index", index}, {"size", size},
                          {"proof", hashes_json(service.log.inclusion_proof(index, size))}});
             });

  server.get("/v1/log/proof/consistency",
             [&service](const auto& request, auto& response) {
               allow_only(request, {"from", "to"});
               const std::uint64_t from = query_uint(request, "from");
               const std::uint64_t to = query_uint(request, "to");
               send_json(response, 200,
                         {{"from", from}, {"to", to},
                          {"proof", hashes_json(service.log.consistency_proof(from, to))}});
             });
}

}  // namespace escrowless::api
