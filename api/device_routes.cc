// POST /v1/accounts/{account}/devices (enroll), GET /v1/accounts/{account}/devices (list),
// DELETE /v1/accounts/{account}/devices/{device} (revoke).
#include "api/http_server.h"
#include "api/problem.h"
#include "api/request.h"
#include "api/responses.h"
#include "api/service.h"
#include "audit/encoding.h"
#include "audit/entry_ids.h"
#include "audit/key_algorithm.h"

namespace escrowless::api {
namespace {


audit::Actor actor_of(const Caller& caller) {
  return caller.admin ? audit::Actor::admin() : audit::Actor::of_device(caller.device->device);
}

nlohmann::json identity_key_json(const keyservice::Device& device) {
  return {{"algorithm", std::string(audit::to_string(device.algorithm))},
          {"public_key", audit::base64_encode(device.public_key)},
          {"public_key_sha256", audit::hex_encode(device.public_key_sha256)}};
}

}  // namespace

void add_device_routes(HttpServer& server, Service& service) {
  server.post("/v1/accounts/{account}/devices", [&service](const auto& request, auto& response) {
    const std::string account = path_id(request, 1, "account");
    const Caller caller = service.require_account(request, account);
    allow_only(request, {});
    json_body(request, {});
    keyservice::Enrollment made = service.devices.enroll(account, actor_of(caller));
    const auto credential = made.credential.bytes();
    send_json(response, 201,
              {{"account", account},
               {"device_id", made.device.device},
               {"identity_key", identity_key_json(made.device)},
               {"credential", std::string(credential.begin(), credential.end())},
               {"log", receipt_json(service.log, made.receipt)}});
  });

  server.get("/v1/accounts/{account}/devices", [&service](const auto& request, auto& response) {
    const std::string account = path_id(request, 1, "account");
    service.require_reader(request);
    allow_only(request, {});
    nlohmann::json devices = nlohmann::json::array();
    for (const keyservice::Device& device : service.devices.list(account)) {
      nlohmann::json item = {{"device_id", device.device},
                             {"identity_key", identity_key_json(device)},
                             {"enrolled_index", device.enrolled_index},
                             {"revoked", !device.is_active()}};
      if (device.revocation) item["revoked_index"] = device.revocation->log_index;
      devices.push_back(std::move(item));
    }
    send_json(response, 200, {{"account", account}, {"devices", devices}});
  });

  server.del("/v1/accounts/{account}/devices/{device}", [&service](const auto& request, auto& response) {
    const std::string account = path_id(request, 1, "account");
    const std::string device = path_id(request, 2, "device");
    const Caller caller = service.require_account(request, account);
    allow_only(request, {});
    const keyservice::Receipt receipt = service.devices.revoke(account, device, actor_of(caller));
    send_json(response, 200, {{"log", receipt_json(service.log, receipt)}});
  });
}

}  // namespace escrowless::api
