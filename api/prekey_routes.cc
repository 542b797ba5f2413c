// PUT /v1/accounts/{account}/devices/{device}/prekeys (that device only),
// GET /v1/accounts/{account}/devices/{device}/prekeys/count (that device or the admin),
// GET /v1/accounts/{account}/devices/{device}/bundle and GET /v1/accounts/{account}/bundles
// (any device or the admin; anyone with anonymous-fetch). Bundle JSON: docs/protocol.md.
#include "api/bundle_json.h"
#include "api/http_server.h"
#include "api/prekey_request.h"
#include "api/problem.h"
#include "api/request.h"
#include "api/responses.h"
#include "api/service.h"
#include "audit/encoding.h"
#include "audit/entry_ids.h"
#include "audit/error.h"
#include "audit/key_algorithm.h"
#include "audit/prekey.h"
#include "keyservice/prekey_service.h"
#include "keyservice/error.h"

namespace escrowless::api {
namespace {

using nlohmann::json;

json signature_json(const audit::SignedPrekey& key) {
  return {{"key_id", key.key_id}, {"signature", audit::base64_encode(key.signature)}};
}

json signatures_json(const std::vector<audit::SignedPrekey>& keys) {
  json list = json::array();
  for (const auto& key : keys) list.push_back(signature_json(key));
  return list;
}

void send_bundles(httplib::Response& response, const std::string& body) {
  response.status = 200;
  response.set_content(body, "application/json");
}

}  // namespace

void add_prekey_routes(HttpServer& server, Service& service) {
  // One per server: its caches belong to service.log.
  const auto bundle_json = std::make_shared<BundleJson>(service.log);
  // The bundle routes before the others: make_server() says why.
  server.get("/v1/accounts/{account}/devices/{device}/bundle", [&service, bundle_json](const auto& request, auto& response) {
    const std::string account = path_id(request, 1, "account");
    const std::string device = path_id(request, 2, "device");
    const std::optional<audit::Hash> reader = service.reader_to_check(request);
    allow_only(request, {});
    send_bundles(response, bundle_json->write({service.prekeys.bundle(account, device, reader)}));
  });

  server.get("/v1/accounts/{account}/bundles", [&service, bundle_json](const auto& request, auto& response) {
    const std::string account = path_id(request, 1, "account");
    service.require_reader(request);
    allow_only(request, {});
    send_bundles(response, bundle_json->write(service.prekeys.bundles(account)));
  });

  server.put("/v1/accounts/{account}/devices/{device}/prekeys", [&service](const auto& request, auto& response) {
    const std::string account = path_id(request, 1, "account");
    const std::string device = path_id(request, 2, "device");
    const Caller caller = service.require_account(request, account);
    if (!caller.device || caller.device->device != device) {
      throw forbidden("only the device itself may upload its prekeys");
    }
    allow_only(request, {});
    const keyservice::PrekeyUploadRequest upload = read_prekey_upload(request);
    const keyservice::SignedUpload signed_upload = service.prekeys.upload(account, device, upload);
    const audit::PrekeysSigned& entry = signed_upload.entry;
    json signatures = json::object();
    if (entry.signed_prekey) signatures["signed_prekey"] = signature_json(*entry.signed_prekey);
    if (entry.pq_last_resort_prekey) signatures["pq_last_resort_prekey"] = signature_json(*entry.pq_last_resort_prekey);
    // The batches' keys with their signatures, in upload order (the log holds only their roots).
    if (entry.one_time_prekeys) signatures["one_time_prekeys"] = signatures_json(signed_upload.one_time_prekeys);
    if (entry.pq_one_time_prekeys) {
      signatures["pq_one_time_prekeys"] = signatures_json(signed_upload.pq_one_time_prekeys);
    }
    send_json(response, 200, {{"signatures", signatures}, {"log", receipt_json(service.log, signed_upload.receipt)}});
  });

  server.get("/v1/accounts/{account}/devices/{device}/prekeys/count", [&service](const auto& request, auto& response) {
    const std::string account = path_id(request, 1, "account");
    const std::string device = path_id(request, 2, "device");
    const Caller caller = service.require_account(request, account);
    if (!caller.admin && caller.device->device != device) {
      throw forbidden("only the device itself or the admin may count its prekeys");
    }
    allow_only(request, {});
    const keyservice::OneTimePrekeyCounts counts = service.prekeys.count(account, device);
    send_json(response, 200, {{"one_time_prekeys", counts.one_time}, {"pq_one_time_prekeys", counts.pq_one_time}});
  });
}

}  // namespace escrowless::api
