// Pointing a data folder's keyservice.conf at PostgreSQL after `keyadmin migrate`: the old file
// kept as keyservice.conf.sqlite (the way back), the new one with storage = "postgresql" and
// postgresql-url, every other line as the operator left it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace escrowless::keyservice::migrate {

struct ConfigSwitch {
  std::filesystem::path config;  // DIR/keyservice.conf
  std::filesystem::path backup;  // DIR/keyservice.conf.sqlite
};

// Checked before anything is copied. None when DIR has no keyservice.conf (the caller prints
// what to set instead). Error(conflict) when the config already names PostgreSQL or a backup
// from an earlier migration is in the way.
std::optional<ConfigSwitch> plan_config_switch(const std::filesystem::path& dir);

// `text` with its storage and postgresql-url lines replaced by storage = "postgresql" and
// postgresql-url = `url`, placed after data-dir (or first). Pure.
std::string switched_config_text(const std::string& text, const std::string& url);

// Writes the backup (0600, never over an existing file), then the new config beside the old one
// and renames it into place, so the config is always one whole file or the other.
void switch_config(const ConfigSwitch& plan, const std::string& url);

// The lines to set by hand when there is no config to rewrite.
std::string config_lines(const std::string& url);

}  // namespace escrowless::keyservice::migrate
