// PUT /v1/accounts/{account}/devices/{device}/prekeys (that device only),
// GET /v1/accounts/{account}/devices/{device}/prekeys/count (that device or the admin),
// GET /v1/accounts/{account}/devices/{device}/bundle and GET /v1/accounts/{account}/bundles
// (any device or the admin; anyone with anonymous-fetch). Bundle JSON: docs/protocol.md.
#include <set>

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

json stored_prekey_json(const keyservice::StoredPrekey& key) {
  json out = {{"kind", std::string(audit::to_string(key.kind))},
              {"key_id", key.key.key_id},
              {"public_key", audit::base64_encode(key.key.public_key)},
              {"signature", audit::base64_encode(key.key.signature)},
              {"log_index", key.log_index}};
  if (key.batch) {
    out["batch"] = {{"index", key.batch->index}, {"count", key.batch->count()}, {"path", hashes_json(key.batch->path())}};
  }
  return out;
}

// Bundles with the entries they rest on and proofs against one checkpoint, fetched after the
// bundles were assembled so that it covers every index they name.
json bundles_json(Service& service, const std::vector<keyservice::Bundle>& bundles) {
  const auto head = service.log.signed_head();
  if (!head) throw keyservice::Error(keyservice::ErrorKind::unavailable, "the log has no signed checkpoint yet");
  const std::string& note = head->note;
  const std::uint64_t tree_size = head->size;
  std::set<std::uint64_t> indices;
  json list = json::array();
  for (const keyservice::Bundle& bundle : bundles) {
    json item = {{"account", bundle.device.account},
                 {"device_id", bundle.device.device},
                 {"identity_key",
                  {{"algorithm", std::string(audit::to_string(bundle.device.algorithm))},
                   {"public_key", audit::base64_encode(bundle.device.public_key)},
                   {"enrolled_index", bundle.device.enrolled_index}}}};
    indices.insert(bundle.device.enrolled_index);
    for (const auto& [name, key] : {std::pair{"signed_prekey", &bundle.signed_prekey},
                                    std::pair{"pq_prekey", &bundle.pq_prekey},
                                    std::pair{"one_time_prekey", &bundle.one_time_prekey}}) {
      if (!*key) continue;
      item[name] = stored_prekey_json(**key);
      indices.insert((*key)->log_index);
    }
    list.push_back(std::move(item));
  }
  json entries = json::array();
  for (const std::uint64_t index : indices) {
    const std::string data = service.log.entry(index);
    entries.push_back({{"index", index},
                       {"data", audit::base64_encode(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()))},
                       {"inclusion_proof", hashes_json(service.log.inclusion_proof(index, tree_size))}});
  }
  return {{"checkpoint", note}, {"tree_size", tree_size}, {"bundles", list}, {"entries", entries}};
}

}  // namespace

void add_prekey_routes(HttpServer& server, Service& service) {
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

  server.get("/v1/accounts/{account}/devices/{device}/bundle", [&service](const auto& request, auto& response) {
    const std::string account = path_id(request, 1, "account");
    const std::string device = path_id(request, 2, "device");
    service.require_reader(request);
    allow_only(request, {});
    send_json(response, 200, bundles_json(service, {service.prekeys.bundle(account, device)}));
  });

  server.get("/v1/accounts/{account}/bundles", [&service](const auto& request, auto& response) {
    const std::string account = path_id(request, 1, "account");
    service.require_reader(request);
    allow_only(request, {});
    send_json(response, 200, bundles_json(service, service.prekeys.bundles(account)));
  });
}

}  // namespace escrowless::api
