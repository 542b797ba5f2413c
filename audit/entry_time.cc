#include "audit/entry_time.h"

#include <string>

#include "audit/error.h"
#include "audit/json_path.h"

namespace escrowless::audit {
namespace {

using namespace std::chrono;

constexpr std::string_view kShape = "YYYY-MM-DDTHH:MM:SS.mmmZ";
constexpr std::string_view kPattern = "dddd-dd-ddTdd:dd:dd.dddZ";  // d: any ASCII digit

// The decimal value of text[at, at + count), which the shape check has proven to be digits.
int digits(std::string_view text, std::size_t at, std::size_t count) {
  int value = 0;
  for (std::size_t i = at; i < at + count; ++i) value = value * 10 + (text[i] - '0');
  return value;
}

// Appends `value` (0 <= value < 10^width, width <= 4) in exactly `width` decimal digits.
void append_digits(std::string& out, long long value, int width) {
  char buffer[4] = {'0', '0', '0', '0'};
  for (int i = width - 1; i >= 0; --i, value /= 10) buffer[i] = static_cast<char>('0' + value % 10);
  out.append(buffer, static_cast<std::size_t>(width));
}

bool has_shape(std::string_view text) {
  if (text.size() != kPattern.size()) return false;
  for (std::size_t i = 0; i < kPattern.size(); ++i) {
    const bool ok = kPattern[i] == 'd' ? text[i] >= '0' && text[i] <= '9' : text[i] == kPattern[i];
    if (!ok) return false;
  }
  return true;
}

}  // namespace

EntryTime to_entry_time(system_clock::time_point t) { return floor<milliseconds>(t); }

std::string format_entry_time(EntryTime t) {
  // Checked before any calendar arithmetic, which has a narrower range than EntryTime.
  constexpr sys_days kFirst = sys_days(year{0} / January / 1);
  constexpr sys_days kEnd = sys_days(year{10000} / January / 1);
  if (t < kFirst || t >= kEnd) throw invalid_input("time: year outside 0000-9999");
  const sys_days day = floor<days>(t);
  const year_month_day date(day);
  const int y = static_cast<int>(date.year());
  const hh_mm_ss<milliseconds> clock(t - day);
  std::string text;
  text.reserve(kShape.size());
  append_digits(text, y, 4);
  text += '-';
  append_digits(text, static_cast<unsigned>(date.month()), 2);
  text += '-';
  append_digits(text, static_cast<unsigned>(date.day()), 2);
  text += 'T';
  append_digits(text, clock.hours().count(), 2);
  text += ':';
  append_digits(text, clock.minutes().count(), 2);
  text += ':';
  append_digits(text, clock.seconds().count(), 2);
  text += '.';
  append_digits(text, clock.subseconds().count(), 3);
  text += 'Z';
  return text;
}

std::string format_entry_time(system_clock::time_point t) {
  return format_entry_time(to_entry_time(t));
}

EntryTime parse_entry_time(std::string_view text) {
  if (!has_shape(text)) {
    throw invalid_input("not RFC 3339 UTC time with milliseconds (" + std::string(kShape) +
                        "): " + quote(text));
  }
  const year_month_day date{year{digits(text, 0, 4)},
                            month{static_cast<unsigned>(digits(text, 5, 2))},
                            day{static_cast<unsigned>(digits(text, 8, 2))}};
  if (!date.ok()) throw invalid_input("no such date: " + quote(text.substr(0, 10)));
  const int hour = digits(text, 11, 2);
  const int minute = digits(text, 14, 2);
  const int second = digits(text, 17, 2);
  if (hour > 23 || minute > 59 || second > 59) {
    throw invalid_input("no such time of day: " + quote(text.substr(11, 8)));
  }
  return sys_days(date) + hours(hour) + minutes(minute) + seconds(second) +
         milliseconds(digits(text, 20, 3));
}

}  // namespace escrowless::audit
