// GET /v1/log/checkpoint, /v1/log/verifier-key, /v1/log/entries, /v1/log/proof/inclusion,
// /v1/log/proof/consistency: public, read-only, so anyone can audit the log.
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

  server.get("/v1/log/entries", [&service](const auto& request, auto& response) {
    allow_only(request, {"start", "count"});
    const std::uint64_t start = query_uint(request, "start");
    const std::uint64_t count = query_uint(request, "count");
    if (count == 0 || count > kMaxEntriesPerRequest) throw bad_request("'count' must be 1 to 1000");
    nlohmann::json entries = nlohmann::json::array();
    std::uint64_t index = start;
    for (const std::string& data : service.log.entries(start, count)) {
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
