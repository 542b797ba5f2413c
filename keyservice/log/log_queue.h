// The queue through which the nodes of a shared log (shared_log.h) hand their entries to
// whichever node sequences, in the log's PostgreSQL database (table log_queue):
//   - any node inserts its entries (enqueue) and is told on kLogSignedChannel when a checkpoint
//     is signed; it then reads where its rows were placed (placed) and answers its callers;
//   - the sequencing node reads the rows still waiting (waiting), is woken on kLogQueueChannel,
//     and marks each row placed in the transaction that stores its leaf
//     (PostgresLogStorage::append), so a row becomes exactly one leaf or none.
// A submitter that gives up on a row withdraws it (only while it waits), so an entry whose
// caller heard an error is never logged later behind its back.
//
// One object owns one connection and is used by one thread. A lost connection fails the call
// with Error(unavailable); the next call reconnects and LISTENs again.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "keyservice/store/postgresql.h"

namespace escrowless::keyservice {

class LogQueue {
 public:
  // `channel`: the notification channel this connection waits on (kLogSignedChannel or
  // kLogQueueChannel).
  LogQueue(const std::string& conninfo, std::string channel);

  // Queues entries in one transaction and notifies the sequencer; their row ids, in order.
  std::vector<std::int64_t> enqueue(std::span<const std::string> entries);

  struct Waiting {
    std::int64_t id;
    std::string data;
  };
  // Up to `max` rows not yet placed, oldest first, leaving out `skip` (rows already handed to
  // the sequencer).
  std::vector<Waiting> waiting(std::size_t max, std::span<const std::int64_t> skip);

  struct Placed {
    std::int64_t id;
    std::uint64_t index;
  };
  // Which of `ids` are placed, and at which leaf.
  std::vector<Placed> placed(std::span<const std::int64_t> ids);
  // Deletes rows whose submitters have their answer.
  void forget(std::span<const std::int64_t> ids);
  // Deletes the row if it is still waiting: true. False when it was placed already.
  bool withdraw(std::int64_t id);

  struct Head {
    std::uint64_t size = 0;
    std::string note;
  };
  // The newest signed checkpoint.
  std::optional<Head> signed_head();

  // Waits for a notification on this object's channel or for `wake_fd` (see
  // postgresql::Connection::wait_for_notification).
  bool wait(std::chrono::milliseconds timeout, int wake_fd = -1);

 private:
  postgresql::Connection& db();

  std::string channel_;
  postgresql::Connection db_;
  bool listening_ = false;
};

}  // namespace escrowless::keyservice
