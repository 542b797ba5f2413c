// A thin RAII layer over libpq: a connection, results read in binary, parameters, binary COPY,
// and the one table from PostgreSQL failures to keyservice::Error kinds:
//   - the server unreachable, shutting down, or the connection lost (SQLSTATE classes 08, 53,
//     57P0x, or no connection at all): unavailable, so the API answers 503 and callers retry;
//   - a serialization failure or deadlock (class 40): unavailable too (retry);
//   - a constraint violation (class 23) or a lock not available in time (55P03): conflict;
//   - anything else: internal (a bug on our side, e.g. bad SQL).
// Messages carry libpq's text, which never contains the password (it is never in the conninfo).
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace escrowless::keyservice::postgresql {

// Refuses a conninfo (keywords or a postgresql:// URL) that carries a password: the password
// belongs in a 0600 passfile (PGPASSFILE, or the `passfile` keyword) or in PGPASSWORD. Throws
// Error(invalid_input); the message never repeats the conninfo.
void check_conninfo(const std::string& conninfo);

// A bigint[] parameter in PostgreSQL's text form: "{1,2,3}".
std::string array_literal(std::span<const std::int64_t> values);

class Result {
 public:
  Result() = default;
  explicit Result(PGresult* result) : result_(result, &PQclear) {}

  int rows() const { return PQntuples(result_.get()); }
  bool is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  // Binary-format readers: bigint, integer, bytea, text.
  std::int64_t int64(int row, int column) const;
  std::int32_t int32(int row, int column) const;
  std::span<const std::uint8_t> bytes(int row, int column) const;
  std::string text(int row, int column) const;
  PGresult* get() const { return result_.get(); }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> result_{nullptr, &PQclear};
};

// Parameters for one statement: texts (integers in decimal) and bytea, sent as binary.
class Params {
 public:
  Params& add(std::int64_t value);
  Params& add_text(std::string_view text);
  Params& add_bytes(std::span<const std::uint8_t> bytes);

 private:
  friend class Connection;
  std::vector<std::string> storage_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// One connection, not thread-safe: callers serialize (like sqlite::Database).
class Connection {
 public:
  // Connects (check_conninfo first). Error(unavailable) when the server can't be reached.
  static Connection open(const std::string& conninfo);

  // Runs one or more statements without parameters and results (BEGIN, DDL...).
  void exec(const std::string& sql);
  // One statement with parameters; results in binary.
  Result query(const std::string& sql, const Params& params = {});
  // The same for a statement prepared once per connection under `name` (planned once: a proof
  // read is a few hundred microseconds, and planning was a large part of it). Prepared
  // statements go with the connection: reset() forgets them, and the next call prepares again.
  Result query_prepared(const std::string& name, const std::string& sql, const Params& params);
  // Rows changed by an UPDATE/DELETE/INSERT run through query().
  static std::uint64_t changed(const Result& result);

  // COPY table (columns) FROM STDIN in PostgreSQL's binary format, from `data` that BinaryCopy made.
  void copy_in(const std::string& copy_statement, const std::string& data);

  // LISTEN on `channel` (a fixed identifier of ours, never user input). A reset() connection
  // listens no more: callers LISTEN again after reconnecting.
  void listen(const std::string& channel);
  // Waits up to `timeout` until a notification arrives on this connection or `wake_fd` (if not
  // -1) becomes readable, and drains every notification received. True when one arrived.
  // Error(unavailable) when the connection is lost.
  bool wait_for_notification(std::chrono::milliseconds timeout, int wake_fd = -1);

  // True while the connection is up; reset() reconnects with the same conninfo.
  bool ok() const { return PQstatus(conn_.get()) == CONNECTION_OK; }
  void reset();
  PGconn* handle() const { return conn_.get(); }

 private:
  explicit Connection(PGconn* conn) : conn_(conn, &PQfinish) {}
  Result check(PGresult* result, const char* what, ExecStatusType expected);
  Result finish_query(PGresult* raw);
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_{nullptr, &PQfinish};
  std::vector<std::string> prepared_;
};

// Rolls back unless commit() was called (the connection may be gone: rollback errors are ignored).
class Transaction {
 public:
  explicit Transaction(Connection& connection);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& connection_;
  bool done_ = false;
};

// Builds COPY's binary stream: a header, then rows of fields, then the trailer.
class BinaryCopy {
 public:
  BinaryCopy();
  BinaryCopy& row(std::uint16_t fields);
  BinaryCopy& field(std::int64_t value);
  BinaryCopy& field(std::int32_t value);
  BinaryCopy& field(std::span<const std::uint8_t> bytes);
  BinaryCopy& null_field();
  std::size_t size() const { return data_.size(); }  // bytes so far, to send a large copy in parts
  std::string finish();  // the trailer appended; the builder is spent

 private:
  std::string data_;
};

}  // namespace escrowless::keyservice::postgresql
