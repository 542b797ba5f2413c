// Where a deployment's state lives, from its configuration (service_config.h `storage`):
// SQLite files in the data folder (log.db, devices.db), or one PostgreSQL database that holds
// both the log and the device store and that any number of nodes share.
#pragma once

#include <memory>

#include "keyservice/log/log_database.h"
#include "keyservice/service_config.h"
#include "keyservice/store/claiming_device_store.h"

namespace escrowless::keyservice {

// The log's database. Error(invalid_input) for storage = postgresql without a postgresql-url, or
// with one that carries a password (never echoed), or for an unknown storage.
LogDatabase log_database(const ServiceConfig& config);

// Opens (with create: makes if missing) the device store beside the log.
std::unique_ptr<ClaimingDeviceStore> open_device_store(const ServiceConfig& config, bool create);

}  // namespace escrowless::keyservice
