// device.enrolled, prekeys.signed and device.revoked: the entries about one device.
#include <cstdint>
#include <limits>
#include <string>

#include "audit/encoding.h"
#include "audit/entry_codecs.h"
#include "audit/entry_json.h"

namespace escrowless::audit::entry_json {
namespace {

SignedPrekey read_signed_prekey(const json& value, const std::string& path, std::size_t key_size,
                                std::string_view key_kind) {
  const Fields fields(value, path, {"key_id", "public_key", "signature"});
  SignedPrekey prekey;
  prekey.key_id =
      static_cast<uint32_t>(read_integer(fields.required("key_id"), fields.path_of("key_id"), 0,
                                         std::numeric_limits<uint32_t>::max()));
  prekey.public_key =
      read_base64(fields.required("public_key"), fields.path_of("public_key"), key_size, key_kind);
  prekey.signature = read_base64(fields.required("signature"), fields.path_of("signature"),
                                 kPrekeySignatureSize, "signatures");
  return prekey;
}

json write_signed_prekey(const SignedPrekey& prekey) {
  json out = json::object();
  out["key_id"] = prekey.key_id;
  out["public_key"] = base64_encode(prekey.public_key);
  out["signature"] = base64_encode(prekey.signature);
  return out;
}

PrekeyBatch read_batch(const json& value, const std::string& path) {
  const Fields fields(value, path, {"count", "root"});
  PrekeyBatch batch;
  batch.count = static_cast<uint32_t>(
      read_integer(fields.required("count"), fields.path_of("count"), 1, kMaxPrekeyBatch));
  batch.root = hash_from_bytes(
      read_base64(fields.required("root"), fields.path_of("root"), kHashSize, "Merkle roots"));
  return batch;
}

json write_batch(const PrekeyBatch& batch) {
  json out = json::object();
  out["count"] = batch.count;
  out["root"] = to_base64(batch.root);
  return out;
}

}  // namespace

DeviceEnrolled read_device_enrolled(const json& entry) {
  const Fields root(entry, "",
                    {"account", "device", "enrolled_by", "identity_key", "time", "type"});
  DeviceEnrolled out;
  out.time = read_time(root.required("time"), "time");
  out.account = read_id(root.required("account"), "account");
  out.device = read_id(root.required("device"), "device");
  out.enrolled_by = read_actor(root.required("enrolled_by"), "enrolled_by");
  out.identity_key = read_token_key(Fields(root.required("identity_key"), "identity_key",
                                           {kTokenKeyFields.begin(), kTokenKeyFields.end()}));
  return out;
}

json write_entry(const DeviceEnrolled& entry) {
  json out = write_header(to_string(entry.kType), entry.time);
  out["account"] = entry.account;
  out["device"] = entry.device;
  out["enrolled_by"] = entry.enrolled_by.to_string();
  out["identity_key"] = write_token_key(entry.identity_key);
  return out;
}

PrekeysSigned read_prekeys_signed(const json& entry) {
  const Fields root(
      entry, "",
      {"account", "device", "identity_key_sha256", "one_time_prekeys", "pq_last_resort_prekey",
       "pq_one_time_prekeys", "signed_prekey", "time", "type"});
  PrekeysSigned out;
  out.time = read_time(root.required("time"), "time");
  out.account = read_id(root.required("account"), "account");
  out.device = read_id(root.required("device"), "device");
  out.identity_key_sha256 =
      read_sha256_hex(root.required("identity_key_sha256"), "identity_key_sha256");
  if (const json* value = root.optional("signed_prekey")) {
    out.signed_prekey = read_signed_prekey(*value, "signed_prekey", kX25519KeySize, "X25519 keys");
  }
  if (const json* value = root.optional("pq_last_resort_prekey")) {
    out.pq_last_resort_prekey =
        read_signed_prekey(*value, "pq_last_resort_prekey", kMlKem768KeySize, "ML-KEM-768 keys");
  }
  if (const json* value = root.optional("one_time_prekeys")) {
    out.one_time_prekeys = read_batch(*value, "one_time_prekeys");
  }
  if (const json* value = root.optional("pq_one_time_prekeys")) {
    out.pq_one_time_prekeys = read_batch(*value, "pq_one_time_prekeys");
  }
  if (!out.signed_prekey && !out.pq_last_resort_prekey && !out.one_time_prekeys &&
      !out.pq_one_time_prekeys) {
    fail("",
         "needs at least one of signed_prekey, pq_last_resort_prekey, one_time_prekeys, "
         "pq_one_time_prekeys");
  }
  return out;
}

json write_entry(const PrekeysSigned& entry) {
  json out = write_header(to_string(entry.kType), entry.time);
  out["account"] = entry.account;
  out["device"] = entry.device;
  out["identity_key_sha256"] = to_hex(entry.identity_key_sha256);
  if (entry.signed_prekey) out["signed_prekey"] = write_signed_prekey(*entry.signed_prekey);
  if (entry.pq_last_resort_prekey) {
    out["pq_last_resort_prekey"] = write_signed_prekey(*entry.pq_last_resort_prekey);
  }
  if (entry.one_time_prekeys) out["one_time_prekeys"] = write_batch(*entry.one_time_prekeys);
  if (entry.pq_one_time_prekeys) {
    out["pq_one_time_prekeys"] = write_batch(*entry.pq_one_time_prekeys);
  }
  return out;
}

DeviceRevoked read_device_revoked(const json& entry) {
  const Fields root(entry, "",
                    {"account", "device", "identity_key_sha256", "revoked_by", "time", "type"});
  DeviceRevoked out;
  out.time = read_time(root.required("time"), "time");
  out.account = read_id(root.required("account"), "account");
  out.device = read_id(root.required("device"), "device");
  out.identity_key_sha256 =
      read_sha256_hex(root.required("identity_key_sha256"), "identity_key_sha256");
  out.revoked_by = read_actor(root.required("revoked_by"), "revoked_by");
  return out;
}

json write_entry(const DeviceRevoked& entry) {
  json out = write_header(to_string(entry.kType), entry.time);
  out["account"] = entry.account;
  out["device"] = entry.device;
  out["identity_key_sha256"] = to_hex(entry.identity_key_sha256);
  out["revoked_by"] = entry.revoked_by.to_string();
  return out;
}

}  // namespace escrowless::audit::entry_json
