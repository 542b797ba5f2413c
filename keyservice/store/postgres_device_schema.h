// The device store's tables in PostgreSQL (postgres_device_store.h), versioned in the
// schema_version table the log shares (row `devices`).
#pragma once

#include "keyservice/store/postgresql.h"

namespace escrowless::keyservice {

inline constexpr int kPostgresDeviceSchemaVersion = 1;

// Creates (with create) or migrates the schema forward under the transaction-scoped advisory
// lock the log's migrations take, so two processes opening a database at once don't both change
// it. Error(not_found) if !create and there is none; Error(conflict) if it is newer than this build.
void migrate_device_schema(postgresql::Connection& db, bool create);
// The same inside the caller's transaction, for a caller that fills the new tables in it.
void migrate_device_schema_within(postgresql::Connection& db, bool create);

}  // namespace escrowless::keyservice
