// Rows of devices.db one at a time: the conversions between stored columns and the store's
// types, with every stored value checked on the way out (Error(integrity) if malformed), and the
// row-level writes of prekeys. Transactions are the caller's (sqlite_device_store.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "audit/entry_time.h"
#include "keyservice/store/device_store.h"
#include "keyservice/store/sqlite_pool.h"

namespace escrowless::keyservice::device_rows {

// The columns read_device() reads from column 0 on, of the devices table named `d`.
inline constexpr std::string_view kDeviceColumns =
    "d.id, d.account, d.device, d.algorithm, d.token_key_id, d.public_key, d.public_key_sha256, "
    "d.enrolled_index, d.enrolled_time, d.revoked_index, d.revoked_time";
inline constexpr int kDeviceColumnCount = 11;

// The columns read_prekey() reads, in its order.
inline constexpr std::string_view kPrekeyColumns = "key_id, public_key, signature, log_index";

// Throws Error(integrity): "devices.db holds a malformed <what>".
[[noreturn]] void corrupt(const std::string& what);

// `device "phone" of account "alice"`, for messages (ids are valid, so safe to print).
std::string name_of(std::string_view account, std::string_view device);

// Indices are stored as INTEGER (callers check they are at most INT64_MAX), times as
// milliseconds since the Unix epoch.
std::int64_t to_db(std::uint64_t value);
std::int64_t to_db(audit::EntryTime time);
std::uint64_t index_from_db(std::int64_t value, const char* what);

Device read_device(sqlite::Statement& row);
StoredPrekey read_prekey(sqlite::Statement& row, int first, PrekeyKind kind);
PrekeyKind kind_from_db(const std::string& name);

// The device's row as writers need it.
struct DeviceRow {
  std::int64_t id = 0;
  std::int64_t enrolled_index = 0;
  std::int64_t prekeys_index = -1;  // -1: no prekeys stored yet
  bool revoked = false;
};

// Error(not_found) if there is no such device; require_active_device() also Error(conflict) if
// it is revoked.
DeviceRow require_device(sqlite::Connection& connection, std::string_view account,
                         std::string_view device);
DeviceRow require_active_device(sqlite::Connection& connection, std::string_view account,
                                std::string_view device);

// Replace every stored prekey of `kind` (and for one-time kinds their batch and list row) with the given key
// or batch, published by log entry `log_index`.
void replace_single(sqlite::Connection& connection, std::int64_t device_id, PrekeyKind kind,
                    const audit::SignedPrekey& key, std::uint64_t log_index);
void replace_batch(sqlite::Connection& connection, std::int64_t device_id, PrekeyKind kind,
                   const std::vector<audit::SignedPrekey>& keys, std::uint64_t log_index);

// The leaf hashes of batch `batch_id`.
std::vector<audit::Hash> read_batch_leaves(sqlite::Connection& connection, std::int64_t batch_id);

}  // namespace escrowless::keyservice::device_rows
