// `keyadmin migrate`: a stopped single-node deployment moved from its SQLite files to an empty
// PostgreSQL database, whole: the log (meta: origin, log key, verifier key; every leaf, stored
// subtree and checkpoint, signed or not), the devices with their credential hashes, the current
// prekeys, the one-time lists with their claim cursors and only the one-time keys not yet claimed,
// and the reconciliation mark.
//
// Steps, each refusing with an Error before the next:
//  1. the source: log.db's writer lock taken (no keyserviced may run on it) and both files opened
//     read-only with a schema this build knows (sqlite_source.h); the config not yet PostgreSQL's;
//  2. the target: in one transaction, under the schema lock, the database must hold no table in
//     its schema; the tables are made, every row copied with binary COPY, row counts compared
//     with the source's; then COMMIT. A failure or a kill before COMMIT leaves the target as
//     empty as it was, so the same command can simply be run again;
//  3. the check, by the service's own readers on the committed data: every leaf hash recomputed
//     from its entry, every stored subtree and the root recomputed from the leaves, the root equal
//     to the newest checkpoint's, every signed checkpoint verified under the log's verifier key
//     (tree_check.h); the newest signed checkpoint the very note SQLite held; devices, credentials
//     and prekeys counted again. If this fails the tables made in step 2 are dropped again;
//  4. keyservice.conf switched to PostgreSQL (config_switch.h), the old one kept beside it.
// The SQLite files are never written.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace escrowless::keyservice::migrate {

struct MigrationOptions {
  std::string data_dir;
  std::string postgresql_url;  // libpq conninfo or URL, never with a password
};

struct MigrationReport {
  std::uint64_t entries = 0;              // log leaves
  std::uint64_t subtrees = 0;             // stored subtree hashes (level >= 1)
  std::uint64_t checkpoints = 0;          // stored checkpoints, signed or not
  std::uint64_t checkpoint_size = 0;      // the newest signed checkpoint's
  std::string checkpoint;                 // its signed note
  std::uint64_t devices = 0;
  std::uint64_t revoked_devices = 0;
  std::uint64_t credentials = 0;
  std::uint64_t prekeys = 0;              // rows copied: current prekeys and unclaimed one-time keys
  std::uint64_t unclaimed_one_time_prekeys = 0;
  std::uint64_t claimed_one_time_prekeys_left_behind = 0;
  std::optional<std::string> config;         // the rewritten keyservice.conf
  std::optional<std::string> config_backup;  // the old one
  std::string config_lines;                  // what the config must say (printed when there is none)
  double copy_seconds = 0;
  double verify_seconds = 0;
};

MigrationReport migrate_to_postgresql(const MigrationOptions& options);

}  // namespace escrowless::keyservice::migrate
