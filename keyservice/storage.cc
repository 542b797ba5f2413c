#include "keyservice/storage.h"

#include <filesystem>

#include "keyservice/error.h"
#include "keyservice/log/log_init.h"
#include "keyservice/store/postgres_device_store.h"
#include "keyservice/store/postgresql.h"
#include "keyservice/store/sqlite_device_store.h"

namespace escrowless::keyservice {

LogDatabase log_database(const ServiceConfig& config) {
  if (config.storage == "sqlite") {
    return LogDatabase::sqlite((std::filesystem::path(config.data_dir) / kLogDatabaseName).string());
  }
  if (config.storage != "postgresql") throw Error(ErrorKind::invalid_input, "storage must be sqlite or postgresql");
  if (config.postgresql_url.empty()) {
    throw Error(ErrorKind::invalid_input, "storage = postgresql needs postgresql-url");
  }
  postgresql::check_conninfo(config.postgresql_url);
  return LogDatabase::postgresql(config.postgresql_url);
}

std::unique_ptr<ClaimingDeviceStore> open_device_store(const ServiceConfig& config, bool create) {
  const LogDatabase database = log_database(config);
  if (database.kind == LogDatabase::Kind::postgresql) return PostgresDeviceStore::open(database.target, create);
  return SqliteDeviceStore::open((std::filesystem::path(config.data_dir) / "devices.db").string(), create);
}

}  // namespace escrowless::keyservice
