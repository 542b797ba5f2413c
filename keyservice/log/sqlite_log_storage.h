// LogStorage in one SQLite file (WAL). Leaves are rows keyed by index with their leaf hash, so
// level-0 hashes live beside the data; higher subtrees live in `nodes` keyed by (level, index).
// Any proof reads O(log n) rows, and nothing is kept in memory per leaf.
//
// One object owns one connection and serializes its callers; open one per thread that needs
// concurrent access (SQLite's WAL lets readers run beside the one writer).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "keyservice/log/log_storage.h"
#include "keyservice/store/sqlite.h"

namespace escrowless::keyservice {

// The SQLite log's writer lock: an flock on "<log path>.lock", held while the object lives. Every
// writer of the log (keyserviced, for as long as it runs) holds it, so holding it means no
// process is writing the log. Error(conflict) when another process holds it.
class SqliteLogWriterLock {
 public:
  static SqliteLogWriterLock acquire(const std::string& log_path);
  SqliteLogWriterLock() = default;
  ~SqliteLogWriterLock();
  SqliteLogWriterLock(SqliteLogWriterLock&& other) noexcept;
  SqliteLogWriterLock& operator=(SqliteLogWriterLock&& other) noexcept;
  SqliteLogWriterLock(const SqliteLogWriterLock&) = delete;
  SqliteLogWriterLock& operator=(const SqliteLogWriterLock&) = delete;

 private:
  explicit SqliteLogWriterLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

class SqliteLogStorage final : public LogStorage {
 public:
  // Opens an existing log database (create=false) or creates the schema in a new or empty one.
  static std::unique_ptr<SqliteLogStorage> open(const std::string& path, bool create);
  // The log's one writer: holds an flock on "<path>.lock" until destroyed, so a second writing
  // process is refused with Error(conflict) (two writers would each extend their own tree).
  static std::unique_ptr<SqliteLogStorage> open_writer(const std::string& path);

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
  explicit SqliteLogStorage(sqlite::Database db);
  std::optional<StoredCheckpoint> read_checkpoint(sqlite::Statement& statement);

  // The writer's flock; declared first, so released after the database is closed.
  SqliteLogWriterLock lock_;
  std::mutex mutex_;
  sqlite::Database db_;
  sqlite::Statement count_leaves_;
  sqlite::Statement insert_leaf_;
  sqlite::Statement insert_node_;
  sqlite::Statement insert_checkpoint_;
  sqlite::Statement select_leaf_hash_;
  sqlite::Statement select_node_;
  sqlite::Statement select_leaves_;
  sqlite::Statement select_latest_;
  sqlite::Statement select_latest_signed_;
};

}  // namespace escrowless::keyservice
