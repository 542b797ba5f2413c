#include "keyservice/log/log_queue.h"

#include "keyservice/error.h"
#include "keyservice/log/postgres_log_storage.h"

namespace escrowless::keyservice {
namespace {

using postgresql::Params;
using postgresql::Result;

// Rows per INSERT statement (PostgreSQL allows 65,535 parameters).
constexpr std::size_t kInsertChunk = 1000;

std::span<const std::uint8_t> bytes_of(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace

LogQueue::LogQueue(const std::string& conninfo, std::string channel)
    : channel_(std::move(channel)), db_(postgresql::Connection::open(conninfo)) {}

postgresql::Connection& LogQueue::db() {
  if (!db_.ok()) {
    listening_ = false;
    db_.reset();
    if (!db_.ok()) throw Error(ErrorKind::unavailable, "PostgreSQL connection lost: " + std::string(PQerrorMessage(db_.handle())));
  }
  if (!listening_) {
    db_.listen(channel_);
    listening_ = true;
  }
  return db_;
}

std::vector<std::int64_t> LogQueue::enqueue(std::span<const std::string> entries) {
  std::vector<std::int64_t> ids;
  ids.reserve(entries.size());
  postgresql::Transaction transaction(db());
  for (std::size_t from = 0; from < entries.size(); from += kInsertChunk) {
    const std::size_t to = std::min(entries.size(), from + kInsertChunk);
    std::string sql = "INSERT INTO log_queue (data) VALUES ";
    Params params;
    for (std::size_t i = from; i < to; ++i) {
      sql += (i == from ? "($" : ", ($") + std::to_string(i - from + 1) + ")";
      params.add_bytes(bytes_of(entries[i]));
    }
    // A multi-row VALUES list is inserted, and RETURNING answers, in the list's order.
    const Result result = db_.query(sql + " RETURNING id", params);
    for (int row = 0; row < result.rows(); ++row) ids.push_back(result.int64(row, 0));
  }
  if (ids.size() != entries.size()) throw Error(ErrorKind::internal, "log_queue returned fewer ids than rows");
  db_.query(std::string("SELECT pg_notify('") + kLogQueueChannel + "', '')");
  transaction.commit();
  return ids;
}

std::vector<LogQueue::Waiting> LogQueue::waiting(std::size_t max, std::span<const std::int64_t> skip) {
  const Result result = db().query_prepared(
      "queue_waiting",
      "SELECT id, data FROM log_queue WHERE leaf_index IS NULL AND NOT (id = ANY($1::bigint[])) "
      "ORDER BY id LIMIT $2",
      Params().add_text(postgresql::array_literal(skip)).add(static_cast<std::int64_t>(max)));
  std::vector<Waiting> rows;
  rows.reserve(static_cast<std::size_t>(result.rows()));
  for (int row = 0; row < result.rows(); ++row) rows.push_back({result.int64(row, 0), result.text(row, 1)});
  return rows;
}

std::vector<LogQueue::Placed> LogQueue::placed(std::span<const std::int64_t> ids) {
  const Result result = db().query_prepared(
      "queue_placed", "SELECT id, leaf_index FROM log_queue WHERE id = ANY($1::bigint[]) AND leaf_index IS NOT NULL",
      Params().add_text(postgresql::array_literal(ids)));
  std::vector<Placed> rows;
  rows.reserve(static_cast<std::size_t>(result.rows()));
  for (int row = 0; row < result.rows(); ++row) {
    rows.push_back({result.int64(row, 0), static_cast<std::uint64_t>(result.int64(row, 1))});
  }
  return rows;
}

void LogQueue::forget(std::span<const std::int64_t> ids) {
  if (ids.empty()) return;
  db().query_prepared("queue_forget", "DELETE FROM log_queue WHERE id = ANY($1::bigint[])",
                      Params().add_text(postgresql::array_literal(ids)));
}

bool LogQueue::withdraw(std::int64_t id) {
  const Result result =
      db().query("DELETE FROM log_queue WHERE id = $1 AND leaf_index IS NULL", Params().add(id));
  return postgresql::Connection::changed(result) == 1;
}

std::optional<LogQueue::Head> LogQueue::signed_head() {
  const Result result = db().query_prepared(
      "queue_head", "SELECT size, note FROM checkpoints WHERE note IS NOT NULL ORDER BY size DESC LIMIT 1", {});
  if (result.rows() == 0) return std::nullopt;
  return Head{static_cast<std::uint64_t>(result.int64(0, 0)), result.text(0, 1)};
}

bool LogQueue::wait(std::chrono::milliseconds timeout, int wake_fd) {
  return db().wait_for_notification(timeout, wake_fd);
}

}  // namespace escrowless::keyservice
