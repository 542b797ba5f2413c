#include "audit/keyclient/bundle_json.h"

#include "audit/encoding.h"

namespace escrowless::keyclient {
namespace {

using nlohmann::json;

json prekey_json(const audit::VerifiedPrekey& key) {
  return {{"kind", std::string(audit::to_string(key.kind))},
          {"key_id", key.key_id},
          {"public_key", audit::base64_encode(key.public_key)},
          {"signature", audit::base64_encode(key.signature)},
          {"log_index", key.log_index}};
}

}  // namespace

json verified_bundles_json(const audit::VerifiedBundles& verified) {
  json bundles = json::array();
  for (const audit::VerifiedBundle& bundle : verified.bundles) {
    json item = {{"account", bundle.account},
                 {"device_id", bundle.device},
                 {"identity_key",
                  {{"algorithm", std::string(audit::to_string(bundle.identity_algorithm))},
                   {"public_key", audit::base64_encode(bundle.identity_public_key)},
                   {"enrolled_index", bundle.enrolled_index}}}};
    if (bundle.signed_prekey) item["signed_prekey"] = prekey_json(*bundle.signed_prekey);
    if (bundle.pq_prekey) item["pq_prekey"] = prekey_json(*bundle.pq_prekey);
    if (bundle.one_time_prekey) item["one_time_prekey"] = prekey_json(*bundle.one_time_prekey);
    bundles.push_back(std::move(item));
  }
  return {{"verified", true},
          {"checkpoint",
           {{"origin", verified.checkpoint.origin},
            {"tree_size", verified.checkpoint.size},
            {"root", audit::to_base64(verified.checkpoint.root)},
            {"note", verified.checkpoint_note}}},
          {"bundles", bundles}};
}

}  // namespace escrowless::keyclient
