#include "keyservice/store/postgresql.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "keyservice/error.h"

namespace escrowless::keyservice::postgresql {
namespace {

// libpq's messages end with a newline; a message stays one line in logs.
std::string trimmed(const char* message) {
  std::string text = message ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

ErrorKind kind_of_sqlstate(const char* sqlstate) {
  if (!sqlstate) return ErrorKind::unavailable;  // no server answer: the connection is gone
  const std::string_view state(sqlstate);
  if (state.starts_with("08") || state.starts_with("53") || state.starts_with("57P")) {
    return ErrorKind::unavailable;
  }
  if (state.starts_with("40")) return ErrorKind::unavailable;  // serialization failure, deadlock: retry
  if (state.starts_with("23") || state == "55P03") return ErrorKind::conflict;  // a row or lock is taken
  return ErrorKind::internal;
}

std::uint64_t read_be(const char* data, std::size_t size) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < size; ++i) value = (value << 8) | static_cast<unsigned char>(data[i]);
  return value;
}

void append_be(std::string& out, std::uint64_t value, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

}  // namespace

void check_conninfo(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (!options) {
    PQfreemem(error);
    throw Error(ErrorKind::invalid_input, "the PostgreSQL connection string does not parse");
  }
  bool has_password = false;
  for (const PQconninfoOption* option = options; option->keyword; ++option) {
    if (std::strcmp(option->keyword, "password") == 0 && option->val && *option->val) has_password = true;
  }
  PQconninfoFree(options);
  if (has_password) {
    throw Error(ErrorKind::invalid_input,
                "the PostgreSQL connection string carries a password: put it in a 0600 passfile "
                "(PGPASSFILE or passfile=) or in PGPASSWORD instead");
  }
}

std::int64_t Result::int64(int row, int column) const {
  if (PQgetlength(result_.get(), row, column) != 8) throw Error(ErrorKind::integrity, "a stored bigint is not 8 bytes");
  return static_cast<std::int64_t>(read_be(PQgetvalue(result_.get(), row, column), 8));
}

std::int32_t Result::int32(int row, int column) const {
  if (PQgetlength(result_.get(), row, column) != 4) throw Error(ErrorKind::integrity, "a stored integer is not 4 bytes");
  return static_cast<std::int32_t>(read_be(PQgetvalue(result_.get(), row, column), 4));
}

std::span<const std::uint8_t> Result::bytes(int row, int column) const {
  return {reinterpret_cast<const std::uint8_t*>(PQgetvalue(result_.get(), row, column)),
          static_cast<std::size_t>(PQgetlength(result_.get(), row, column))};
}

std::string Result::text(int row, int column) const {
  return {PQgetvalue(result_.get(), row, column), static_cast<std::size_t>(PQgetlength(result_.get(), row, column))};
}

Params& Params::add(std::int64_t value) { return add_text(std::to_string(value)); }

Params& Params::add_text(std::string_view text) {
  storage_.emplace_back(text);
  lengths_.push_back(static_cast<int>(text.size()));
  formats_.push_back(0);
  return *this;
}

Params& Params::add_bytes(std::span<const std::uint8_t> bytes) {
  storage_.emplace_back(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  lengths_.push_back(static_cast<int>(bytes.size()));
  formats_.push_back(1);
  return *this;
}

Connection Connection::open(const std::string& conninfo) {
  check_conninfo(conninfo);
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (!conn) throw Error(ErrorKind::unavailable, "PostgreSQL: out of memory connecting");
  Connection connection(conn);
  if (PQstatus(conn) != CONNECTION_OK) {
    throw Error(ErrorKind::unavailable, "cannot connect to PostgreSQL: " + trimmed(PQerrorMessage(conn)));
  }
  return connection;
}

Result Connection::check(PGresult* raw, const char* what, ExecStatusType expected) {
  Result result(raw);
  if (raw && PQresultStatus(raw) == expected) return result;
  const char* sqlstate = raw ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
  const std::string message = raw ? trimmed(PQresultErrorMessage(raw)) : trimmed(PQerrorMessage(conn_.get()));
  ErrorKind kind = kind_of_sqlstate(sqlstate);
  if (PQstatus(conn_.get()) != CONNECTION_OK) kind = ErrorKind::unavailable;
  throw Error(kind, std::string("PostgreSQL ") + what + ": " + message);
}

void Connection::exec(const std::string& sql) {
  check(PQexec(conn_.get(), sql.c_str()), "statement", PGRES_COMMAND_OK);
}

Result Connection::query(const std::string& sql, const Params& params) {
  std::vector<const char*> values;
  values.reserve(params.storage_.size());
  for (const std::string& value : params.storage_) values.push_back(value.data());
  return finish_query(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                                   values.data(), params.lengths_.data(), params.formats_.data(), 1));
}

Result Connection::finish_query(PGresult* raw) {
  const ExecStatusType status = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  return check(raw, "query", status == PGRES_TUPLES_OK ? PGRES_TUPLES_OK : PGRES_COMMAND_OK);
}

Result Connection::query_prepared(const std::string& name, const std::string& sql, const Params& params) {
  if (std::find(prepared_.begin(), prepared_.end(), name) == prepared_.end()) {
    check(PQprepare(conn_.get(), name.c_str(), sql.c_str(), 0, nullptr), "prepare", PGRES_COMMAND_OK);
    prepared_.push_back(name);
  }
  std::vector<const char*> values;
  values.reserve(params.storage_.size());
  for (const std::string& value : params.storage_) values.push_back(value.data());
  return finish_query(PQexecPrepared(conn_.get(), name.c_str(), static_cast<int>(values.size()), values.data(),
                                     params.lengths_.data(), params.formats_.data(), 1));
}

std::uint64_t Connection::changed(const Result& result) {
  const char* tuples = PQcmdTuples(result.get());
  return tuples && *tuples ? std::stoull(tuples) : 0;
}

void Connection::copy_in(const std::string& copy_statement, const std::string& data) {
  check(PQexec(conn_.get(), copy_statement.c_str()), "COPY", PGRES_COPY_IN);
  if (PQputCopyData(conn_.get(), data.data(), static_cast<int>(data.size())) != 1 ||
      PQputCopyEnd(conn_.get(), nullptr) != 1) {
    throw Error(ErrorKind::unavailable, "PostgreSQL COPY: " + trimmed(PQerrorMessage(conn_.get())));
  }
  check(PQgetResult(conn_.get()), "COPY", PGRES_COMMAND_OK);
  while (PGresult* rest = PQgetResult(conn_.get())) PQclear(rest);
}

std::string array_literal(std::span<const std::int64_t> values) {
  std::string text = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0) text += ',';
    text += std::to_string(values[i]);
  }
  return text + "}";
}

void Connection::listen(const std::string& channel) { exec("LISTEN " + channel); }

bool Connection::wait_for_notification(std::chrono::milliseconds timeout, int wake_fd) {
  const auto drain = [this] {
    if (PQconsumeInput(conn_.get()) == 0) {
      throw Error(ErrorKind::unavailable, "PostgreSQL connection lost: " + trimmed(PQerrorMessage(conn_.get())));
    }
    bool any = false;
    while (PGnotify* notify = PQnotifies(conn_.get())) {
      PQfreemem(notify);
      any = true;
    }
    return any;
  };
  if (drain()) return true;  // arrived with an earlier reply
  const int socket = PQsocket(conn_.get());
  if (socket < 0) throw Error(ErrorKind::unavailable, "PostgreSQL connection lost");
  pollfd fds[2] = {{socket, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  const int ready = ::poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(timeout.count()));
  if (ready < 0 && errno != EINTR) throw Error(ErrorKind::internal, "poll on the PostgreSQL socket failed");
  return ready > 0 && drain();
}

void Connection::reset() {
  prepared_.clear();
  PQreset(conn_.get());
}

Transaction::Transaction(Connection& connection) : connection_(connection) { connection_.exec("BEGIN"); }

Transaction::~Transaction() {
  if (done_) return;
  PGresult* result = PQexec(connection_.handle(), "ROLLBACK");
  PQclear(result);
}

void Transaction::commit() {
  done_ = true;  // a failed COMMIT has ended the transaction too
  connection_.exec("COMMIT");
}

BinaryCopy::BinaryCopy() {
  static constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // 11 bytes with its NUL
  data_.append(kSignature, 11);
  append_be(data_, 0, 4);  // flags
  append_be(data_, 0, 4);  // header extension length
}

BinaryCopy& BinaryCopy::row(std::uint16_t fields) {
  append_be(data_, fields, 2);
  return *this;
}

BinaryCopy& BinaryCopy::field(std::int64_t value) {
  append_be(data_, 8, 4);
  append_be(data_, static_cast<std::uint64_t>(value), 8);
  return *this;
}

BinaryCopy& BinaryCopy::field(std::int32_t value) {
  append_be(data_, 4, 4);
  append_be(data_, static_cast<std::uint32_t>(value), 4);
  return *this;
}

BinaryCopy& BinaryCopy::field(std::span<const std::uint8_t> bytes) {
  append_be(data_, bytes.size(), 4);
  data_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return *this;
}

BinaryCopy& BinaryCopy::null_field() {
  append_be(data_, 0xffffffff, 4);  // a field length of -1
  return *this;
}

std::string BinaryCopy::finish() {
  append_be(data_, 0xffff, 2);  // the file trailer: a field count of -1
  return std::move(data_);
}

}  // namespace escrowless::keyservice::postgresql
