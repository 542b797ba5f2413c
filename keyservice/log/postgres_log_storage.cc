#include "keyservice/log/postgres_log_storage.h"

#include <algorithm>

#include "keyservice/error.h"

namespace escrowless::keyservice {
namespace {

using postgresql::BinaryCopy;
using postgresql::Params;
using postgresql::Result;

// Advisory lock keys (two int4 keys: the project, then the purpose). Advisory locks belong to
// one database, so logs in different databases of one server never share them.
constexpr const char* kWriterLock = "1163084626, 1";     // 'ESCR', the log's writer
constexpr const char* kMigrationLock = "1163084626, 2";  // 'ESCR', schema changes

// kMigrations[v] takes the schema from version v to v + 1. Never edit one that has shipped:
// add the next.
constexpr const char* kMigrations[] = {
    // 1: the tables of SqliteLogStorage.
    R"sql(
CREATE TABLE meta (
  key   text PRIMARY KEY,
  value text NOT NULL
);
CREATE TABLE leaves (
  idx       bigint PRIMARY KEY CHECK (idx >= 0),
  data      bytea NOT NULL,
  leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32)
);
CREATE TABLE nodes (
  level integer NOT NULL CHECK (level >= 1),
  idx   bigint NOT NULL,
  hash  bytea NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
);
CREATE TABLE checkpoints (
  size bigint PRIMARY KEY,
  root bytea NOT NULL CHECK (length(root) = 32),
  body text NOT NULL,
  note text
);
)sql",
    // 2: the writer epoch that fences a deposed writer out.
    R"sql(
CREATE TABLE log_writer (
  id    integer PRIMARY KEY CHECK (id = 1),
  epoch bigint NOT NULL
);
INSERT INTO log_writer (id, epoch) VALUES (1, 0);
)sql",
    // 3: entries handed to whichever node sequences (log_queue.h). leaf_index is set in the
    // transaction that stores the leaf, so a row is placed exactly once or not at all.
    R"sql(
CREATE TABLE log_queue (
  id         bigserial PRIMARY KEY,
  data       bytea NOT NULL,
  leaf_index bigint UNIQUE,
  queued_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX log_queue_waiting ON log_queue (id) WHERE leaf_index IS NULL;
)sql",
};
static_assert(std::size(kMigrations) == static_cast<std::size_t>(PostgresLogStorage::kSchemaVersion));

// Rows read at a time by the for_each_* walks, so a large log is never in memory at once.
constexpr std::int64_t kChunk = 8192;

std::span<const std::uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::int64_t as_int(std::uint64_t value) { return static_cast<std::int64_t>(value); }

}  // namespace

// Under a transaction-scoped advisory lock, so two processes opening a new database at once don't
// both create it.
void PostgresLogStorage::migrate_schema_within(postgresql::Connection& db, bool create) {
  db.query(std::string("SELECT pg_advisory_xact_lock(") + kMigrationLock + ")");
  const bool has_versions = !db.query("SELECT to_regclass('schema_version')::text").is_null(0, 0);
  int version = 0;
  if (has_versions) {
    const Result row = db.query("SELECT version FROM schema_version WHERE component = 'log'");
    if (row.rows() == 1) version = row.int32(0, 0);
  }
  if (version == 0 && !create) throw Error(ErrorKind::not_found, "no log in this PostgreSQL database");
  if (version > PostgresLogStorage::kSchemaVersion) {
    throw Error(ErrorKind::conflict, "the log's PostgreSQL schema is version " + std::to_string(version) +
                                         ", newer than this build's " +
                                         std::to_string(PostgresLogStorage::kSchemaVersion) +
                                         ": run a newer escrowless");
  }
  if (version == PostgresLogStorage::kSchemaVersion) return;
  if (!has_versions) {
    db.exec("CREATE TABLE schema_version (component text PRIMARY KEY, version integer NOT NULL)");
  }
  for (int next = version; next < PostgresLogStorage::kSchemaVersion; ++next) db.exec(kMigrations[next]);
  db.query("INSERT INTO schema_version (component, version) VALUES ('log', $1) "
           "ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version",
           Params().add(PostgresLogStorage::kSchemaVersion));
}

std::unique_ptr<PostgresLogStorage> PostgresLogStorage::open(const std::string& conninfo, bool create) {
  postgresql::Connection db = postgresql::Connection::open(conninfo);
  {
    postgresql::Transaction transaction(db);
    migrate_schema_within(db, create);
    transaction.commit();
  }
  return std::unique_ptr<PostgresLogStorage>(new PostgresLogStorage(std::move(db)));
}

std::unique_ptr<PostgresLogStorage> PostgresLogStorage::open_writer(const std::string& conninfo,
                                                                    std::chrono::milliseconds lock_wait) {
  auto storage = open(conninfo, false);
  postgresql::Connection& db = storage->db_;
  db.exec("SET lock_timeout = " + std::to_string(std::max<std::int64_t>(1, lock_wait.count())));
  try {
    db.query(std::string("SELECT pg_advisory_lock(") + kWriterLock + ")");
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::conflict) throw;
    throw Error(ErrorKind::conflict, "another process is writing this log (PostgreSQL advisory lock held)");
  }
  db.exec("RESET lock_timeout");
  const Result epoch = db.query("UPDATE log_writer SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch");
  if (epoch.rows() != 1) throw Error(ErrorKind::integrity, "the log has no writer epoch row");
  storage->epoch_ = epoch.int64(0, 0);
  return storage;
}

postgresql::Connection& PostgresLogStorage::db() {
  if (db_.ok()) return db_;
  db_.reset();
  if (!db_.ok()) {
    throw Error(ErrorKind::unavailable,
                "PostgreSQL connection lost: " + std::string(PQerrorMessage(db_.handle())));
  }
  if (epoch_ != 0) {
    // The session's advisory lock went with the old connection. Take it back only while the
    // epoch is still ours; otherwise another writer leads, and check_fence() refuses our writes.
    const bool locked = db_.query(std::string("SELECT pg_try_advisory_lock(") + kWriterLock + ")").bytes(0, 0)[0] != 0;
    const Result epoch = db_.query("SELECT epoch FROM log_writer WHERE id = 1");
    if (locked && (epoch.rows() != 1 || epoch.int64(0, 0) != epoch_)) {
      db_.query(std::string("SELECT pg_advisory_unlock(") + kWriterLock + ")");
    }
  }
  return db_;
}

void PostgresLogStorage::check_fence() {
  if (epoch_ == 0) throw Error(ErrorKind::internal, "a log storage opened for reading was asked to write");
  // The row lock this takes also orders the write against a writer taking over: its epoch bump
  // waits for this transaction, and every later write of ours sees the new epoch.
  const Result result = db_.query("UPDATE log_writer SET epoch = epoch WHERE id = 1 AND epoch = $1",
                                  Params().add(epoch_));
  if (postgresql::Connection::changed(result) != 1) {
    throw Error(ErrorKind::conflict, "another writer took over this log (writer epoch " +
                                         std::to_string(epoch_) + " is no longer current)");
  }
}

std::optional<std::string> PostgresLogStorage::meta(std::string_view key) {
  std::lock_guard lock(mutex_);
  const Result result = db().query("SELECT value FROM meta WHERE key = $1", Params().add_text(key));
  if (result.rows() == 0) return std::nullopt;
  return result.text(0, 0);
}

void PostgresLogStorage::set_meta(std::string_view key, std::string_view value) {
  std::lock_guard lock(mutex_);
  db().query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
             Params().add_text(key).add_text(value));
}

std::uint64_t PostgresLogStorage::leaf_count() {
  std::lock_guard lock(mutex_);
  return static_cast<std::uint64_t>(db().query("SELECT COALESCE(MAX(idx) + 1, 0) FROM leaves").int64(0, 0));
}

void PostgresLogStorage::append(std::span<const NewLeaf> leaves, std::span<const NodeHash> nodes,
                                const StoredCheckpoint& checkpoint) {
  std::lock_guard lock(mutex_);
  postgresql::Transaction transaction(db());
  check_fence();
  const auto first =
      static_cast<std::uint64_t>(db_.query("SELECT COALESCE(MAX(idx) + 1, 0) FROM leaves").int64(0, 0));
  if (first + leaves.size() != checkpoint.size) {
    throw Error(ErrorKind::internal, "checkpoint size " + std::to_string(checkpoint.size) +
                                         " does not cover leaves up to " +
                                         std::to_string(first + leaves.size()));
  }
  if (!leaves.empty()) {
    BinaryCopy copy;
    for (std::size_t i = 0; i < leaves.size(); ++i) {
      copy.row(3).field(as_int(first + i)).field(bytes_of(leaves[i].data)).field(leaves[i].hash);
    }
    db_.copy_in("COPY leaves (idx, data, leaf_hash) FROM STDIN (FORMAT binary)", copy.finish());
    place_queued(leaves, first);
  }
  BinaryCopy copy;
  bool any_node = false;
  for (const NodeHash& node : nodes) {
    if (node.node.level == 0) continue;  // leaf hashes live in `leaves`
    copy.row(3).field(static_cast<std::int32_t>(node.node.level)).field(as_int(node.node.index)).field(node.hash);
    any_node = true;
  }
  if (any_node) db_.copy_in("COPY nodes (level, idx, hash) FROM STDIN (FORMAT binary)", copy.finish());
  db_.query("INSERT INTO checkpoints (size, root, body) VALUES ($1, $2, $3)",
            Params().add(as_int(checkpoint.size)).add_bytes(checkpoint.root).add_text(checkpoint.body));
  transaction.commit();
}

void PostgresLogStorage::place_queued(std::span<const NewLeaf> leaves, std::uint64_t first) {
  std::vector<std::int64_t> ids, indices;
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    if (leaves[i].queue_id == 0) continue;
    ids.push_back(leaves[i].queue_id);
    indices.push_back(as_int(first + i));
  }
  if (ids.empty()) return;
  // Only rows still waiting: a row placed twice would be one entry at two indices.
  const Result result = db_.query(
      "UPDATE log_queue SET leaf_index = q.idx FROM unnest($1::bigint[], $2::bigint[]) AS q(id, idx) "
      "WHERE log_queue.id = q.id AND log_queue.leaf_index IS NULL",
      Params().add_text(postgresql::array_literal(ids)).add_text(postgresql::array_literal(indices)));
  if (postgresql::Connection::changed(result) != ids.size()) {
    throw Error(ErrorKind::unavailable, "queued log entries were placed or withdrawn meanwhile");
  }
}

void PostgresLogStorage::sign_checkpoint(std::uint64_t size, std::string_view note) {
  std::lock_guard lock(mutex_);
  postgresql::Transaction transaction(db());
  check_fence();
  const Result result = db_.query("UPDATE checkpoints SET note = $1 WHERE size = $2 AND note IS NULL",
                                  Params().add_text(note).add(as_int(size)));
  if (postgresql::Connection::changed(result) != 1) {
    throw Error(ErrorKind::internal, "no unsigned checkpoint of size " + std::to_string(size));
  }
  // Delivered on commit, to the nodes of a shared log waiting for their entries (log_queue.h).
  db_.query(std::string("SELECT pg_notify('") + kLogSignedChannel + "', $1)", Params().add_text(std::to_string(size)));
  transaction.commit();
}

std::optional<StoredCheckpoint> PostgresLogStorage::latest(bool signed_only) {
  std::lock_guard lock(mutex_);
  const Result result = db().query_prepared(signed_only ? "latest_signed" : "latest", signed_only ? "SELECT size, root, body, note FROM checkpoints "
                                                 "WHERE note IS NOT NULL ORDER BY size DESC LIMIT 1"
                                               : "SELECT size, root, body, note FROM checkpoints "
                                                 "ORDER BY size DESC LIMIT 1", {});
  if (result.rows() == 0) return std::nullopt;
  StoredCheckpoint checkpoint;
  checkpoint.size = static_cast<std::uint64_t>(result.int64(0, 0));
  checkpoint.root = read_stored_hash(result.bytes(0, 1), "checkpoint root");
  checkpoint.body = result.text(0, 2);
  if (!result.is_null(0, 3)) checkpoint.note = result.text(0, 3);
  return checkpoint;
}

std::optional<StoredCheckpoint> PostgresLogStorage::latest_checkpoint() { return latest(false); }
std::optional<StoredCheckpoint> PostgresLogStorage::latest_signed_checkpoint() { return latest(true); }

std::vector<audit::Hash> PostgresLogStorage::node_hashes(std::span<const audit::NodeId> nodes) {
  // One statement for the whole proof: one snapshot and one round trip.
  std::string levels = "{", indices = "{";
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (i != 0) {
      levels += ',';
      indices += ',';
    }
    levels += std::to_string(nodes[i].level);
    indices += std::to_string(nodes[i].index);
  }
  levels += "}";
  indices += "}";
  std::lock_guard lock(mutex_);
  const Result result = db().query_prepared(
      "node_hashes",
      "SELECT CASE WHEN q.level = 0 THEN (SELECT leaf_hash FROM leaves WHERE idx = q.idx) "
      "ELSE (SELECT hash FROM nodes WHERE level = q.level AND idx = q.idx) END "
      "FROM unnest($1::integer[], $2::bigint[]) WITH ORDINALITY AS q(level, idx, ord) ORDER BY q.ord",
      Params().add_text(levels).add_text(indices));
  std::vector<audit::Hash> hashes;
  hashes.reserve(nodes.size());
  for (int row = 0; row < result.rows(); ++row) {
    if (result.is_null(row, 0)) {
      throw Error(ErrorKind::internal, "subtree " + audit::to_string(nodes[static_cast<std::size_t>(row)]) +
                                           " is not stored");
    }
    hashes.push_back(read_stored_hash(result.bytes(row, 0), "subtree hash"));
  }
  return hashes;
}

std::vector<std::string> PostgresLogStorage::leaves(std::uint64_t start, std::uint64_t count) {
  std::lock_guard lock(mutex_);
  const Result result = db().query_prepared("leaves", "SELECT data FROM leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                                   Params().add(as_int(start)).add(as_int(start + count)));
  if (static_cast<std::uint64_t>(result.rows()) != count) {
    throw Error(ErrorKind::internal, "leaves [" + std::to_string(start) + ", " +
                                         std::to_string(start + count) + ") are not all stored");
  }
  std::vector<std::string> data;
  data.reserve(count);
  for (int row = 0; row < result.rows(); ++row) data.push_back(result.text(row, 0));
  return data;
}

void PostgresLogStorage::for_each_leaf(std::uint64_t start, std::uint64_t end, const LeafVisitor& visit) {
  std::lock_guard lock(mutex_);
  std::uint64_t expected = start;
  for (std::uint64_t from = start; from < end; from += kChunk) {
    const std::uint64_t to = std::min<std::uint64_t>(end, from + kChunk);
    const Result result = db().query("SELECT idx, data, leaf_hash FROM leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                                     Params().add(as_int(from)).add(as_int(to)));
    for (int row = 0; row < result.rows(); ++row) {
      const auto index = static_cast<std::uint64_t>(result.int64(row, 0));
      if (index != expected) throw Error(ErrorKind::integrity, "leaf " + std::to_string(expected) + " is missing");
      visit(index, result.bytes(row, 1), read_stored_hash(result.bytes(row, 2), "leaf hash"));
      ++expected;
    }
    if (expected != to) throw Error(ErrorKind::integrity, "leaf " + std::to_string(expected) + " is missing");
  }
}

void PostgresLogStorage::for_each_signed_checkpoint(const std::function<void(const StoredCheckpoint&)>& visit) {
  std::lock_guard lock(mutex_);
  for (std::int64_t after = -1;;) {
    const Result result = db().query(
        "SELECT size, root, body, note FROM checkpoints WHERE note IS NOT NULL AND size > $1 ORDER BY size LIMIT " +
            std::to_string(kChunk),
        Params().add(after));
    for (int row = 0; row < result.rows(); ++row) {
      after = result.int64(row, 0);
      visit(StoredCheckpoint{static_cast<std::uint64_t>(after), read_stored_hash(result.bytes(row, 1), "checkpoint root"),
                             result.text(row, 2), result.text(row, 3)});
    }
    if (result.rows() < kChunk) return;
  }
}

void PostgresLogStorage::for_each_node(const std::function<void(const NodeHash&)>& visit) {
  std::lock_guard lock(mutex_);
  std::int32_t level = 0;
  std::int64_t index = 0;
  while (true) {
    const Result result = db().query(
        "SELECT level, idx, hash FROM nodes WHERE (level, idx) > ($1::integer, $2::bigint) ORDER BY level, idx LIMIT " +
            std::to_string(kChunk),
        Params().add(level).add(index));
    for (int row = 0; row < result.rows(); ++row) {
      level = result.int32(row, 0);
      index = result.int64(row, 1);
      visit(NodeHash{{static_cast<unsigned>(level), static_cast<std::uint64_t>(index)},
                     read_stored_hash(result.bytes(row, 2), "subtree hash")});
    }
    if (result.rows() < kChunk) return;
  }
}

}  // namespace escrowless::keyservice
