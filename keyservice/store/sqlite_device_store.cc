#include "keyservice/store/sqlite_device_store.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>

#include "keyservice/error.h"
#include "keyservice/store/sqlite_device_rows.h"
#include "keyservice/store/sqlite_device_schema.h"

namespace escrowless::keyservice {
namespace {

using namespace device_rows;
using sqlite::Connection;
using sqlite::StatementUse;

// Connections kept open between calls; more are opened (and closed again) under load. Opening
// one costs far more than a query, so keep as many as the server has worker threads.
constexpr std::size_t kMaxIdleConnections = 64;

const std::string kFindDevice = "SELECT " + std::string(kDeviceColumns) +
                                " FROM devices d WHERE d.account = ? AND d.device = ?";
// Column kDeviceColumnCount is the stored hash, compared again in constant time.
const std::string kFindByCredential =
    "SELECT " + std::string(kDeviceColumns) +
    ", c.sha256 FROM credentials c JOIN devices d ON d.id = c.device_id "
    "WHERE c.sha256 = ? AND d.revoked_index IS NULL";
const std::string kListDevices = "SELECT " + std::string(kDeviceColumns) +
                                 " FROM devices d WHERE d.account = ? ORDER BY d.enrolled_index";
// The ?4 unclaimed one-time keys of a kind from key id ?3 (the claim cursor) on, lowest first
// (the primary key's order).
const std::string kClaim = "SELECT " + std::string(kPrekeyColumns) +
                           ", batch_id, batch_index FROM prekeys WHERE device_id = ?1 AND kind = ?2 "
                           "AND key_id >= ?3 ORDER BY key_id LIMIT ?4";
const std::string kListCursor =
    "SELECT next_key_id, last_key_id FROM one_time_lists WHERE device_id = ? AND kind = ?";
// Keys below a list's claim cursor are gone (claimed), though their rows stay until the list is
// replaced.
const std::string kCountUnclaimed =
    "SELECT count(*) FROM prekeys p JOIN one_time_lists l ON l.device_id = p.device_id AND l.kind = p.kind "
    "WHERE p.device_id = ?1 AND p.kind = ?2 AND p.key_id >= l.next_key_id";

// Whether device `d` has an unclaimed one-time key of `kind`: one row of one_time_lists.
std::string unclaimed_exists(std::string_view kind) {
  return "EXISTS (SELECT 1 FROM one_time_lists l WHERE l.device_id = d.id AND l.kind = '" + std::string(kind) +
         "' AND l.next_key_id <= l.last_key_id)";
}
const std::string kCurrentPrekeys = "SELECT kind, " + std::string(kPrekeyColumns) +
                                    " FROM prekeys WHERE device_id = ? AND kind IN "
                                    "('signed_prekey', 'pq_last_resort_prekey')";
// take_bundle()'s read, one row (none if there is no such device): the device, its
// prekeys_index, whether it has unclaimed one-time keys of each kind, and the stored hash of
// credential ?3 if that is an active device's (NULL if not, or if ?3 is NULL).
const std::string kBundleSnapshot =
    "SELECT " + std::string(kDeviceColumns) + ", d.prekeys_index, " + unclaimed_exists("one_time_prekey") + ", " +
    unclaimed_exists("pq_one_time_prekey") +
    ", (SELECT c.sha256 FROM credentials c JOIN devices r ON r.id = c.device_id "
    "WHERE c.sha256 = ?3 AND r.revoked_index IS NULL) FROM devices d WHERE d.account = ?1 AND d.device = ?2";

// Whether `stored` (a credentials.sha256 value an index lookup found) is `presented`: the full
// comparison does not depend on where the bytes differ.
bool same_credential(std::span<const std::uint8_t> stored, std::span<const std::uint8_t> presented) {
  return stored.size() == audit::kHashSize && presented.size() == audit::kHashSize &&
         CRYPTO_memcmp(stored.data(), presented.data(), audit::kHashSize) == 0;
}

// The active device whose credential's hash is `credential_sha256`, if any.
std::optional<Device> device_by_credential(Connection& connection, std::span<const std::uint8_t> credential_sha256) {
  StatementUse select(connection, kFindByCredential);
  select->bind(1, credential_sha256);
  if (!select->step() || !same_credential(select->column_blob_view(kDeviceColumnCount), credential_sha256)) {
    return std::nullopt;
  }
  return read_device(*select);
}

// What take_bundle() reads of a device in one statement (kBundleSnapshot).
struct BundleSnapshot {
  Device device;
  std::int64_t row_id = 0;
  // -1: no prekeys stored yet (a stored prekeys_index follows the enrollment, so it is above 0).
  std::int64_t prekeys_index = -1;
  bool one_time = false, pq_one_time = false;  // unclaimed one-time keys stored, of each kind
};

// The reader's credential is checked first, so one who presents none valid learns nothing of
// the device: Error(unauthenticated), then Error(not_found), then Error(conflict) if revoked.
BundleSnapshot read_bundle_snapshot(Connection& connection, std::string_view account, std::string_view device,
                                    const std::optional<audit::Hash>& reader) {
  StatementUse select(connection, kBundleSnapshot);
  select->bind(1, account).bind(2, device);
  if (reader) {
    select->bind_static(3, *reader);
  } else {
    select->bind_null(3);
  }
  const bool found = select->step();
  if (reader && !(found ? same_credential(select->column_blob_view(kDeviceColumnCount + 3), *reader)
                        : device_by_credential(connection, *reader).has_value())) {
    throw Error(ErrorKind::unauthenticated, "the credential is not valid");
  }
  if (!found) throw Error(ErrorKind::not_found, "no " + name_of(account, device));
  BundleSnapshot snapshot;
  snapshot.device = read_device(*select);
  if (!snapshot.device.is_active()) throw Error(ErrorKind::conflict, name_of(account, device) + " is revoked");
  snapshot.row_id = select->column_int(0);
  if (!select->column_is_null(kDeviceColumnCount)) snapshot.prekeys_index = select->column_int(kDeviceColumnCount);
  snapshot.one_time = select->column_int(kDeviceColumnCount + 1) != 0;
  snapshot.pq_one_time = select->column_int(kDeviceColumnCount + 2) != 0;
  return snapshot;
}

// Puts the current prekey of `row` (its kind in column `first`, then kPrekeyColumns) into
// `current`.
void add_current(CurrentPrekeys& current, sqlite::Statement& row, int first) {
  const PrekeyKind kind = kind_from_db(row.column_text(first));
  auto& slot = kind == PrekeyKind::signed_prekey ? current.signed_prekey : current.pq_last_resort_prekey;
  if (slot) corrupt("prekey table (two current keys of one kind)");
  slot = read_prekey(row, first + 1, kind);
}

CurrentPrekeys current_in(Connection& connection, std::int64_t device_id) {
  StatementUse select(connection, kCurrentPrekeys);
  select->bind(1, device_id);
  CurrentPrekeys current;
  while (select->step()) add_current(current, *select, 0);
  return current;
}

OneTimePrekeyCounts counts_in(Connection& connection, std::int64_t device_id) {
  OneTimePrekeyCounts counts;
  for (auto [kind, count] : {std::pair{PrekeyKind::one_time_prekey, &counts.one_time},
                             std::pair{PrekeyKind::pq_one_time_prekey, &counts.pq_one_time}}) {
    StatementUse select(connection, kCountUnclaimed);
    select->bind(1, device_id).bind(2, to_string(kind));
    select->step();
    *count = index_from_db(select->column_int(0), "prekey count");
  }
  return counts;
}

template <class Bind>
bool exists(Connection& connection, std::string_view sql, const Bind& bind) {
  StatementUse select(connection, sql);
  bind(*select);
  return select->step();
}

}  // namespace

SqliteDeviceStore::Claim SqliteDeviceStore::claim_in(Connection& connection, std::int64_t device_id,
                                                    PrekeyKind kind, std::size_t limit) {
  Claim result;
  std::int64_t last = -1;  // no list: nothing to claim
  {
    StatementUse select(connection, kListCursor);
    select->bind(1, device_id).bind(2, to_string(kind));
    if (select->step()) {
      result.from = select->column_int(0);
      last = select->column_int(1);
    }
  }
  result.to = result.from;
  if (result.from > last) return result;
  struct Claimed {
    StoredPrekey key;
    std::int64_t batch_id = 0;
    std::int64_t batch_index = 0;
  };
  std::vector<Claimed> claimed;
  {
    StatementUse select(connection, kClaim);
    select->bind(1, device_id)
        .bind(2, to_string(kind))
        .bind(3, result.from)
        .bind(4, static_cast<std::int64_t>(limit));
    while (select->step()) {
      if (select->column_is_null(4) || select->column_is_null(5)) corrupt("one-time prekey");
      claimed.push_back({read_prekey(*select, 0, kind), select->column_int(4), select->column_int(5)});
    }
  }
  // The list's highest key id is stored: keys up to it must be there.
  if (claimed.empty()) corrupt("one-time prekey list (its keys are missing)");
  // The one durable write of the claim: the cursor moves past the last key taken.
  result.to = std::int64_t{claimed.back().key.key.key_id} + 1;
  {
    StatementUse update(connection, "UPDATE one_time_lists SET next_key_id = ? WHERE device_id = ? AND kind = ?");
    update->bind(1, result.to).bind(2, device_id).bind(3, to_string(kind)).run();
  }
  // Each batch's leaves read once, shared by its keys, and counted against the bound in equal
  // shares.
  struct Batch {
    std::shared_ptr<const std::vector<audit::Hash>> leaves;
    std::size_t keys = 0;
  };
  std::map<std::int64_t, Batch> batches;
  for (const Claimed& c : claimed) ++batches[c.batch_id].keys;
  for (auto& [batch_id, batch] : batches) {
    batch.leaves = std::make_shared<const std::vector<audit::Hash>>(read_batch_leaves(connection, batch_id));
  }
  for (Claimed& c : claimed) {
    const Batch& batch = batches.at(c.batch_id);
    if (c.batch_index < 0 || static_cast<std::uint64_t>(c.batch_index) >= batch.leaves->size()) {
      corrupt("prekey batch index");
    }
    constexpr std::size_t kHeapBlock = 16;  // malloc's overhead per allocation, about
    const std::size_t bytes = sizeof(ReservedKey) + c.key.key.public_key.size() + c.key.key.signature.size() +
                              2 * kHeapBlock + (batch.leaves->size() * audit::kHashSize) / batch.keys + 1;
    result.keys.push_back({std::move(c.key), batch.leaves, static_cast<std::uint32_t>(c.batch_index), bytes});
  }
  return result;
}

StoredPrekey SqliteDeviceStore::ReservedKey::hand_out() && {
  key.batch = PrekeyBatchPosition{index, std::move(leaves)};
  return std::move(key);
}

std::unique_ptr<SqliteDeviceStore> SqliteDeviceStore::open(const std::string& path, bool create,
                                                           std::size_t max_reserved_bytes) {
  if (!create && !std::filesystem::exists(path)) {
    throw Error(ErrorKind::not_found, "no devices database at " + path);
  }
  {
    sqlite::Database db = sqlite::Database::open(path, create);
    sqlite::Transaction transaction(db);
    prepare_device_schema(db, path, create);
    transaction.commit();
  }
  return std::unique_ptr<SqliteDeviceStore>(new SqliteDeviceStore(path, max_reserved_bytes));
}

std::unique_ptr<SqliteDeviceStore> SqliteDeviceStore::open(const std::string& path, bool create) {
  return open(path, create, kMaxReservedBytes);
}

SqliteDeviceStore::SqliteDeviceStore(const std::string& path, std::size_t max_reserved_bytes)
    : pool_(path, kMaxIdleConnections),
      max_reserved_bytes_(max_reserved_bytes),
      refiller_([this] { run_refiller(); }) {}

SqliteDeviceStore::~SqliteDeviceStore() {
  {
    const std::lock_guard queue(claim_mutex_);
    stopping_ = true;
  }
  claims_written_.notify_all();
  refiller_.join();
  try {
    return_reserves();
  } catch (const std::exception& e) {
    // Safe either way: the keys stay deleted, so none can be handed out twice.
    spdlog::error("one-time prekeys claimed ahead could not be put back ({}); they are lost", e.what());
  }
}

void SqliteDeviceStore::return_reserves() {
  const std::lock_guard writing(write_mutex_);
  const std::lock_guard reserved(reserve_mutex_);
  if (reserves_.empty()) return;
  auto connection = pool_.acquire();
  sqlite::Transaction transaction(connection->db());
  std::size_t returned = 0, lost = 0;
  for (const auto& [device_row, reserve] : reserves_) {
    for (const auto& [queue, kind] : {std::pair{&reserve.one_time, PrekeyKind::one_time_prekey},
                                      std::pair{&reserve.pq_one_time, PrekeyKind::pq_one_time_prekey}}) {
      if (queue->keys.empty()) continue;
      // Moving the cursor back gives back every key from there to where it is. That is safe only
      // for keys of the last run of our claims, and only if no one (another store or process)
      // has claimed since: then all of them are still here. Older keys stay claimed (lost).
      const std::int64_t back_to = std::max<std::int64_t>(queue->keys.front().key.key.key_id, queue->run_start);
      StatementUse rewind(*connection,
                          "UPDATE one_time_lists SET next_key_id = ? WHERE device_id = ? AND kind = ? AND "
                          "log_index = ? AND next_key_id = ?");
      rewind->bind(1, back_to)
          .bind(2, device_row)
          .bind(3, to_string(kind))
          .bind(4, to_db(queue->keys.front().key.log_index))
          .bind(5, queue->run_end)
          .run();
      const auto in_run = static_cast<std::size_t>(std::count_if(
          queue->keys.begin(), queue->keys.end(), [&](const ReservedKey& key) { return key.key.key.key_id >= back_to; }));
      const std::size_t back = sqlite3_changes(connection->db().handle()) == 1 ? in_run : 0;
      returned += back;
      lost += queue->keys.size() - back;
    }
  }
  transaction.commit();
  reserves_.clear();
  reserved_bytes_ = 0;
  spdlog::debug("{} one-time prekeys claimed ahead were put back", returned);
  if (lost > 0) {
    spdlog::info("{} one-time prekeys claimed ahead stay claimed: another store claimed after them", lost);
  }
}

void SqliteDeviceStore::add_device(const Device& device, const audit::Hash& credential_sha256) {
  check_new_device(device);
  auto connection = pool_.acquire();
  const std::lock_guard writing(write_mutex_);
  sqlite::Transaction transaction(connection->db());
  if (exists(*connection, "SELECT 1 FROM devices WHERE account = ? AND device = ?",
             [&](sqlite::Statement& s) { s.bind(1, device.account).bind(2, device.device); })) {
    throw Error(ErrorKind::conflict, name_of(device.account, device.device) + " exists already");
  }
  if (exists(*connection, "SELECT 1 FROM devices WHERE enrolled_index = ?",
             [&](sqlite::Statement& s) { s.bind(1, to_db(device.enrolled_index)); })) {
    throw Error(ErrorKind::conflict,
                "log entry " + std::to_string(device.enrolled_index) + " enrolled another device");
  }
  if (exists(*connection, "SELECT 1 FROM credentials WHERE sha256 = ?",
             [&](sqlite::Statement& s) { s.bind(1, credential_sha256); })) {
    throw Error(ErrorKind::conflict, "the credential is in use by another device");
  }
  {
    StatementUse insert(*connection,
                        "INSERT INTO devices (account, device, algorithm, token_key_id, "
                        "public_key, public_key_sha256, enrolled_index, enrolled_time) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    insert->bind(1, device.account)
        .bind(2, device.device)
        .bind(3, audit::to_string(device.algorithm))
        .bind_static(4, device.token_key_id)
        .bind_static(5, device.public_key)
        .bind_static(6, device.public_key_sha256)
        .bind(7, to_db(device.enrolled_index))
        .bind(8, to_db(device.enrolled_time))
        .run();
  }
  const std::int64_t device_id = sqlite3_last_insert_rowid(connection->db().handle());
  {
    StatementUse insert(*connection, "INSERT INTO credentials (sha256, device_id) VALUES (?, ?)");
    insert->bind_static(1, credential_sha256).bind(2, device_id).run();
  }
  transaction.commit();
}

std::optional<Device> SqliteDeviceStore::find_device(std::string_view account,
                                                     std::string_view device) {
  check_ids(account, device);
  auto connection = pool_.acquire();
  StatementUse select(*connection, kFindDevice);
  select->bind(1, account).bind(2, device);
  if (!select->step()) return std::nullopt;
  return read_device(*select);
}

std::optional<Device> SqliteDeviceStore::find_device_by_credential(
    std::span<const std::uint8_t> credential_sha256) {
  if (credential_sha256.size() != audit::kHashSize) {
    throw Error(ErrorKind::invalid_input,
                "a credential hash is 32 bytes, got " + std::to_string(credential_sha256.size()));
  }
  auto connection = pool_.acquire();
  return device_by_credential(*connection, credential_sha256);
}

std::vector<Device> SqliteDeviceStore::list_devices(std::string_view account) {
  check_id("account", account);
  auto connection = pool_.acquire();
  StatementUse select(*connection, kListDevices);
  select->bind(1, account);
  std::vector<Device> devices;
  while (select->step()) devices.push_back(read_device(*select));
  return devices;
}

std::uint64_t SqliteDeviceStore::count_active_devices(std::string_view account) {
  check_id("account", account);
  auto connection = pool_.acquire();
  StatementUse select(*connection,
                      "SELECT count(*) FROM devices WHERE account = ? AND revoked_index IS NULL");
  select->bind(1, account);
  select->step();
  return index_from_db(select->column_int(0), "device count");
}

void SqliteDeviceStore::revoke_device(std::string_view account, std::string_view device,
                                      const Revocation& revocation) {
  check_ids(account, device);
  if (revocation.log_index > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw Error(ErrorKind::invalid_input,
                "log index " + std::to_string(revocation.log_index) + " is out of range");
  }
  auto connection = pool_.acquire();
  const std::lock_guard writing(write_mutex_);
  sqlite::Transaction transaction(connection->db());
  const DeviceRow row = require_active_device(*connection, account, device);
  if (to_db(revocation.log_index) <= row.enrolled_index) {
    throw Error(ErrorKind::invalid_input, "revocation in log entry " +
                                              std::to_string(revocation.log_index) +
                                              " does not follow the enrollment in log entry " +
                                              std::to_string(row.enrolled_index));
  }
  {
    StatementUse update(*connection,
                        "UPDATE devices SET revoked_index = ?, revoked_time = ? WHERE id = ?");
    update->bind(1, to_db(revocation.log_index))
        .bind(2, to_db(revocation.time))
        .bind(3, row.id)
        .run();
  }
  for (const std::string_view sql :
       {"DELETE FROM credentials WHERE device_id = ?", "DELETE FROM prekeys WHERE device_id = ?",
        "DELETE FROM prekey_batches WHERE device_id = ?", "DELETE FROM one_time_lists WHERE device_id = ?"}) {
    StatementUse remove(*connection, sql);
    remove->bind(1, row.id).run();
  }
  transaction.commit();
  drop_reserve(row.id, true, true);
}

void SqliteDeviceStore::store_prekeys(std::string_view account, std::string_view device,
                                      const PrekeyUpload& upload) {
  check_ids(account, device);
  check_prekey_upload(upload);
  auto connection = pool_.acquire();
  const std::lock_guard writing(write_mutex_);
  sqlite::Transaction transaction(connection->db());
  const DeviceRow row = require_active_device(*connection, account, device);
  const std::int64_t newest = std::max(row.enrolled_index, row.prekeys_index);
  if (to_db(upload.log_index) <= newest) {
    throw Error(ErrorKind::conflict, "prekeys of log entry " + std::to_string(upload.log_index) +
                                         " are not newer than log entry " + std::to_string(newest) +
                                         " of " + name_of(account, device));
  }
  if (upload.signed_prekey) {
    replace_single(*connection, row.id, PrekeyKind::signed_prekey, *upload.signed_prekey,
                   upload.log_index);
  }
  if (upload.pq_last_resort_prekey) {
    replace_single(*connection, row.id, PrekeyKind::pq_last_resort_prekey,
                   *upload.pq_last_resort_prekey, upload.log_index);
  }
  if (upload.one_time_prekeys) {
    replace_batch(*connection, row.id, PrekeyKind::one_time_prekey, *upload.one_time_prekeys,
                  upload.log_index);
  }
  if (upload.pq_one_time_prekeys) {
    replace_batch(*connection, row.id, PrekeyKind::pq_one_time_prekey, *upload.pq_one_time_prekeys,
                  upload.log_index);
  }
  {
    StatementUse update(*connection, "UPDATE devices SET prekeys_index = ? WHERE id = ?");
    update->bind(1, to_db(upload.log_index)).bind(2, row.id).run();
  }
  transaction.commit();
  // Claimed ahead from the list just replaced: never hand them out now.
  drop_reserve(row.id, upload.one_time_prekeys.has_value(), upload.pq_one_time_prekeys.has_value());
}

OneTimePrekeyCounts SqliteDeviceStore::count_one_time_prekeys(std::string_view account,
                                                              std::string_view device) {
  check_ids(account, device);
  auto connection = pool_.acquire();
  sqlite::ReadTransaction snapshot(connection->db());
  const std::int64_t row_id = require_device(*connection, account, device).id;
  OneTimePrekeyCounts counts = counts_in(*connection, row_id);
  const OneTimePrekeyCounts in_reserve = reserved(row_id);
  counts.one_time += in_reserve.one_time;
  counts.pq_one_time += in_reserve.pq_one_time;
  return counts;
}

std::optional<StoredPrekey> SqliteDeviceStore::claim_one_time_prekey(std::string_view account,
                                                                     std::string_view device,
                                                                     PrekeyKind kind) {
  check_ids(account, device);
  if (!is_one_time(kind)) {
    throw Error(ErrorKind::invalid_input,
                "only one-time prekeys are claimed, not " + std::string(to_string(kind)));
  }
  auto connection = pool_.acquire();
  const std::lock_guard writing(write_mutex_);
  // BEGIN IMMEDIATE takes SQLite's write lock before anything is read, so no other connection,
  // in this process or another, can claim between our choice of key and its deletion.
  sqlite::Transaction transaction(connection->db());
  const DeviceRow row = require_active_device(*connection, account, device);
  Claim claim = claim_in(*connection, row.id, kind, 1);
  if (claim.keys.empty()) return std::nullopt;  // nothing changed; the transaction rolls back
  transaction.commit();
  return std::move(claim.keys.front()).hand_out();
}

CurrentPrekeys SqliteDeviceStore::current_prekeys(std::string_view account,
                                                  std::string_view device) {
  check_ids(account, device);
  auto connection = pool_.acquire();
  sqlite::ReadTransaction snapshot(connection->db());
  return current_in(*connection, require_device(*connection, account, device).id);
}

DeviceStore::BundleMaterial SqliteDeviceStore::take_bundle(std::string_view account, std::string_view device,
                                                           const std::optional<audit::Hash>& reader) {
  check_ids(account, device);
  auto connection = pool_.acquire();
  std::string cache_key = std::string(account) + '\0' + std::string(device);
  std::shared_ptr<const CachedCurrent> cached;
  {
    const std::lock_guard lock(current_mutex_);
    if (const auto found = current_cache_.find(cache_key); found != current_cache_.end()) cached = found->second;
  }
  BundleMaterial material;
  // With the current prekeys cached, one statement is the whole read snapshot: no BEGIN and
  // COMMIT on the hottest read.
  BundleSnapshot snapshot;
  if (cached) snapshot = read_bundle_snapshot(*connection, account, device, reader);
  if (cached && cached->prekeys_index == snapshot.prekeys_index) {
    material.current = cached->current;
  } else {
    // Not cached, or new prekeys since: the device and its current prekeys, read together.
    const sqlite::ReadTransaction together(connection->db());
    snapshot = read_bundle_snapshot(*connection, account, device, reader);
    material.current = current_in(*connection, snapshot.row_id);
    remember_current(std::move(cache_key), snapshot.prekeys_index, material.current);
  }
  material.device = std::move(snapshot.device);
  const std::int64_t row_id = snapshot.row_id;
  const bool stored_one_time = snapshot.one_time, stored_pq_one_time = snapshot.pq_one_time;
  std::size_t ahead = kClaimAhead;
  bool refill_x25519 = false, refill_pq = false;
  {
    std::unique_lock reserved(reserve_mutex_);
    const auto take = [&] {
      const auto found = reserves_.find(row_id);
      if (found == reserves_.end()) return;
      Reserve& reserve = found->second;
      if (!material.claimed.one_time && take_reserved(reserve.one_time, material.claimed.one_time)) {
        refill_x25519 = reserve.one_time.keys.size() == kRefillAt;
      }
      if (!material.claimed.pq_one_time && take_reserved(reserve.pq_one_time, material.claimed.pq_one_time)) {
        refill_pq = reserve.pq_one_time.keys.size() == kRefillAt;
      }
      if (reserve.empty()) reserves_.erase(found);
    };
    take();
    // A kind that neither the snapshot nor the reserve had may be on its way into the reserve
    // (claimed and committed after the snapshot): wait for it rather than go out without one.
    const auto arriving = [&] {
      return (!material.claimed.one_time && !stored_one_time &&
              in_flight_.contains({row_id, PrekeyKind::one_time_prekey})) ||
             (!material.claimed.pq_one_time && !stored_pq_one_time &&
              in_flight_.contains({row_id, PrekeyKind::pq_one_time_prekey}));
    };
    if (arriving()) {
      reserve_changed_.wait(reserved, [&] { return !arriving(); });
      take();
    }
    if (reserved_bytes_ >= max_reserved_bytes_) {
      ahead = 1;  // memory bound: claim one at a time, and refill nothing
      refill_x25519 = refill_pq = false;
    }
  }
  if (refill_x25519 || refill_pq) {
    {
      const std::lock_guard queue(claim_mutex_);
      Refill& queued = refills_[row_id];
      queued.account = account;
      queued.device = device;
      queued.x25519 = queued.x25519 || refill_x25519;
      queued.pq = queued.pq || refill_pq;
    }
    claims_written_.notify_all();
  }
  const bool claim_x25519 = !material.claimed.one_time && stored_one_time;
  const bool claim_pq = !material.claimed.pq_one_time && stored_pq_one_time;
  if (!claim_x25519 && !claim_pq) return material;  // no write, no fsync

  ClaimRequest request;
  request.account = account;
  request.device = device;
  request.x25519 = claim_x25519;
  request.pq = claim_pq;
  request.ahead = ahead;
  claim_together(request);
  // The device may have been revoked or given new prekeys since the snapshot: the bundle is the
  // state read again in the claim's write transaction.
  material.current = std::move(request.current);
  if (claim_x25519) material.claimed.one_time = std::move(request.claimed.one_time);
  if (claim_pq) material.claimed.pq_one_time = std::move(request.claimed.pq_one_time);
  return material;
}

void SqliteDeviceStore::claim_together(ClaimRequest& request) {
  std::unique_lock queue(claim_mutex_);
  claim_queue_.push_back(&request);
  while (!request.done) {
    if (claim_leader_) {
      claims_written_.wait(queue);
    } else {
      lead_group(queue);
    }
  }
  if (request.error) std::rethrow_exception(request.error);
}

void SqliteDeviceStore::lead_group(std::unique_lock<std::mutex>& queue) {
  claim_leader_ = true;
  std::vector<ClaimRequest*> group = std::exchange(claim_queue_, {});
  const std::map<std::int64_t, Refill> refills = std::exchange(refills_, {});
  queue.unlock();
  std::vector<ClaimRequest> refill_requests(refills.size());
  std::size_t i = 0;
  for (const auto& [row_id, refill] : refills) {
    ClaimRequest& request = refill_requests[i++];
    request.account = refill.account;
    request.device = refill.device;
    request.x25519 = refill.x25519;
    request.pq = refill.pq;
    request.ahead = kClaimAhead;
    request.take = false;
    group.push_back(&request);
  }
  write_claims(group);  // reports every failure in the requests
  for (const ClaimRequest& request : refill_requests) {
    if (request.error) spdlog::debug("a refill of one-time prekeys claimed ahead failed; bundles will claim");
  }
  queue.lock();
  for (ClaimRequest* member : group) member->done = true;
  claim_leader_ = false;
  claims_written_.notify_all();
}

void SqliteDeviceStore::run_refiller() {
  std::unique_lock queue(claim_mutex_);
  while (true) {
    claims_written_.wait(queue, [this] { return stopping_ || (!refills_.empty() && !claim_leader_); });
    if (stopping_) return;
    lead_group(queue);
  }
}

void SqliteDeviceStore::write_claims(const std::vector<ClaimRequest*>& group) {
  struct Claimed {
    std::int64_t row_id = 0;
    Claim x25519, pq;
  };
  std::vector<Claimed> claimed(group.size());
  const std::lock_guard writing(write_mutex_);
  try {
    if (!claim_writer_) {
      claim_writer_ = std::make_unique<Connection>(sqlite::Database::open(pool_.path(), false));
      claim_writer_->db().exec("PRAGMA cache_size = -8192");  // 8 MiB
    }
  } catch (...) {
    for (ClaimRequest* request : group) request->error = std::current_exception();
    return;
  }
  Connection& connection = *claim_writer_;
  // A connection left inside a transaction (its ROLLBACK failed) is closed, never reused.
  struct Check {
    std::unique_ptr<Connection>& writer;
    ~Check() {
      if (writer && sqlite3_get_autocommit(writer->db().handle()) == 0) writer.reset();
    }
  } check{claim_writer_};
  try {
    // BEGIN IMMEDIATE takes SQLite's write lock before anything is read, so no other connection,
    // in this process or another, can claim between our choice of keys and their deletion.
    sqlite::Transaction transaction(connection.db());
    // Keys claimed ahead in this group per device and kind that no request has spoken for yet.
    std::map<std::int64_t, std::pair<std::size_t, std::size_t>> spare;
    for (std::size_t i = 0; i < group.size(); ++i) {
      ClaimRequest& request = *group[i];
      connection.db().exec("SAVEPOINT claim");
      try {
        const DeviceRow row = require_active_device(connection, request.account, request.device);
        request.current = current_in(connection, row.id);
        auto [spare_x25519, spare_pq] = spare[row.id];
        const auto claim = [&](bool wanted, std::size_t& spare_keys, PrekeyKind kind) {
          Claim made;
          if (!wanted) return made;
          if (request.take && spare_keys > 0) {
            --spare_keys;
          } else {
            made = claim_in(connection, row.id, kind, request.ahead);
            spare_keys += made.keys.size() - (request.take && !made.keys.empty() ? 1 : 0);
          }
          return made;
        };
        claimed[i] = {row.id, claim(request.x25519, spare_x25519, PrekeyKind::one_time_prekey),
                      claim(request.pq, spare_pq, PrekeyKind::pq_one_time_prekey)};
        connection.db().exec("RELEASE claim");
        {
          const std::lock_guard reserved(reserve_mutex_);
          if (!claimed[i].x25519.keys.empty()) in_flight_.insert({row.id, PrekeyKind::one_time_prekey});
          if (!claimed[i].pq.keys.empty()) in_flight_.insert({row.id, PrekeyKind::pq_one_time_prekey});
        }
        spare[row.id] = {spare_x25519, spare_pq};
      } catch (...) {
        request.error = std::current_exception();
        claimed[i] = {};
        connection.db().exec("ROLLBACK TO claim");
        connection.db().exec("RELEASE claim");
      }
    }
    transaction.commit();
  } catch (...) {
    // Rolled back: nothing was claimed, so nothing is handed out.
    for (ClaimRequest* request : group) {
      if (!request->error) request->error = std::current_exception();
    }
    {
      const std::lock_guard reserved(reserve_mutex_);
      for (const Claimed& c : claimed) forget_in_flight(c.row_id);
    }
    reserve_changed_.notify_all();
    return;
  }
  // Still under write_mutex_: an upload or revocation can't drop a device's reserve before the
  // keys claimed for it are in it. In group order, so a request counted on an earlier one's
  // spare keys finds them.
  const std::lock_guard reserved(reserve_mutex_);
  for (std::size_t i = 0; i < group.size(); ++i) {
    ClaimRequest& request = *group[i];
    if (request.error) continue;
    Reserve& reserve = reserves_[claimed[i].row_id];
    add_to_reserve(reserve.one_time, std::move(claimed[i].x25519));
    add_to_reserve(reserve.pq_one_time, std::move(claimed[i].pq));
    if (request.take && request.x25519) take_reserved(reserve.one_time, request.claimed.one_time);
    if (request.take && request.pq) take_reserved(reserve.pq_one_time, request.claimed.pq_one_time);
    if (reserve.empty()) reserves_.erase(claimed[i].row_id);
  }
  for (const Claimed& c : claimed) forget_in_flight(c.row_id);
  reserve_changed_.notify_all();
}

std::uint64_t SqliteDeviceStore::reconciled_log_size() {
  auto connection = pool_.acquire();
  StatementUse select(*connection, "SELECT value FROM meta WHERE key = 'reconciled_log_size'");
  if (!select->step()) return 0;
  const std::string value = select->column_text(0);
  std::uint64_t size = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), size);
  if (error != std::errc() || end != value.data() + value.size()) corrupt("reconciled log size");
  return size;
}

void SqliteDeviceStore::set_reconciled_log_size(std::uint64_t size) {
  to_db(size);  // refuses what SQLite's integers can't hold, like every log index
  auto connection = pool_.acquire();
  const std::lock_guard writing(write_mutex_);
  StatementUse upsert(*connection,
                      "INSERT INTO meta (key, value) VALUES ('reconciled_log_size', ?) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  upsert->bind(1, std::to_string(size)).run();
}

std::uint64_t SqliteDeviceStore::log_size_needed() {
  auto connection = pool_.acquire();
  // max() of no rows and of NULLs is NULL; coalesce(.., -1) + 1 makes that 0.
  StatementUse select(*connection,
                      "SELECT coalesce(max(max(enrolled_index), coalesce(max(revoked_index), -1), "
                      "coalesce(max(prekeys_index), -1)), -1) + 1 FROM devices");
  select->step();
  return index_from_db(select->column_int(0), "log index");
}

void SqliteDeviceStore::drop_reserve(std::int64_t device_row, bool one_time, bool pq_one_time) {
  const std::lock_guard reserved(reserve_mutex_);
  const auto found = reserves_.find(device_row);
  if (found == reserves_.end()) return;
  for (auto [drop, queue] : {std::pair{one_time, &found->second.one_time}, std::pair{pq_one_time, &found->second.pq_one_time}}) {
    if (!drop) continue;
    for (const ReservedKey& key : queue->keys) reserved_bytes_ -= key.bytes;
    *queue = {};
  }
  if (found->second.empty()) reserves_.erase(found);
}

OneTimePrekeyCounts SqliteDeviceStore::reserved(std::int64_t device_row) {
  const std::lock_guard reserved(reserve_mutex_);
  const auto found = reserves_.find(device_row);
  if (found == reserves_.end()) return {};
  return {found->second.one_time.keys.size(), found->second.pq_one_time.keys.size()};
}

void SqliteDeviceStore::add_to_reserve(Queue& queue, Claim claimed) {
  if (claimed.keys.empty()) return;
  if (claimed.from != queue.run_end) queue.run_start = claimed.keys.front().key.key.key_id;  // a new run
  queue.run_end = claimed.to;
  for (ReservedKey& key : claimed.keys) {
    reserved_bytes_ += key.bytes;
    queue.keys.push_back(std::move(key));
  }
}

bool SqliteDeviceStore::take_reserved(Queue& queue, std::optional<StoredPrekey>& into) {
  if (queue.keys.empty()) return false;
  // Handed out in place, into the caller's optional: moving a StoredPrekey through a returned
  // std::optional is what GCC 12 at -O1 with ThreadSanitizer wrongly reports as maybe
  // uninitialized.
  reserved_bytes_ -= queue.keys.front().bytes;
  into.emplace(std::move(queue.keys.front()).hand_out());
  queue.keys.pop_front();
  return true;
}

void SqliteDeviceStore::forget_in_flight(std::int64_t device_row) {
  in_flight_.erase({device_row, PrekeyKind::one_time_prekey});
  in_flight_.erase({device_row, PrekeyKind::pq_one_time_prekey});
}

void SqliteDeviceStore::remember_current(std::string key, std::int64_t prekeys_index, const CurrentPrekeys& current) {
  auto entry = std::make_shared<const CachedCurrent>(CachedCurrent{prekeys_index, current});
  const std::lock_guard lock(current_mutex_);
  if (current_cache_.size() >= kMaxCachedCurrent) current_cache_.clear();
  current_cache_[std::move(key)] = std::move(entry);
}

std::size_t SqliteDeviceStore::reserved_bytes() {
  const std::lock_guard reserved(reserve_mutex_);
  return reserved_bytes_;
}

}  // namespace escrowless::keyservice
