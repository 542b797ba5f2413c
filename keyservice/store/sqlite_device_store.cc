#include "keyservice/store/sqlite_device_store.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <utility>

#include "keyservice/error.h"
#include "keyservice/store/sqlite_device_rows.h"
#include "keyservice/store/sqlite_device_schema.h"
#include "keyservice/store/sqlite_pool.h"

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

// Of device `d`'s one-time list of `kind`: whether it has an unclaimed key, and its log index
// (NULL: no list). One row of one_time_lists each.
std::string list_state(std::string_view kind) {
  const std::string where = " FROM one_time_lists l WHERE l.device_id = d.id AND l.kind = '" + std::string(kind) + "'";
  return "EXISTS (SELECT 1" + where + " AND l.next_key_id <= l.last_key_id), (SELECT l.log_index" + where + ")";
}
const std::string kCurrentPrekeys = "SELECT kind, " + std::string(kPrekeyColumns) +
                                    " FROM prekeys WHERE device_id = ? AND kind IN "
                                    "('signed_prekey', 'pq_last_resort_prekey')";
// bundle_snapshot()'s read, one row (none if there is no such device): the device, its
// prekeys_index, its one-time lists' states, and the stored hash of credential ?3 if that is an
// active device's (NULL if not, or if ?3 is NULL).
const std::string kBundleSnapshot =
    "SELECT " + std::string(kDeviceColumns) + ", d.prekeys_index, " + list_state("one_time_prekey") + ", " +
    list_state("pq_one_time_prekey") +
    ", (SELECT c.sha256 FROM credentials c JOIN devices r ON r.id = c.device_id "
    "WHERE c.sha256 = ?3 AND r.revoked_index IS NULL) FROM devices d WHERE d.account = ?1 AND d.device = ?2";

// The active device whose credential's hash is `credential_sha256`, if any.
std::optional<Device> device_by_credential(Connection& connection, std::span<const std::uint8_t> credential_sha256) {
  StatementUse select(connection, kFindByCredential);
  select->bind(1, credential_sha256);
  if (!select->step() || !same_credential(select->column_blob_view(kDeviceColumnCount), credential_sha256)) {
    return std::nullopt;
  }
  return read_device(*select);
}

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
  if (reader && !(found ? same_credential(select->column_blob_view(kDeviceColumnCount + 5), *reader)
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
  if (!select->column_is_null(kDeviceColumnCount + 2)) snapshot.one_time_list = select->column_int(kDeviceColumnCount + 2);
  snapshot.pq_one_time = select->column_int(kDeviceColumnCount + 3) != 0;
  if (!select->column_is_null(kDeviceColumnCount + 4)) snapshot.pq_one_time_list = select->column_int(kDeviceColumnCount + 4);
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

// Up to `limit` unclaimed keys of the device's `kind` list, claimed. The caller holds a write
// transaction.
Claim claim_in(Connection& connection, std::int64_t device_id, PrekeyKind kind, std::size_t limit) {
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
  std::vector<ClaimedRow> claimed;
  std::int64_t batch_id = -1;
  {
    StatementUse select(connection, kClaim);
    select->bind(1, device_id).bind(2, to_string(kind)).bind(3, result.from).bind(4, static_cast<std::int64_t>(limit));
    while (select->step()) {
      if (select->column_is_null(4) || select->column_is_null(5)) corrupt("one-time prekey");
      // A list is one uploaded batch.
      if (batch_id != -1 && batch_id != select->column_int(4)) corrupt("one-time prekey list (two batches)");
      batch_id = select->column_int(4);
      claimed.push_back({read_prekey(*select, 0, kind), select->column_int(5)});
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
  result.keys = reserve_keys(std::move(claimed),
                             std::make_shared<const std::vector<audit::Hash>>(read_batch_leaves(connection, batch_id)));
  return result;
}

class SqliteClaimTransaction final : public ClaimTransaction {
 public:
  explicit SqliteClaimTransaction(Connection& connection) : connection_(connection) {}
  void member(const std::function<void()>& member) override {
    connection_.db().exec("SAVEPOINT claim");
    try {
      member();
    } catch (...) {
      connection_.db().exec("ROLLBACK TO claim");
      connection_.db().exec("RELEASE claim");
      throw;
    }
    connection_.db().exec("RELEASE claim");
  }
  std::int64_t active_device(std::string_view account, std::string_view device) override {
    return require_active_device(connection_, account, device).id;
  }
  CurrentPrekeys current(std::int64_t row) override { return current_in(connection_, row); }
  Claim claim(std::int64_t row, PrekeyKind kind, std::size_t limit) override {
    return claim_in(connection_, row, kind, limit);
  }

 private:
  Connection& connection_;
};

class SqliteDeviceBackend final : public DeviceBackend {
 public:
  explicit SqliteDeviceBackend(const std::string& path) : pool_(path, kMaxIdleConnections) {}

  void add_device(const Device& device, const audit::Hash& credential_sha256) override;
  std::optional<Device> find_device(std::string_view account, std::string_view device) override {
    auto connection = pool_.acquire();
    StatementUse select(*connection, kFindDevice);
    select->bind(1, account).bind(2, device);
    if (!select->step()) return std::nullopt;
    return read_device(*select);
  }
  std::optional<Device> find_device_by_credential(std::span<const std::uint8_t> credential_sha256) override {
    auto connection = pool_.acquire();
    return device_by_credential(*connection, credential_sha256);
  }
  std::vector<Device> list_devices(std::string_view account) override {
    auto connection = pool_.acquire();
    StatementUse select(*connection, kListDevices);
    select->bind(1, account);
    std::vector<Device> devices;
    while (select->step()) devices.push_back(read_device(*select));
    return devices;
  }
  std::uint64_t count_active_devices(std::string_view account) override {
    auto connection = pool_.acquire();
    StatementUse select(*connection, "SELECT count(*) FROM devices WHERE account = ? AND revoked_index IS NULL");
    select->bind(1, account);
    select->step();
    return index_from_db(select->column_int(0), "device count");
  }
  void revoke_device(std::string_view account, std::string_view device, const Revocation& revocation,
                     const Committed& committed) override;
  void store_prekeys(std::string_view account, std::string_view device, const PrekeyUpload& upload,
                     const Committed& committed) override;
  std::pair<OneTimePrekeyCounts, std::int64_t> count_one_time_prekeys(std::string_view account,
                                                                      std::string_view device) override {
    auto connection = pool_.acquire();
    sqlite::ReadTransaction snapshot(connection->db());
    const std::int64_t row = require_device(*connection, account, device).id;
    return {counts_in(*connection, row), row};
  }
  CurrentPrekeys current_prekeys(std::string_view account, std::string_view device) override {
    auto connection = pool_.acquire();
    sqlite::ReadTransaction snapshot(connection->db());
    return current_in(*connection, require_device(*connection, account, device).id);
  }
  BundleSnapshot bundle_snapshot(std::string_view account, std::string_view device,
                                 const std::optional<audit::Hash>& reader, bool with_current) override {
    auto connection = pool_.acquire();
    if (!with_current) return read_bundle_snapshot(*connection, account, device, reader);
    const sqlite::ReadTransaction together(connection->db());
    BundleSnapshot snapshot = read_bundle_snapshot(*connection, account, device, reader);
    snapshot.current = current_in(*connection, snapshot.row_id);
    return snapshot;
  }
  void write_claims(const std::function<void(ClaimTransaction&)>& body,
                    const std::function<void()>& committed) override;
  std::vector<bool> put_back(std::span<const Rewind> rewinds) override;
  std::uint64_t reconciled_log_size() override;
  void set_reconciled_log_size(std::uint64_t size) override {
    auto connection = pool_.acquire();
    const std::lock_guard writing(write_mutex_);
    StatementUse upsert(*connection,
                        "INSERT INTO meta (key, value) VALUES ('reconciled_log_size', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    upsert->bind(1, std::to_string(size)).run();
  }
  std::uint64_t log_size_needed() override {
    auto connection = pool_.acquire();
    // max() of no rows and of NULLs is NULL; coalesce(.., -1) + 1 makes that 0.
    StatementUse select(*connection,
                        "SELECT coalesce(max(max(enrolled_index), coalesce(max(revoked_index), -1), "
                        "coalesce(max(prekeys_index), -1)), -1) + 1 FROM devices");
    select->step();
    return index_from_db(select->column_int(0), "log index");
  }

 private:
  sqlite::ConnectionPool pool_;
  // Held around every write transaction of this process (see sqlite_device_store.h).
  std::mutex write_mutex_;
  std::unique_ptr<Connection> claim_writer_;  // under write_mutex_
};

void SqliteDeviceBackend::add_device(const Device& device, const audit::Hash& credential_sha256) {
  auto connection = pool_.acquire();
  const std::lock_guard writing(write_mutex_);
  sqlite::Transaction transaction(connection->db());
  if (exists(*connection, "SELECT 1 FROM devices WHERE account = ? AND device = ?",
             [&](sqlite::Statement& s) { s.bind(1, device.account).bind(2, device.device); })) {
    throw Error(ErrorKind::conflict, name_of(device.account, device.device) + " exists already");
  }
  if (exists(*connection, "SELECT 1 FROM devices WHERE enrolled_index = ?",
             [&](sqlite::Statement& s) { s.bind(1, to_db(device.enrolled_index)); })) {
    throw Error(ErrorKind::conflict, "log entry " + std::to_string(device.enrolled_index) + " enrolled another device");
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

void SqliteDeviceBackend::revoke_device(std::string_view account, std::string_view device,
                                        const Revocation& revocation, const Committed& committed) {
  auto connection = pool_.acquire();
  const std::lock_guard writing(write_mutex_);
  sqlite::Transaction transaction(connection->db());
  const DeviceRow row = require_active_device(*connection, account, device);
  if (to_db(revocation.log_index) <= row.enrolled_index) {
    throw Error(ErrorKind::invalid_input, "revocation in log entry " + std::to_string(revocation.log_index) +
                                              " does not follow the enrollment in log entry " +
                                              std::to_string(row.enrolled_index));
  }
  {
    StatementUse update(*connection, "UPDATE devices SET revoked_index = ?, revoked_time = ? WHERE id = ?");
    update->bind(1, to_db(revocation.log_index)).bind(2, to_db(revocation.time)).bind(3, row.id).run();
  }
  for (const std::string_view sql :
       {"DELETE FROM credentials WHERE device_id = ?", "DELETE FROM prekeys WHERE device_id = ?",
        "DELETE FROM prekey_batches WHERE device_id = ?", "DELETE FROM one_time_lists WHERE device_id = ?"}) {
    StatementUse remove(*connection, sql);
    remove->bind(1, row.id).run();
  }
  transaction.commit();
  committed(row.id);
}

void SqliteDeviceBackend::store_prekeys(std::string_view account, std::string_view device,
                                        const PrekeyUpload& upload, const Committed& committed) {
  auto connection = pool_.acquire();
  const std::lock_guard writing(write_mutex_);
  sqlite::Transaction transaction(connection->db());
  const DeviceRow row = require_active_device(*connection, account, device);
  const std::int64_t newest = std::max(row.enrolled_index, row.prekeys_index);
  if (to_db(upload.log_index) <= newest) {
    throw Error(ErrorKind::conflict, "prekeys of log entry " + std::to_string(upload.log_index) +
                                         " are not newer than log entry " + std::to_string(newest) + " of " +
                                         name_of(account, device));
  }
  if (upload.signed_prekey) {
    replace_single(*connection, row.id, PrekeyKind::signed_prekey, *upload.signed_prekey, upload.log_index);
  }
  if (upload.pq_last_resort_prekey) {
    replace_single(*connection, row.id, PrekeyKind::pq_last_resort_prekey, *upload.pq_last_resort_prekey,
                   upload.log_index);
  }
  if (upload.one_time_prekeys) {
    replace_batch(*connection, row.id, PrekeyKind::one_time_prekey, *upload.one_time_prekeys, upload.log_index);
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
  committed(row.id);
}

void SqliteDeviceBackend::write_claims(const std::function<void(ClaimTransaction&)>& body,
                                       const std::function<void()>& committed) {
  const std::lock_guard writing(write_mutex_);
  if (!claim_writer_) {
    claim_writer_ = std::make_unique<Connection>(sqlite::Database::open(pool_.path(), false));
    claim_writer_->db().exec("PRAGMA cache_size = -8192");  // 8 MiB
  }
  // A connection left inside a transaction (its ROLLBACK failed) is closed, never reused.
  struct Check {
    std::unique_ptr<Connection>& writer;
    ~Check() {
      if (writer && sqlite3_get_autocommit(writer->db().handle()) == 0) writer.reset();
    }
  } check{claim_writer_};
  Connection& connection = *claim_writer_;
  {
    // BEGIN IMMEDIATE takes SQLite's write lock before anything is read, so no other connection,
    // in this process or another, can claim between our choice of keys and moving the cursor.
    sqlite::Transaction transaction(connection.db());
    SqliteClaimTransaction claims(connection);
    body(claims);
    transaction.commit();
  }
  committed();
}

std::vector<bool> SqliteDeviceBackend::put_back(std::span<const Rewind> rewinds) {
  const std::lock_guard writing(write_mutex_);
  auto connection = pool_.acquire();
  sqlite::Transaction transaction(connection->db());
  std::vector<bool> done;
  for (const Rewind& rewind : rewinds) {
    StatementUse update(*connection,
                        "UPDATE one_time_lists SET next_key_id = ? WHERE device_id = ? AND kind = ? AND "
                        "log_index = ? AND next_key_id = ?");
    update->bind(1, rewind.back_to)
        .bind(2, rewind.row)
        .bind(3, to_string(rewind.kind))
        .bind(4, rewind.list_index)
        .bind(5, rewind.run_end)
        .run();
    done.push_back(sqlite3_changes(connection->db().handle()) == 1);
  }
  transaction.commit();
  return done;
}

std::uint64_t SqliteDeviceBackend::reconciled_log_size() {
  auto connection = pool_.acquire();
  StatementUse select(*connection, "SELECT value FROM meta WHERE key = 'reconciled_log_size'");
  if (!select->step()) return 0;
  const std::string value = select->column_text(0);
  std::uint64_t size = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), size);
  if (error != std::errc() || end != value.data() + value.size()) corrupt("reconciled log size");
  return size;
}

}  // namespace

std::unique_ptr<SqliteDeviceStore> SqliteDeviceStore::open(const std::string& path, bool create,
                                                           std::size_t max_reserved_bytes) {
  if (!create && !std::filesystem::exists(path)) throw Error(ErrorKind::not_found, "no devices database at " + path);
  {
    sqlite::Database db = sqlite::Database::open(path, create);
    sqlite::Transaction transaction(db);
    prepare_device_schema(db, path, create);
    transaction.commit();
  }
  return std::unique_ptr<SqliteDeviceStore>(
      new SqliteDeviceStore(std::make_unique<SqliteDeviceBackend>(path), max_reserved_bytes));
}

std::unique_ptr<SqliteDeviceStore> SqliteDeviceStore::open(const std::string& path, bool create) {
  return open(path, create, kMaxReservedBytes);
}

}  // namespace escrowless::keyservice
