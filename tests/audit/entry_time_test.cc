#include "audit/entry_time.h"

#include <catch2/catch.hpp>

#include "tests/audit/test_support.h"

using namespace escrowless::audit;
using namespace std::chrono;
using test::IsInvalidInput;

TEST_CASE("entry times format as RFC 3339 UTC with milliseconds and parse back", "[unit]") {
  const EntryTime t = sys_days(year{2026} / November / 26) + hours(13) + minutes(55) + seconds(0) +
                      milliseconds(123);
  CHECK(format_entry_time(t) == "2026-11-26T13:55:00.123Z");
  CHECK(parse_entry_time("2026-11-26T13:55:00.123Z") == t);
  CHECK(format_entry_time(EntryTime{}) == "1970-01-01T00:00:00.000Z");
  CHECK(format_entry_time(EntryTime{} - milliseconds(1)) == "1969-12-31T23:59:59.999Z");
  for (const std::string_view text :
       {"0000-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z", "2024-02-29T12:00:00.500Z",
        "2000-02-29T00:00:00.001Z", "2026-12-31T23:59:59.999Z", "1969-07-20T20:17:40.000Z"}) {
    INFO(text);
    CHECK(format_entry_time(parse_entry_time(text)) == text);
  }
}

TEST_CASE("a system_clock time is truncated to whole milliseconds", "[unit]") {
  const system_clock::time_point t = sys_days(year{2026} / March / 1) + microseconds(1999);
  CHECK(format_entry_time(t) == "2026-03-01T00:00:00.001Z");
  CHECK(to_entry_time(t) == EntryTime(sys_days(year{2026} / March / 1)) + milliseconds(1));
  // Before 1970 truncation still goes towards the past.
  CHECK(format_entry_time(system_clock::time_point{} - microseconds(1)) ==
        "1969-12-31T23:59:59.999Z");
  const auto now = system_clock::now();
  CHECK(parse_entry_time(format_entry_time(now)) == to_entry_time(now));
}

TEST_CASE("entry times outside the calendar or the one spelling are refused", "[unit]") {
  for (const std::string_view text :
       {"2026-02-30T00:00:00.000Z",  // no such day
        "2026-02-29T00:00:00.000Z",  // not a leap year
        "1900-02-29T00:00:00.000Z",  // divisible by 100, not by 400
        "2026-04-31T00:00:00.000Z",      "2026-13-01T00:00:00.000Z",
        "2026-00-10T00:00:00.000Z",      "2026-01-00T00:00:00.000Z",
        "2026-01-01T24:00:00.000Z",      "2026-01-01T23:60:00.000Z",
        "2026-01-01T23:59:60.000Z",  // no leap seconds
        "2026-11-26T13:55:00Z",      // no milliseconds
        "2026-11-26T13:55:00.12Z",       "2026-11-26T13:55:00.1234Z",
        "2026-11-26T13:55:00.123",       "2026-11-26t13:55:00.123Z",
        "2026-11-26T13:55:00.123z",      "2026-11-26 13:55:00.123Z",
        "2026-11-26T13:55:00.123+00:00", "2026-11-26T13:55:00,123Z",
        "+2026-11-26T13:55:00.123Z",     "2026-1-26T13:55:00.123Z",
        " 2026-11-26T13:55:00.123Z",     "",
        "2026-11-26T13:55:0a.123Z",      "\xef\xbc\x92\x30\x32\x36-11-26T13:55:00.123Z"}) {
    INFO(text);
    CHECK_THROWS_MATCHES(parse_entry_time(text), Error, IsInvalidInput());
  }
}

TEST_CASE("entry times beyond year 9999 or before year 0 can't be formatted", "[unit]") {
  const EntryTime end = sys_days(year{10000} / January / 1);
  CHECK(format_entry_time(end - milliseconds(1)) == "9999-12-31T23:59:59.999Z");
  CHECK_THROWS_MATCHES(format_entry_time(end), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(
      format_entry_time(EntryTime(sys_days(year{0} / January / 1)) - milliseconds(1)), Error,
      IsInvalidInput());
  CHECK_THROWS_MATCHES(format_entry_time(EntryTime::max()), Error, IsInvalidInput());
  CHECK_THROWS_MATCHES(format_entry_time(EntryTime::min()), Error, IsInvalidInput());
}
