// The `time` of log entries: RFC 3339 in UTC with exactly millisecond precision and a 'Z',
// e.g. "2026-11-26T13:55:00.123Z". One spelling per instant (no offsets, no lowercase 't' or
// 'z', no other precision), so the time can't vary while the entry stays the same.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace escrowless::audit {

// An instant with millisecond resolution, the resolution entries record.
using EntryTime = std::chrono::sys_time<std::chrono::milliseconds>;

// `t` truncated (towards the past) to whole milliseconds.
EntryTime to_entry_time(std::chrono::system_clock::time_point t);

// "YYYY-MM-DDTHH:MM:SS.mmmZ". Requires a year from 0000 to 9999 (RFC 3339's range); throws
// invalid_input otherwise.
std::string format_entry_time(EntryTime t);

// format_entry_time(to_entry_time(t)): the time of an entry made at `t`.
std::string format_entry_time(std::chrono::system_clock::time_point t);

// Parses exactly "YYYY-MM-DDTHH:MM:SS.mmmZ" with a real calendar date (month 1-12, the day
// within the month, February 29 in leap years only), hour < 24, minute < 60 and second < 60 (no
// leap seconds). Throws invalid_input saying what is wrong otherwise.
EntryTime parse_entry_time(std::string_view text);

}  // namespace escrowless::audit
