#include "keyservice/store/device_store.h"

#include <limits>
#include <string>

#include "audit/entry_ids.h"
#include "audit/error.h"
#include "audit/token_objects.h"
#include "keyservice/error.h"

namespace escrowless::keyservice {
namespace {

[[noreturn]] void invalid(const std::string& message) {
  throw Error(ErrorKind::invalid_input, message);
}

}  // namespace

void check_id(std::string_view field, std::string_view id) {
  if (!audit::is_valid_id(id)) {
    invalid(std::string(field) + " must be 1 to 64 characters from [A-Za-z0-9._-]");
  }
}

void check_ids(std::string_view account, std::string_view device) {
  check_id("account", account);
  check_id("device", device);
}

void check_new_device(const Device& device) {
  check_ids(device.account, device.device);
  if (device.token_key_id.empty() || device.token_key_id.size() > audit::kMaxKeyIdSize) {
    invalid("token_key_id: CKA_ID has 1 to 64 bytes, got " +
            std::to_string(device.token_key_id.size()));
  }
  audit::Hash computed{};
  try {
    computed = audit::public_key_sha256(device.algorithm, device.public_key);
  } catch (const audit::Error& e) {
    invalid(std::string("public_key: ") + e.what());
  }
  if (computed != device.public_key_sha256) {
    invalid("public_key_sha256 is not the hash of the public key");
  }
  if (device.enrolled_index >
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    invalid("enrolled_index " + std::to_string(device.enrolled_index) + " is out of range");
  }
  if (device.revocation) invalid("a new device can't be revoked already");
}

}  // namespace escrowless::keyservice
