// Provisioning a new log (`keyadmin log init`): the log key generated in the token with the strict
// templates, the database, and the first two entries, `hsm.provisioned` (index 0: the token and the
// log key) and an `hsm.inventory` of the whole token (index 1), under one signed checkpoint.
#pragma once

#include <string>

#include "keyservice/log/log_database.h"
#include "pkcs11/token.h"

namespace escrowless::keyservice {

inline constexpr const char* kLogDatabaseName = "log.db";

struct InitializedLog {
  std::string database;      // DATA_DIR/log.db, or "the PostgreSQL log"
  std::string origin;
  std::string verifier_key;  // C2SP note verifier key of the log key
  std::string checkpoint;    // the first signed checkpoint (size 2)
};

// Refuses (Error(conflict)) when DATA_DIR/log.db exists. On failure removes what it made,
// including the key in the token, so no unlogged key is left behind.
InitializedLog initialize_log(pkcs11::Token& token, const std::string& data_dir,
                              const std::string& origin);
// The same in any database: Error(conflict) when it holds a log already. On failure the key is
// destroyed, and a SQLite file removed (PostgreSQL tables made stay, empty or holding no signed
// checkpoint, and a second try is refused: drop them or use a fresh database).
InitializedLog initialize_log(pkcs11::Token& token, const LogDatabase& database, const std::string& origin);

// The verifier key recorded in DATA_DIR/log.db (no token needed).
std::string read_verifier_key(const std::string& data_dir);

}  // namespace escrowless::keyservice
