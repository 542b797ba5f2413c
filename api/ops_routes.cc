// GET /healthz (the process answers), /readyz (the token and the store answer; with a witness
// policy, "degraded" while the served checkpoint lacks a fresh quorum), /metrics.
#include <chrono>

#include "api/http_server.h"
#include "api/problem.h"
#include "api/request.h"
#include "api/responses.h"
#include "api/service.h"

namespace escrowless::api {

void add_ops_routes(HttpServer& server, Service& service) {
  server.get("/healthz", [](const auto& request, auto& response) {
    allow_only(request, {});
    send_json(response, 200, {{"status", "ok"}});
  });

  server.get("/readyz", [&service](const auto& request, auto& response) {
    allow_only(request, {});
    // The token: present with its serial, our login alive, on a pooled session. While the token
    // is lost this is 503, and it is also one of the calls that reconnect once the token is back.
    service.token.pool().check_ready();
    // The store: the newest signed checkpoint.
    const std::uint64_t size = service.log.size();
    if (!service.cosigner) {
      send_json(response, 200, {{"status", "ready"}, {"log_size", size}});
      return;
    }
    // Witnesses: a quorum that is not met by a fresh checkpoint degrades the service (clients
    // that require the quorum refuse once their maximum age passes) but does not fail it: writes
    // and reads go on, and taking the node out of a load balancer would not help.
    const std::uint64_t now = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    const keyservice::CosignatureCollector::Health health = service.cosigner->health(now);
    nlohmann::json witnesses = nlohmann::json::array();
    for (const auto& witness : service.cosigner->status()) {
      witnesses.push_back({{"name", witness.name},
                           {"cosigned_size", witness.cosigned_size},
                           {"last_success", witness.last_success},
                           {"latency_seconds", witness.latency_seconds},
                           {"last_error", witness.last_error}});
    }
    nlohmann::json body = {{"status", health.fresh ? "ready" : "degraded"},
                           {"log_size", size},
                           {"cosigned_size", health.served_size},
                           {"witnesses", witnesses}};
    if (!health.fresh) body["problem"] = health.problem;
    send_json(response, 200, body);
  });

  server.get("/metrics", [&service](const auto& request, auto& response) {
    allow_only(request, {});
    response.set_content(service.metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace escrowless::api
