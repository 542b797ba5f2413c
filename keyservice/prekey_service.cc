#include "keyservice/prekey_service.h"

#include <chrono>
#include <set>

#include "audit/error.h"
#include "audit/prekey.h"
#include "audit/prekey_batch.h"
#include "keyservice/error.h"

namespace escrowless::keyservice {
namespace {

[[noreturn]] void invalid(const std::string& what) { throw Error(ErrorKind::invalid_input, what); }

void check_size(audit::PrekeyKind kind, const UnsignedPrekey& key, std::string_view member) {
  if (key.public_key.size() != audit::prekey_size(kind)) {
    invalid(std::string(member) + ": key " + std::to_string(key.key_id) + ": public key must be " +
            std::to_string(audit::prekey_size(kind)) + " bytes, got " + std::to_string(key.public_key.size()));
  }
}

void check_list(audit::PrekeyKind kind, const std::vector<UnsignedPrekey>& keys, std::string_view member) {
  if (keys.empty() || keys.size() > audit::kMaxPrekeyBatch) {
    invalid(std::string(member) + ": 1 to 100 keys, got " + std::to_string(keys.size()));
  }
  std::set<std::uint32_t> ids;
  for (const UnsignedPrekey& key : keys) {
    check_size(kind, key, member);
    if (!ids.insert(key.key_id).second) {
      invalid(std::string(member) + ": key id " + std::to_string(key.key_id) + " appears twice");
    }
  }
}

void check_request(const PrekeyUploadRequest& r) {
  if (!r.signed_prekey && !r.pq_last_resort_prekey && !r.one_time_prekeys && !r.pq_one_time_prekeys) {
    invalid("the upload holds no prekey");
  }
  if (r.signed_prekey) check_size(audit::PrekeyKind::signed_prekey, *r.signed_prekey, "signed_prekey");
  if (r.pq_last_resort_prekey) {
    check_size(audit::PrekeyKind::pq_last_resort_prekey, *r.pq_last_resort_prekey, "pq_last_resort_prekey");
  }
  if (r.one_time_prekeys) check_list(audit::PrekeyKind::one_time_prekey, *r.one_time_prekeys, "one_time_prekeys");
  if (r.pq_one_time_prekeys) {
    check_list(audit::PrekeyKind::pq_one_time_prekey, *r.pq_one_time_prekeys, "pq_one_time_prekeys");
  }
}

Device active_device(DeviceStore& store, std::string_view account, std::string_view device_id) {
  std::optional<Device> device = store.find_device(account, device_id);
  if (!device) throw Error(ErrorKind::not_found, "no device " + std::string(device_id) + " in this account");
  if (!device->is_active()) throw Error(ErrorKind::conflict, "the device is revoked");
  return std::move(*device);
}

}  // namespace

SignedUpload PrekeyService::upload(std::string_view account, std::string_view device_id,
                                   const PrekeyUploadRequest& request) {
  check_request(request);
  const auto device_lock = keys_.lock(account, device_id);
  const Device device = active_device(store_, account, device_id);
  const pkcs11::KeyPair key = keys_.identity_key(device);

  const auto sign = [&](audit::PrekeyKind kind, const UnsignedPrekey& prekey) {
    const auto message = audit::prekey_signature_message(kind, account, device_id, prekey.key_id, prekey.public_key);
    return audit::SignedPrekey{prekey.key_id, prekey.public_key, pkcs11::sign(token_.pool(), key, message)};
  };
  const auto sign_batch = [&](audit::PrekeyKind kind, const std::vector<UnsignedPrekey>& prekeys,
                              std::vector<audit::SignedPrekey>& signed_keys) {
    std::vector<audit::PrekeyBatchItem> items;
    for (const UnsignedPrekey& prekey : prekeys) {
      signed_keys.push_back(sign(kind, prekey));
      items.push_back({kind, prekey.key_id, prekey.public_key, signed_keys.back().signature});
    }
    return audit::PrekeyBatch{static_cast<std::uint32_t>(items.size()), audit::prekey_batch_root(items)};
  };

  SignedUpload result;
  audit::PrekeysSigned& entry = result.entry;
  entry.time = audit::to_entry_time(std::chrono::system_clock::now());
  entry.account = std::string(account);
  entry.device = std::string(device_id);
  entry.identity_key_sha256 = device.public_key_sha256;
  PrekeyUpload stored;
  if (request.signed_prekey) {
    entry.signed_prekey = sign(audit::PrekeyKind::signed_prekey, *request.signed_prekey);
    stored.signed_prekey = entry.signed_prekey;
  }
  if (request.pq_last_resort_prekey) {
    entry.pq_last_resort_prekey = sign(audit::PrekeyKind::pq_last_resort_prekey, *request.pq_last_resort_prekey);
    stored.pq_last_resort_prekey = entry.pq_last_resort_prekey;
  }
  if (request.one_time_prekeys) {
    stored.one_time_prekeys.emplace();
    entry.one_time_prekeys = sign_batch(audit::PrekeyKind::one_time_prekey, *request.one_time_prekeys,
                                        *stored.one_time_prekeys);
  }
  if (request.pq_one_time_prekeys) {
    stored.pq_one_time_prekeys.emplace();
    entry.pq_one_time_prekeys = sign_batch(audit::PrekeyKind::pq_one_time_prekey, *request.pq_one_time_prekeys,
                                           *stored.pq_one_time_prekeys);
  }
  const std::vector<std::uint8_t> bytes = entry.to_bytes();
  result.receipt = log_.append(std::string(bytes.begin(), bytes.end())).get();
  stored.log_index = result.receipt.index;
  store_.store_prekeys(account, device_id, stored);
  if (stored.one_time_prekeys) result.one_time_prekeys = *stored.one_time_prekeys;
  if (stored.pq_one_time_prekeys) result.pq_one_time_prekeys = *stored.pq_one_time_prekeys;
  return result;
}

OneTimePrekeyCounts PrekeyService::count(std::string_view account, std::string_view device_id) {
  active_device(store_, account, device_id);
  return store_.count_one_time_prekeys(account, device_id);
}

Bundle PrekeyService::bundle(std::string_view account, std::string_view device_id,
                             const std::optional<audit::Hash>& reader) {
  DeviceStore::BundleMaterial material = store_.take_bundle(account, device_id, reader);
  Bundle bundle{std::move(material.device), std::move(material.current.signed_prekey), {}, {}};
  bundle.pq_prekey = material.claimed.pq_one_time ? std::move(material.claimed.pq_one_time)
                                                  : std::move(material.current.pq_last_resort_prekey);
  bundle.one_time_prekey = std::move(material.claimed.one_time);
  return bundle;
}

std::vector<Bundle> PrekeyService::bundles(std::string_view account) {
  std::vector<Bundle> result;
  for (const Device& device : store_.list_devices(account)) {
    if (!device.is_active()) continue;
    try {
      result.push_back(bundle(account, device.device));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::conflict) throw;  // revoked meanwhile: leave it out
    }
  }
  return result;
}

}  // namespace escrowless::keyservice
