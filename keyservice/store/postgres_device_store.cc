#include "keyservice/store/postgres_device_store.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>
#include <string>
#include <utility>

#include "audit/error.h"
#include "audit/prekey_batch.h"
#include "keyservice/error.h"
#include "keyservice/store/postgres_device_schema.h"
#include "keyservice/store/postgres_pool.h"

namespace escrowless::keyservice {
namespace {

using postgresql::Connection;
using postgresql::Params;
using postgresql::Result;

constexpr std::size_t kMaxIdleConnections = 64;

[[noreturn]] void corrupt(const std::string& what) {
  throw Error(ErrorKind::integrity, "the PostgreSQL device store holds a malformed " + what);
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
audit::EntryTime time_from_db(std::int64_t value) { return audit::EntryTime(std::chrono::milliseconds(value)); }
audit::Hash hash_from_db(std::span<const std::uint8_t> bytes, const char* what) {
  if (bytes.size() != audit::kHashSize) corrupt(what);
  audit::Hash hash{};
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  return hash;
}
std::vector<std::uint8_t> vec(std::span<const std::uint8_t> bytes) { return {bytes.begin(), bytes.end()}; }

// The columns read_device() reads from `first` on, of the devices table named `d`.
constexpr std::string_view kDeviceColumns =
    "d.id, d.account, d.device, d.algorithm, d.token_key_id, d.public_key, d.public_key_sha256, "
    "d.enrolled_index, d.enrolled_time, d.revoked_index, d.revoked_time";
constexpr int kDeviceColumnCount = 11;
// The columns read_prekey() reads, in its order.
constexpr std::string_view kPrekeyColumns = "key_id, public_key, signature, log_index";

Device read_device(const Result& r, int row) {
  Device device;
  device.account = r.text(row, 1);
  device.device = r.text(row, 2);
  try {
    device.algorithm = audit::parse_key_algorithm(r.text(row, 3));
  } catch (const audit::Error&) {
    corrupt("device algorithm");
  }
  device.token_key_id = vec(r.bytes(row, 4));
  device.public_key = vec(r.bytes(row, 5));
  device.public_key_sha256 = hash_from_db(r.bytes(row, 6), "device public_key_sha256");
  device.enrolled_index = index_from_db(r.int64(row, 7), "device enrolled_index");
  device.enrolled_time = time_from_db(r.int64(row, 8));
  if (!r.is_null(row, 9)) {
    device.revocation = Revocation{index_from_db(r.int64(row, 9), "device revoked_index"), time_from_db(r.int64(row, 10))};
  }
  return device;
}

StoredPrekey read_prekey(const Result& r, int row, int first, PrekeyKind kind) {
  StoredPrekey prekey;
  prekey.kind = kind;
  const std::int64_t key_id = r.int64(row, first);
  if (key_id < 0 || key_id > std::numeric_limits<std::uint32_t>::max()) corrupt("prekey key id");
  prekey.key.key_id = static_cast<std::uint32_t>(key_id);
  prekey.key.public_key = vec(r.bytes(row, first + 1));
  prekey.key.signature = vec(r.bytes(row, first + 2));
  if (prekey.key.public_key.size() != audit::prekey_size(kind) ||
      prekey.key.signature.size() != audit::kPrekeySignatureSize) {
    corrupt("prekey");
  }
  prekey.log_index = index_from_db(r.int64(row, first + 3), "prekey log_index");
  return prekey;
}

const std::string kCurrentJoin =
    " LEFT JOIN prekeys s ON s.device_id = d.id AND s.kind = 'signed_prekey'"
    " LEFT JOIN prekeys q ON q.device_id = d.id AND q.kind = 'pq_last_resort_prekey'";
std::string current_columns() {
  std::string out;
  for (const char* t : {"s", "q"}) {
    for (const char* c : {"key_id", "public_key", "signature", "log_index"}) out += std::string(", ") + t + "." + c;
  }
  return out;
}

// The current prekeys in 8 columns from `first` (current_columns()), NULL where none.
CurrentPrekeys read_current(const Result& r, int row, int first) {
  CurrentPrekeys current;
  if (!r.is_null(row, first)) current.signed_prekey = read_prekey(r, row, first, PrekeyKind::signed_prekey);
  if (!r.is_null(row, first + 4)) {
    current.pq_last_resort_prekey = read_prekey(r, row, first + 4, PrekeyKind::pq_last_resort_prekey);
  }
  return current;
}

// Of device `d`'s one-time list of `kind`: whether it has an unclaimed key (0 or 1), and its log
// index (NULL: none).
std::string list_state(std::string_view kind) {
  const std::string where = " FROM one_time_lists l WHERE l.device_id = d.id AND l.kind = '" + std::string(kind) + "'";
  return "(EXISTS (SELECT 1" + where + " AND l.next_key_id <= l.last_key_id))::int, (SELECT l.log_index" + where + ")";
}

// The whole of a bundle's read, one statement: device, prekeys_index, list states, the stored
// hash of credential $3 if that is an active device's; with_current adds the current prekeys.
std::string snapshot_sql(bool with_current) {
  return "SELECT " + std::string(kDeviceColumns) + ", d.prekeys_index, " + list_state("one_time_prekey") + ", " +
         list_state("pq_one_time_prekey") +
         ", (SELECT c.sha256 FROM credentials c JOIN devices r ON r.id = c.device_id "
         "WHERE c.sha256 = $3 AND r.revoked_index IS NULL)" +
         (with_current ? current_columns() : "") + " FROM devices d" + (with_current ? kCurrentJoin : "") +
         " WHERE d.account = $1 AND d.device = $2";
}

const std::string kFindByCredential = "SELECT " + std::string(kDeviceColumns) +
                                      ", c.sha256 FROM credentials c JOIN devices d ON d.id = c.device_id "
                                      "WHERE c.sha256 = $1 AND d.revoked_index IS NULL";

std::optional<Device> device_by_credential(Connection& db, std::span<const std::uint8_t> credential_sha256) {
  const Result r = db.query_prepared("by_credential", kFindByCredential, Params().add_bytes(credential_sha256));
  if (r.rows() != 1 || !same_credential(r.bytes(0, kDeviceColumnCount), credential_sha256)) return std::nullopt;
  return read_device(r, 0);
}

struct DeviceRow {
  std::int64_t id = 0;
  std::int64_t enrolled_index = 0;
  std::int64_t prekeys_index = -1;
};

// The device's row, locked (`lock`: "FOR UPDATE", "FOR SHARE"); Error(not_found), and
// Error(conflict) if revoked.
DeviceRow require_active(Connection& db, std::string_view account, std::string_view device, const char* lock) {
  const Result r = db.query("SELECT id, enrolled_index, prekeys_index, (revoked_index IS NOT NULL)::int FROM devices "
                            "WHERE account = $1 AND device = $2 " + std::string(lock),
                            Params().add_text(account).add_text(device));
  if (r.rows() != 1) throw Error(ErrorKind::not_found, "no " + name_of(account, device));
  if (r.int32(0, 3) != 0) throw Error(ErrorKind::conflict, name_of(account, device) + " is revoked");
  return {r.int64(0, 0), r.int64(0, 1), r.is_null(0, 2) ? -1 : r.int64(0, 2)};
}

CurrentPrekeys current_of(Connection& db, std::int64_t row) {
  const Result r = db.query("SELECT d.id" + current_columns() + " FROM devices d" + kCurrentJoin + " WHERE d.id = $1",
                            Params().add(row));
  if (r.rows() != 1) throw Error(ErrorKind::not_found, "the device is gone");
  return read_current(r, 0, 1);
}

void replace_prekeys(Connection& db, std::int64_t device_id, PrekeyKind kind) {
  const std::string k(to_string(kind));
  if (is_one_time(kind)) {
    db.query("DELETE FROM one_time_lists WHERE device_id = $1 AND kind = $2", Params().add(device_id).add_text(k));
  }
  db.query("DELETE FROM prekeys WHERE device_id = $1 AND kind = $2", Params().add(device_id).add_text(k));
  if (is_one_time(kind)) {
    db.query("DELETE FROM prekey_batches WHERE device_id = $1 AND kind = $2", Params().add(device_id).add_text(k));
  }
}

void replace_single(Connection& db, std::int64_t device_id, PrekeyKind kind, const audit::SignedPrekey& key,
                    std::uint64_t log_index) {
  replace_prekeys(db, device_id, kind);
  db.query("INSERT INTO prekeys (device_id, kind, key_id, public_key, signature, log_index) "
           "VALUES ($1, $2, $3, $4, $5, $6)",
           Params()
               .add(device_id)
               .add_text(to_string(kind))
               .add(std::int64_t{key.key_id})
               .add_bytes(key.public_key)
               .add_bytes(key.signature)
               .add(to_db(log_index)));
}

void replace_batch(Connection& db, std::int64_t device_id, PrekeyKind kind, const std::vector<audit::SignedPrekey>& keys,
                   std::uint64_t log_index) {
  replace_prekeys(db, device_id, kind);
  // The leaves the entry's batch root covers, by the one definition clients check against.
  std::vector<std::uint8_t> leaf_hashes;
  leaf_hashes.reserve(keys.size() * audit::kHashSize);
  for (const audit::SignedPrekey& key : keys) {
    const audit::Hash hash = audit::prekey_batch_leaf_hash(kind, key.key_id, key.public_key, key.signature);
    leaf_hashes.insert(leaf_hashes.end(), hash.begin(), hash.end());
  }
  const std::string k(to_string(kind));
  const std::int64_t batch_id =
      db.query("INSERT INTO prekey_batches (device_id, log_index, kind, leaf_hashes) VALUES ($1, $2, $3, $4) RETURNING id",
               Params().add(device_id).add(to_db(log_index)).add_text(k).add_bytes(leaf_hashes))
          .int64(0, 0);
  postgresql::BinaryCopy copy;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    copy.row(8)
        .field(device_id)
        .field(std::span(reinterpret_cast<const std::uint8_t*>(k.data()), k.size()))
        .field(std::int64_t{keys[i].key_id})
        .field(keys[i].public_key)
        .field(keys[i].signature)
        .field(to_db(log_index))
        .field(batch_id)
        .field(static_cast<std::int32_t>(i));
  }
  db.copy_in("COPY prekeys (device_id, kind, key_id, public_key, signature, log_index, batch_id, batch_index) "
             "FROM STDIN WITH (FORMAT binary)",
             copy.finish());
  const auto highest =
      std::max_element(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.key_id < b.key_id; });
  db.query("INSERT INTO one_time_lists (device_id, kind, log_index, batch_id, last_key_id, next_key_id) "
           "VALUES ($1, $2, $3, $4, $5, 0)",
           Params().add(device_id).add_text(k).add(to_db(log_index)).add(batch_id).add(std::int64_t{highest->key_id}));
}

std::vector<audit::Hash> leaves_from_db(std::span<const std::uint8_t> bytes) {
  if (bytes.empty() || bytes.size() % audit::kHashSize != 0) corrupt("prekey batch");
  std::vector<audit::Hash> leaves;
  for (std::size_t at = 0; at < bytes.size(); at += audit::kHashSize) {
    leaves.push_back(hash_from_db(bytes.subspan(at, audit::kHashSize), "prekey batch"));
  }
  return leaves;
}

// The list row locked first; then, in one statement that sees what the lock's last holder
// committed, the next keys read and the cursor moved past them.
Claim claim_in(Connection& db, std::int64_t device_id, PrekeyKind kind, std::size_t limit) {
  const std::string k(to_string(kind));
  Claim result;
  const Result list = db.query_prepared(
      "claim_lock",
      "SELECT l.next_key_id, l.last_key_id, b.leaf_hashes FROM one_time_lists l "
      "JOIN prekey_batches b ON b.id = l.batch_id WHERE l.device_id = $1 AND l.kind = $2 FOR UPDATE OF l",
      Params().add(device_id).add_text(k));
  if (list.rows() != 1) return result;
  result.from = result.to = list.int64(0, 0);
  if (result.from > list.int64(0, 1)) return result;
  const Result keys = db.query_prepared(
      "claim",
      "WITH k AS (SELECT " + std::string(kPrekeyColumns) + ", batch_index FROM prekeys "
      "WHERE device_id = $1 AND kind = $2 AND key_id >= $3 ORDER BY key_id LIMIT $4), "
      "moved AS (UPDATE one_time_lists SET next_key_id = (SELECT max(key_id) + 1 FROM k) "
      "WHERE device_id = $1 AND kind = $2 AND EXISTS (SELECT 1 FROM k)) "
      "SELECT * FROM k ORDER BY key_id",
      Params().add(device_id).add_text(k).add(result.from).add(static_cast<std::int64_t>(limit)));
  // The list's highest key id is stored: keys up to it must be there.
  if (keys.rows() == 0) corrupt("one-time prekey list (its keys are missing)");
  std::vector<ClaimedRow> claimed;
  for (int i = 0; i < keys.rows(); ++i) claimed.push_back({read_prekey(keys, i, 0, kind), keys.int32(i, 4)});
  result.to = std::int64_t{claimed.back().key.key.key_id} + 1;
  result.keys = reserve_keys(std::move(claimed),
                             std::make_shared<const std::vector<audit::Hash>>(leaves_from_db(list.bytes(0, 2))));
  return result;
}

class PostgresClaimTransaction final : public ClaimTransaction {
 public:
  explicit PostgresClaimTransaction(Connection& db) : db_(db) {}
  void member(const std::function<void()>& member) override {
    db_.exec("SAVEPOINT claim");
    try {
      member();
    } catch (...) {
      db_.exec("ROLLBACK TO SAVEPOINT claim");
      db_.exec("RELEASE SAVEPOINT claim");
      throw;
    }
    db_.exec("RELEASE SAVEPOINT claim");
  }
  std::int64_t active_device(std::string_view account, std::string_view device) override {
    return require_active(db_, account, device, "FOR SHARE").id;
  }
  CurrentPrekeys current(std::int64_t row) override { return current_of(db_, row); }
  Claim claim(std::int64_t row, PrekeyKind kind, std::size_t limit) override { return claim_in(db_, row, kind, limit); }

 private:
  Connection& db_;
};

class PostgresDeviceBackend final : public DeviceBackend {
 public:
  explicit PostgresDeviceBackend(const std::string& conninfo) : pool_(conninfo, kMaxIdleConnections) {}

  void add_device(const Device& device, const audit::Hash& credential_sha256) override {
    auto db = pool_.acquire();
    postgresql::Transaction transaction(*db);
    // The constraints refuse the same; these name what is in the way.
    const auto taken = [&](const std::string& sql, const Params& params) { return db->query(sql, params).rows() > 0; };
    if (taken("SELECT 1 FROM devices WHERE account = $1 AND device = $2",
              Params().add_text(device.account).add_text(device.device))) {
      throw Error(ErrorKind::conflict, name_of(device.account, device.device) + " exists already");
    }
    if (taken("SELECT 1 FROM devices WHERE enrolled_index = $1", Params().add(to_db(device.enrolled_index)))) {
      throw Error(ErrorKind::conflict, "log entry " + std::to_string(device.enrolled_index) + " enrolled another device");
    }
    if (taken("SELECT 1 FROM credentials WHERE sha256 = $1", Params().add_bytes(credential_sha256))) {
      throw Error(ErrorKind::conflict, "the credential is in use by another device");
    }
    const std::int64_t id =
        db->query("INSERT INTO devices (account, device, algorithm, token_key_id, public_key, public_key_sha256, "
                  "enrolled_index, enrolled_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                  Params()
                      .add_text(device.account)
                      .add_text(device.device)
                      .add_text(audit::to_string(device.algorithm))
                      .add_bytes(device.token_key_id)
                      .add_bytes(device.public_key)
                      .add_bytes(device.public_key_sha256)
                      .add(to_db(device.enrolled_index))
                      .add(to_db(device.enrolled_time)))
            .int64(0, 0);
    db->query("INSERT INTO credentials (sha256, device_id) VALUES ($1, $2)",
              Params().add_bytes(credential_sha256).add(id));
    transaction.commit();
  }
  std::optional<Device> find_device(std::string_view account, std::string_view device) override {
    auto db = pool_.acquire();
    const Result r = db->query("SELECT " + std::string(kDeviceColumns) + " FROM devices d WHERE d.account = $1 AND d.device = $2",
                               Params().add_text(account).add_text(device));
    if (r.rows() != 1) return std::nullopt;
    return read_device(r, 0);
  }
  std::optional<Device> find_device_by_credential(std::span<const std::uint8_t> credential_sha256) override {
    auto db = pool_.acquire();
    return device_by_credential(*db, credential_sha256);
  }
  std::vector<Device> list_devices(std::string_view account) override {
    auto db = pool_.acquire();
    const Result r = db->query("SELECT " + std::string(kDeviceColumns) +
                                   " FROM devices d WHERE d.account = $1 ORDER BY d.enrolled_index",
                               Params().add_text(account));
    std::vector<Device> devices;
    for (int i = 0; i < r.rows(); ++i) devices.push_back(read_device(r, i));
    return devices;
  }
  std::uint64_t count_active_devices(std::string_view account) override {
    auto db = pool_.acquire();
    return index_from_db(
        db->query("SELECT count(*) FROM devices WHERE account = $1 AND revoked_index IS NULL", Params().add_text(account))
            .int64(0, 0),
        "device count");
  }
  void revoke_device(std::string_view account, std::string_view device, const Revocation& revocation,
                     const Committed& committed) override {
    auto db = pool_.acquire();
    postgresql::Transaction transaction(*db);
    const DeviceRow row = require_active(*db, account, device, "FOR UPDATE");
    if (to_db(revocation.log_index) <= row.enrolled_index) {
      throw Error(ErrorKind::invalid_input, "revocation in log entry " + std::to_string(revocation.log_index) +
                                                " does not follow the enrollment in log entry " +
                                                std::to_string(row.enrolled_index));
    }
    db->query("UPDATE devices SET revoked_index = $1, revoked_time = $2 WHERE id = $3",
              Params().add(to_db(revocation.log_index)).add(to_db(revocation.time)).add(row.id));
    for (const char* table : {"credentials", "one_time_lists", "prekeys", "prekey_batches"}) {
      db->query(std::string("DELETE FROM ") + table + " WHERE device_id = $1", Params().add(row.id));
    }
    transaction.commit();
    committed(row.id);
  }
  void store_prekeys(std::string_view account, std::string_view device, const PrekeyUpload& upload,
                     const Committed& committed) override {
    auto db = pool_.acquire();
    postgresql::Transaction transaction(*db);
    const DeviceRow row = require_active(*db, account, device, "FOR UPDATE");
    const std::int64_t newest = std::max(row.enrolled_index, row.prekeys_index);
    if (to_db(upload.log_index) <= newest) {
      throw Error(ErrorKind::conflict, "prekeys of log entry " + std::to_string(upload.log_index) +
                                           " are not newer than log entry " + std::to_string(newest) + " of " +
                                           name_of(account, device));
    }
    if (upload.signed_prekey) {
      replace_single(*db, row.id, PrekeyKind::signed_prekey, *upload.signed_prekey, upload.log_index);
    }
    if (upload.pq_last_resort_prekey) {
      replace_single(*db, row.id, PrekeyKind::pq_last_resort_prekey, *upload.pq_last_resort_prekey, upload.log_index);
    }
    if (upload.one_time_prekeys) {
      replace_batch(*db, row.id, PrekeyKind::one_time_prekey, *upload.one_time_prekeys, upload.log_index);
    }
    if (upload.pq_one_time_prekeys) {
      replace_batch(*db, row.id, PrekeyKind::pq_one_time_prekey, *upload.pq_one_time_prekeys, upload.log_index);
    }
    db->query("UPDATE devices SET prekeys_index = $1 WHERE id = $2", Params().add(to_db(upload.log_index)).add(row.id));
    transaction.commit();
    committed(row.id);
  }
  std::pair<OneTimePrekeyCounts, std::int64_t> count_one_time_prekeys(std::string_view account,
                                                                      std::string_view device) override {
    auto db = pool_.acquire();
    const Result r = db->query(
        "SELECT d.id, (SELECT count(*) FROM prekeys p JOIN one_time_lists l ON l.device_id = p.device_id AND "
        "l.kind = p.kind WHERE p.device_id = d.id AND p.kind = 'one_time_prekey' AND p.key_id >= l.next_key_id), "
        "(SELECT count(*) FROM prekeys p JOIN one_time_lists l ON l.device_id = p.device_id AND "
        "l.kind = p.kind WHERE p.device_id = d.id AND p.kind = 'pq_one_time_prekey' AND p.key_id >= l.next_key_id) "
        "FROM devices d WHERE d.account = $1 AND d.device = $2",
        Params().add_text(account).add_text(device));
    if (r.rows() != 1) throw Error(ErrorKind::not_found, "no " + name_of(account, device));
    return {{index_from_db(r.int64(0, 1), "prekey count"), index_from_db(r.int64(0, 2), "prekey count")}, r.int64(0, 0)};
  }
  CurrentPrekeys current_prekeys(std::string_view account, std::string_view device) override {
    auto db = pool_.acquire();
    const Result r = db->query("SELECT d.id" + current_columns() + " FROM devices d" + kCurrentJoin +
                                   " WHERE d.account = $1 AND d.device = $2",
                               Params().add_text(account).add_text(device));
    if (r.rows() != 1) throw Error(ErrorKind::not_found, "no " + name_of(account, device));
    return read_current(r, 0, 1);
  }
  BundleSnapshot bundle_snapshot(std::string_view account, std::string_view device,
                                 const std::optional<audit::Hash>& reader, bool with_current) override {
    auto db = pool_.acquire();
    Params params;
    params.add_text(account).add_text(device);
    if (reader) {
      params.add_bytes(*reader);
    } else {
      params.add_bytes({});  // matches no stored hash (all are 32 bytes)
    }
    const Result r = db->query_prepared(with_current ? "snapshot_current" : "snapshot", snapshot_sql(with_current), params);
    const bool found = r.rows() == 1;
    constexpr int kCredential = kDeviceColumnCount + 5;
    if (reader && !(found ? !r.is_null(0, kCredential) && same_credential(r.bytes(0, kCredential), *reader)
                          : device_by_credential(*db, *reader).has_value())) {
      throw Error(ErrorKind::unauthenticated, "the credential is not valid");
    }
    if (!found) throw Error(ErrorKind::not_found, "no " + name_of(account, device));
    BundleSnapshot snapshot;
    snapshot.device = read_device(r, 0);
    if (!snapshot.device.is_active()) throw Error(ErrorKind::conflict, name_of(account, device) + " is revoked");
    snapshot.row_id = r.int64(0, 0);
    constexpr int c = kDeviceColumnCount;
    if (!r.is_null(0, c)) snapshot.prekeys_index = r.int64(0, c);
    snapshot.one_time = r.int32(0, c + 1) != 0;
    if (!r.is_null(0, c + 2)) snapshot.one_time_list = r.int64(0, c + 2);
    snapshot.pq_one_time = r.int32(0, c + 3) != 0;
    if (!r.is_null(0, c + 4)) snapshot.pq_one_time_list = r.int64(0, c + 4);
    if (with_current) snapshot.current = read_current(r, 0, kCredential + 1);
    return snapshot;
  }
  void write_claims(const std::function<void(ClaimTransaction&)>& body,
                    const std::function<void()>& committed) override {
    auto db = pool_.acquire();
    {
      postgresql::Transaction transaction(*db);
      PostgresClaimTransaction claims(*db);
      body(claims);
      transaction.commit();
    }
    committed();
  }
  std::vector<bool> put_back(std::span<const Rewind> rewinds) override {
    auto db = pool_.acquire();
    postgresql::Transaction transaction(*db);
    std::vector<bool> done;
    for (const Rewind& rewind : rewinds) {
      const Result r = db->query(
          "UPDATE one_time_lists SET next_key_id = $1 WHERE device_id = $2 AND kind = $3 AND log_index = $4 AND "
          "next_key_id = $5",
          Params()
              .add(rewind.back_to)
              .add(rewind.row)
              .add_text(to_string(rewind.kind))
              .add(rewind.list_index)
              .add(rewind.run_end));
      done.push_back(Connection::changed(r) == 1);
    }
    transaction.commit();
    return done;
  }
  std::uint64_t reconciled_log_size() override {
    auto db = pool_.acquire();
    const Result r = db->query("SELECT value FROM devices_meta WHERE key = 'reconciled_log_size'");
    if (r.rows() != 1) return 0;
    const std::string value = r.text(0, 0);
    std::uint64_t size = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), size);
    if (error != std::errc() || end != value.data() + value.size()) corrupt("reconciled log size");
    return size;
  }
  void set_reconciled_log_size(std::uint64_t size) override {
    auto db = pool_.acquire();
    db->query("INSERT INTO devices_meta (key, value) VALUES ('reconciled_log_size', $1) "
              "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
              Params().add_text(std::to_string(size)));
  }
  std::uint64_t log_size_needed() override {
    auto db = pool_.acquire();
    return index_from_db(db->query("SELECT coalesce(greatest(max(enrolled_index), max(revoked_index), "
                                   "max(prekeys_index)), -1) + 1 FROM devices")
                             .int64(0, 0),
                         "log index");
  }

 private:
  postgresql::ConnectionPool pool_;
};

}  // namespace

std::unique_ptr<PostgresDeviceStore> PostgresDeviceStore::open(const std::string& conninfo, bool create,
                                                               std::size_t max_reserved_bytes) {
  {
    Connection db = Connection::open(conninfo);
    migrate_device_schema(db, create);
  }
  return std::unique_ptr<PostgresDeviceStore>(
      new PostgresDeviceStore(std::make_unique<PostgresDeviceBackend>(conninfo), max_reserved_bytes));
}

std::unique_ptr<PostgresDeviceStore> PostgresDeviceStore::open(const std::string& conninfo, bool create) {
  return open(conninfo, create, kMaxReservedBytes);
}

}  // namespace escrowless::keyservice
