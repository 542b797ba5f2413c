// GET /v1/admin/token (token info and mechanisms), POST /v1/admin/inventory (log an
// hsm.inventory of the whole token now). Admin credential only.
#include "api/http_server.h"
#include "api/problem.h"
#include "api/request.h"
#include "api/responses.h"
#include "api/service.h"
#include "keyservice/credentials.h"
#include "keyservice/token_json.h"

namespace escrowless::api {

void add_admin_routes(HttpServer& server, Service& service) {
  server.get("/v1/admin/token", [&service](const auto& request, auto& response) {
    service.require_admin(request);
    allow_only(request, {});
    nlohmann::json body = keyservice::mechanisms_json(service.token.mechanisms());
    body["token"] = keyservice::token_json(service.token.info(), service.token.module().info());
    send_json(response, 200, body);
  });

  server.post("/v1/admin/inventory", [&service](const auto& request, auto& response) {
    service.require_admin(request);
    allow_only(request, {});
    if (!request.body.empty()) throw bad_request("this route takes no body");
    const keyservice::Receipt receipt = service.devices.log_inventory();
    send_json(response, 201, {{"log", receipt_json(service.log, receipt)}});
  });
}

}  // namespace escrowless::api
