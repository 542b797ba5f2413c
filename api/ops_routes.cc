// GET /healthz (the process answers), /readyz (the token and the store answer), /metrics.
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
    send_json(response, 200, {{"status", "ready"}, {"log_size", size}});
  });

  server.get("/metrics", [&service](const auto& request, auto& response) {
    allow_only(request, {});
    response.set_content(service.metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace escrowless::api
