// Account and device ids, and the actor of a key event ("admin" or "device:<device id>").
// Ids appear in log entries and in API paths, so their alphabet needs no escaping in either.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace escrowless::audit {

inline constexpr std::size_t kMaxIdLength = 64;

// 1 to kMaxIdLength characters from [A-Za-z0-9._-].
bool is_valid_id(std::string_view id) noexcept;

// Who caused a key event: the service's admin, or an (already enrolled) device. Which devices
// may act for which account is the auditor's rule, not the format's.
struct Actor {
  std::string device;  // empty for the admin, else a device id

  static Actor admin() { return Actor{}; }
  static Actor of_device(std::string device_id) { return Actor{std::move(device_id)}; }
  bool is_admin() const noexcept { return device.empty(); }

  // "admin" or "device:<id>". Does not validate the id (to_bytes() of an entry does).
  std::string to_string() const;

  friend bool operator==(const Actor&, const Actor&) = default;
};

// Parses "admin" or "device:<id>" with a valid id. Throws invalid_input otherwise.
Actor parse_actor(std::string_view text);

}  // namespace escrowless::audit
