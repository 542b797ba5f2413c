// What a witness remembers, per log origin: the latest checkpoint it cosigned (size, root, the
// cosigned note and its timestamp), in a SQLite file (WAL, synchronous=FULL: a committed update
// survives power loss). C2SP tlog-witness requires the check of the old size and the update to
// be atomic; advance() runs both in one write transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "audit/hash.h"
#include "keyservice/store/sqlite.h"

namespace escrowless::witness {

struct LogState {
  uint64_t size = 0;
  audit::Hash root{};
  std::string checkpoint;  // the note: checkpoint text, the log's verified signatures, our cosignature
  uint64_t timestamp = 0;  // of our cosignature
};

class WitnessState {
 public:
  // Opens the state file; `create` makes it (keywitness init) where serving refuses a missing
  // one: a witness that lost its state would cosign a forked log from scratch. Throws
  // keyservice::Error (unavailable: cannot open; integrity: not a witness state file).
  static std::unique_ptr<WitnessState> open(const std::string& path, bool create);

  std::optional<LogState> get(std::string_view origin);

  // Runs `decide` on the stored state of `origin` (nullopt: never cosigned) in one write
  // transaction (BEGIN IMMEDIATE: serialized with every other writer, in this process or
  // another). When `decide` returns a state, it replaces the one read, compared and swapped on
  // the size and root read, and is committed before advance() returns. Exceptions from
  // `decide` roll back and pass through.
  using Decide = std::function<std::optional<LogState>(const std::optional<LogState>& stored)>;
  void advance(std::string_view origin, const Decide& decide);

  // Keeps a validly signed checkpoint the witness refused for inconsistency (the spec: "it might
  // be proof of log misbehavior"); the newest kMaxRefusals per origin are kept.
  static constexpr int kMaxRefusals = 100;
  void record_refusal(std::string_view origin, uint64_t time, int status, std::string_view request);
  std::size_t refusal_count(std::string_view origin);

 private:
  explicit WitnessState(keyservice::sqlite::Database db) : db_(std::move(db)) {}
  std::optional<LogState> read(std::string_view origin);

  std::mutex mutex_;  // one connection (SQLITE_OPEN_NOMUTEX): one user at a time
  keyservice::sqlite::Database db_;
};

}  // namespace escrowless::witness
