#include <memory>
#include <string>

#include "keyservice/keyadmin/commands.h"
#include "keyservice/migrate/migration.h"

namespace escrowless::keyadmin {

void add_migrate_command(CLI::App& app) {
  auto options = std::make_shared<keyservice::migrate::MigrationOptions>();
  CLI::App* migrate = app.add_subcommand(
      "migrate", "Move a stopped SQLite deployment in DIR (log, devices, credentials, unclaimed prekeys) into an "
                 "empty PostgreSQL database, verify the copy, and point DIR/keyservice.conf at it");
  migrate->add_option("--data-dir", options->data_dir, "The service's data folder (log.db, devices.db, keyservice.conf)")
      ->required();
  migrate->add_option("--to-postgresql", options->postgresql_url,
                      "The empty target database: libpq conninfo or postgresql:// URL, no password (use PGPASSFILE "
                      "or PGPASSWORD)")
      ->required();
  migrate->callback([options] {
    const keyservice::migrate::MigrationReport made = keyservice::migrate::migrate_to_postgresql(*options);
    nlohmann::json out = {
        {"entries", made.entries},
        {"subtrees", made.subtrees},
        {"checkpoints", made.checkpoints},
        {"checkpoint_size", made.checkpoint_size},
        {"checkpoint", made.checkpoint},
        {"devices", made.devices},
        {"revoked_devices", made.revoked_devices},
        {"credentials", made.credentials},
        {"prekeys", made.prekeys},
        {"unclaimed_one_time_prekeys", made.unclaimed_one_time_prekeys},
        {"claimed_one_time_prekeys_left_behind", made.claimed_one_time_prekeys_left_behind},
        {"copy_seconds", made.copy_seconds},
        {"verify_seconds", made.verify_seconds},
    };
    if (made.config) {
      out["config"] = *made.config;
      out["config_backup"] = *made.config_backup;
    } else {
      out["config"] = nullptr;
      out["config_lines"] = made.config_lines;  // no keyservice.conf in DIR: what to set by hand
    }
    print_json(out);
  });
}

}  // namespace escrowless::keyadmin
