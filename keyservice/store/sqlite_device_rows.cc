#include "keyservice/store/sqlite_device_rows.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <utility>

#include "audit/error.h"
#include "audit/prekey_batch.h"
#include "keyservice/error.h"

namespace escrowless::keyservice::device_rows {
namespace {

using sqlite::Connection;
using sqlite::StatementUse;

audit::EntryTime time_from_db(std::int64_t value) {
  return audit::EntryTime(std::chrono::milliseconds(value));
}

audit::Hash hash_from_db(std::span<const std::uint8_t> bytes, const char* what) {
  if (bytes.size() != audit::kHashSize) corrupt(what);
  audit::Hash hash{};
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  return hash;
}

// Deletes every stored prekey of `kind` (and, for one-time kinds, their batch and list row).
void delete_prekeys(Connection& connection, std::int64_t device_id, PrekeyKind kind) {
  std::vector<std::string_view> tables = {"prekeys"};
  if (is_one_time(kind)) tables.insert(tables.end(), {"prekey_batches", "one_time_lists"});
  for (const std::string_view table : tables) {
    StatementUse remove(connection, "DELETE FROM " + std::string(table) + " WHERE device_id = ? AND kind = ?");
    remove->bind(1, device_id).bind(2, to_string(kind)).run();
  }
}

void insert_prekey(Connection& connection, std::int64_t device_id, PrekeyKind kind,
                   const audit::SignedPrekey& key, std::uint64_t log_index,
                   std::optional<std::pair<std::int64_t, std::int64_t>> batch_and_index) {
  StatementUse insert(connection,
                      "INSERT INTO prekeys (device_id, kind, key_id, public_key, signature, "
                      "log_index, batch_id, batch_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  insert->bind(1, device_id)
      .bind(2, to_string(kind))
      .bind(3, static_cast<std::int64_t>(key.key_id))
      .bind_static(4, key.public_key)
      .bind_static(5, key.signature)
      .bind(6, to_db(log_index));
  if (batch_and_index) {
    insert->bind(7, batch_and_index->first).bind(8, batch_and_index->second);
  } else {
    insert->bind_null(7).bind_null(8);
  }
  insert->run();
}

}  // namespace

[[noreturn]] void corrupt(const std::string& what) {
  throw Error(ErrorKind::integrity, "devices.db holds a malformed " + what);
}

std::string name_of(std::string_view account, std::string_view device) {
  return "device \"" + std::string(device) + "\" of account \"" + std::string(account) + "\"";
}

std::int64_t to_db(std::uint64_t value) { return static_cast<std::int64_t>(value); }
std::int64_t to_db(audit::EntryTime time) { return time.time_since_epoch().count(); }

std::uint64_t index_from_db(std::int64_t value, const char* what) {
  if (value < 0) corrupt(what);
  return static_cast<std::uint64_t>(value);
}

Device read_device(sqlite::Statement& row) {
  Device device;
  device.account = row.column_text(1);
  device.device = row.column_text(2);
  try {
    device.algorithm = audit::parse_key_algorithm(row.column_text(3));
  } catch (const audit::Error&) {
    corrupt("device algorithm");
  }
  device.token_key_id = row.column_blob(4);
  device.public_key = row.column_blob(5);
  device.public_key_sha256 = hash_from_db(row.column_blob_view(6), "device public_key_sha256");
  device.enrolled_index = index_from_db(row.column_int(7), "device enrolled_index");
  device.enrolled_time = time_from_db(row.column_int(8));
  if (!row.column_is_null(9)) {
    device.revocation = Revocation{index_from_db(row.column_int(9), "device revoked_index"),
                                   time_from_db(row.column_int(10))};
  }
  return device;
}

StoredPrekey read_prekey(sqlite::Statement& row, int first, PrekeyKind kind) {
  StoredPrekey prekey;
  prekey.kind = kind;
  const std::int64_t key_id = row.column_int(first);
  if (key_id < 0 || key_id > std::numeric_limits<std::uint32_t>::max()) corrupt("prekey key id");
  prekey.key.key_id = static_cast<std::uint32_t>(key_id);
  prekey.key.public_key = row.column_blob(first + 1);
  prekey.key.signature = row.column_blob(first + 2);
  if (prekey.key.public_key.size() != audit::prekey_size(kind) ||
      prekey.key.signature.size() != audit::kPrekeySignatureSize) {
    corrupt("prekey");
  }
  prekey.log_index = index_from_db(row.column_int(first + 3), "prekey log_index");
  return prekey;
}

PrekeyKind kind_from_db(const std::string& name) {
  try {
    return audit::parse_prekey_kind(name);
  } catch (const audit::Error&) {
    corrupt("prekey kind");
  }
}

DeviceRow require_device(Connection& connection, std::string_view account,
                         std::string_view device) {
  StatementUse select(connection,
                      "SELECT id, enrolled_index, prekeys_index, revoked_index IS NOT NULL "
                      "FROM devices WHERE account = ? AND device = ?");
  select->bind(1, account).bind(2, device);
  if (!select->step()) throw Error(ErrorKind::not_found, "no " + name_of(account, device));
  DeviceRow row;
  row.id = select->column_int(0);
  row.enrolled_index = select->column_int(1);
  if (!select->column_is_null(2)) row.prekeys_index = select->column_int(2);
  row.revoked = select->column_int(3) != 0;
  return row;
}

DeviceRow require_active_device(Connection& connection, std::string_view account,
                                std::string_view device) {
  const DeviceRow row = require_device(connection, account, device);
  if (row.revoked) throw Error(ErrorKind::conflict, name_of(account, device) + " is revoked");
  return row;
}

void replace_single(Connection& connection, std::int64_t device_id, PrekeyKind kind,
                    const audit::SignedPrekey& key, std::uint64_t log_index) {
  delete_prekeys(connection, device_id, kind);
  insert_prekey(connection, device_id, kind, key, log_index, std::nullopt);
}

void replace_batch(Connection& connection, std::int64_t device_id, PrekeyKind kind,
                   const std::vector<audit::SignedPrekey>& keys, std::uint64_t log_index) {
  delete_prekeys(connection, device_id, kind);
  // The leaves the entry's batch root covers, by the one definition clients check against.
  std::vector<std::uint8_t> leaf_hashes;
  leaf_hashes.reserve(keys.size() * audit::kHashSize);
  for (const audit::SignedPrekey& key : keys) {
    const audit::Hash hash =
        audit::prekey_batch_leaf_hash(kind, key.key_id, key.public_key, key.signature);
    leaf_hashes.insert(leaf_hashes.end(), hash.begin(), hash.end());
  }
  {
    StatementUse insert(connection,
                        "INSERT INTO prekey_batches (device_id, log_index, kind, leaf_hashes) "
                        "VALUES (?, ?, ?, ?)");
    insert->bind(1, device_id)
        .bind(2, to_db(log_index))
        .bind(3, to_string(kind))
        .bind_static(4, leaf_hashes)
        .run();
  }
  const std::int64_t batch_id = sqlite3_last_insert_rowid(connection.db().handle());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    insert_prekey(connection, device_id, kind, keys[i], log_index,
                  std::pair(batch_id, static_cast<std::int64_t>(i)));
  }
  const auto highest = std::max_element(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    return a.key_id < b.key_id;
  });
  if (highest == keys.end()) return;  // check_prekey_upload() refuses empty lists
  StatementUse insert(connection,
                      "INSERT INTO one_time_lists (device_id, kind, log_index, last_key_id, next_key_id) "
                      "VALUES (?, ?, ?, ?, 0)");
  insert->bind(1, device_id)
      .bind(2, to_string(kind))
      .bind(3, to_db(log_index))
      .bind(4, static_cast<std::int64_t>(highest->key_id))
      .run();
}

std::vector<audit::Hash> read_batch_leaves(Connection& connection, std::int64_t batch_id) {
  StatementUse select(connection, "SELECT leaf_hashes FROM prekey_batches WHERE id = ?");
  select->bind(1, batch_id);
  if (!select->step()) corrupt("prekey (its batch is missing)");
  const auto bytes = select->column_blob_view(0);
  if (bytes.empty() || bytes.size() % audit::kHashSize != 0) corrupt("prekey batch");
  std::vector<audit::Hash> leaves;
  leaves.reserve(bytes.size() / audit::kHashSize);
  for (std::size_t at = 0; at < bytes.size(); at += audit::kHashSize) {
    leaves.push_back(hash_from_db(bytes.subspan(at, audit::kHashSize), "prekey batch"));
  }
  return leaves;
}

}  // namespace escrowless::keyservice::device_rows
