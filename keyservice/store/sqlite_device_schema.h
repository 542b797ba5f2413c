// The schema of devices.db and its version check. Kept apart from the queries so that a change
// of schema is one file and one version number.
#pragma once

#include <string>

#include "keyservice/store/sqlite.h"

namespace escrowless::keyservice {

inline constexpr int kDeviceSchemaVersion = 2;

// Inside a write transaction on `db`: checks that the file holds the devices schema of
// kDeviceSchemaVersion, upgrading a file of version 1 in place (the caller's transaction), or
// creates it when `create` is set and the file holds no tables at all.
// Throws Error(integrity) naming `path` otherwise (another database, or another version).
void prepare_device_schema(sqlite::Database& db, const std::string& path, bool create);

}  // namespace escrowless::keyservice
