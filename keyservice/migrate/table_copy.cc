#include "keyservice/migrate/table_copy.h"

#include <limits>

#include "keyservice/error.h"

namespace escrowless::keyservice::migrate {
namespace {

// A COPY's data is sent when it reaches this size: large enough that per-statement costs vanish,
// small enough to stay well inside memory whatever the table.
constexpr std::size_t kPartBytes = 8 << 20;

std::span<const std::uint8_t> text_bytes(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

void add_field(postgresql::BinaryCopy& copy, const sqlite::Statement& row, int index, Column column) {
  if (row.column_is_null(index)) {
    copy.null_field();
    return;
  }
  switch (column) {
    case Column::int64:
      copy.field(row.column_int(index));
      return;
    case Column::int32: {
      const std::int64_t value = row.column_int(index);
      if (value < std::numeric_limits<std::int32_t>::min() || value > std::numeric_limits<std::int32_t>::max()) {
        throw Error(ErrorKind::integrity, "a stored integer is out of range: " + std::to_string(value));
      }
      copy.field(static_cast<std::int32_t>(value));
      return;
    }
    case Column::bytes:
      copy.field(row.column_blob_view(index));
      return;
    case Column::text:
      copy.field(text_bytes(row.column_text(index)));
      return;
  }
}

}  // namespace

std::uint64_t copy_rows(sqlite::Database& from, postgresql::Connection& to, const TableCopy& table) {
  auto rows = from.prepare(table.select);
  if (rows.column_count() != static_cast<int>(table.columns.size())) {
    throw Error(ErrorKind::internal, "the copy of \"" + table.select + "\" names another number of columns");
  }
  std::uint64_t count = 0;
  postgresql::BinaryCopy part;
  bool pending = false;
  const auto fields = static_cast<std::uint16_t>(table.columns.size());
  while (rows.step()) {
    part.row(fields);
    for (int i = 0; i < fields; ++i) add_field(part, rows, i, table.columns[static_cast<std::size_t>(i)]);
    pending = true;
    ++count;
    if (part.size() >= kPartBytes) {
      to.copy_in(table.copy, part.finish());
      part = postgresql::BinaryCopy();
      pending = false;
    }
  }
  if (pending) to.copy_in(table.copy, part.finish());
  return count;
}

}  // namespace escrowless::keyservice::migrate
