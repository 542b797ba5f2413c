// One table's rows from SQLite into PostgreSQL with binary COPY, a few megabytes at a time, so a
// large log is never in memory at once and the server gets few, large writes.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "keyservice/store/postgresql.h"
#include "keyservice/store/sqlite.h"

namespace escrowless::keyservice::migrate {

// How a column travels; a NULL in SQLite is sent as NULL whatever the type.
enum class Column { int64, int32, bytes, text };

struct TableCopy {
  std::string select;  // SQLite: one result column per entry of `columns`, in the COPY's order
  std::string copy;    // PostgreSQL: "COPY t (a, b) FROM STDIN (FORMAT binary)"
  std::span<const Column> columns;
};

// Copies every row `table.select` returns; the caller's transaction on `to` holds them. Returns
// the number of rows. A value the target's constraints refuse fails the COPY (Error(conflict)),
// and with it the caller's transaction.
std::uint64_t copy_rows(sqlite::Database& from, postgresql::Connection& to, const TableCopy& table);

}  // namespace escrowless::keyservice::migrate
