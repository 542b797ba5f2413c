// LogStorage in a PostgreSQL database, with the tables and semantics of SqliteLogStorage (leaves
// with their leaf hashes, subtrees of level >= 1 in `nodes`, checkpoints stored unsigned then
// signed, meta), over libpq directly: a batch's leaves and subtrees go in with binary COPY, and a
// proof's hashes come back from one statement (docs/architecture.md says why not libpqxx).
//
// The schema is versioned (`schema_version`, row 'log'): open() migrates an older one forward
// and refuses one newer than this build with Error(conflict).
//
// Fencing: a writer (open_writer) holds the database's advisory lock for the log on its
// connection, which keeps other writers out while it lives, and bumps the writer epoch in
// `log_writer`. Every append and signature first checks, in its own transaction, that the epoch
// is still its own: a writer that lost its lock (its session ended, and another writer took
// over) has its writes refused by the database itself, with Error(conflict).
//
// Shared logs (several nodes, shared_log.h) hand entries to the writer through `log_queue`
// (log_queue.h): append() marks the queue rows of its leaves as placed in its own transaction,
// and sign_checkpoint() notifies the channel kLogSignedChannel on commit.
//
// One object owns one connection and serializes its callers. A lost connection fails the call
// with Error(unavailable) and is re-established by the next call.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "keyservice/log/log_storage.h"
#include "keyservice/store/postgresql.h"

namespace escrowless::keyservice {

// Notification channels of a shared log: a checkpoint was signed; entries were queued.
inline constexpr const char* kLogSignedChannel = "escrowless_log_signed";
inline constexpr const char* kLogQueueChannel = "escrowless_log_queue";

class PostgresLogStorage final : public LogStorage {
 public:
  // The schema version this build writes.
  static constexpr int kSchemaVersion = 3;

  // Opens the log in the database `conninfo` names (libpq keywords or URL, never a password).
  // create=true makes the schema when there is none; create=false throws Error(not_found) then.
  static std::unique_ptr<PostgresLogStorage> open(const std::string& conninfo, bool create);

  // The log's one writer: waits up to `lock_wait` for the advisory lock (a writer that just died
  // holds it until PostgreSQL notices its connection is gone), then takes the next epoch.
  // Error(conflict) when another writer still holds it.
  static std::unique_ptr<PostgresLogStorage> open_writer(const std::string& conninfo,
                                                         std::chrono::milliseconds lock_wait);

  // What open() runs in a transaction of its own, inside the caller's: creates (with create) or
  // migrates the log's tables, under the schema's transaction-scoped advisory lock. For a
  // caller that fills the new tables in the same transaction (keyadmin migrate).
  static void migrate_schema_within(postgresql::Connection& db, bool create);

  // This writer's epoch (0 for a reader).
  std::int64_t epoch() const { return epoch_; }

  std::optional<std::string> meta(std::string_view key) override;
  void set_meta(std::string_view key, std::string_view value) override;
  std::uint64_t leaf_count() override;
  void append(std::span<const NewLeaf> leaves, std::span<const NodeHash> nodes,
              const StoredCheckpoint& checkpoint) override;
  void sign_checkpoint(std::uint64_t size, std::string_view note) override;
  std::optional<StoredCheckpoint> latest_checkpoint() override;
  std::optional<StoredCheckpoint> latest_signed_checkpoint() override;
  std::vector<audit::Hash> node_hashes(std::span<const audit::NodeId> nodes) override;
  std::vector<std::string> leaves(std::uint64_t start, std::uint64_t count) override;
  void for_each_leaf(std::uint64_t start, std::uint64_t end, const LeafVisitor& visit) override;
  void for_each_signed_checkpoint(const std::function<void(const StoredCheckpoint&)>& visit) override;
  void for_each_node(const std::function<void(const NodeHash&)>& visit) override;

 private:
  explicit PostgresLogStorage(postgresql::Connection connection) : db_(std::move(connection)) {}
  postgresql::Connection& db();  // reconnects a lost connection first
  void check_fence();            // inside a transaction: refuses a deposed writer
  std::optional<StoredCheckpoint> latest(bool signed_only);
  void place_queued(std::span<const NewLeaf> leaves, std::uint64_t first);  // inside append()

  std::mutex mutex_;
  postgresql::Connection db_;
  std::int64_t epoch_ = 0;
};

}  // namespace escrowless::keyservice
