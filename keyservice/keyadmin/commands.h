// keyadmin's subcommands. Each adds itself to the CLI11 app; its callback does the work and prints
// the result to stdout (JSON, or a URI for `token init`). Errors are thrown and turned into a
// message and exit code in main.cc.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <string>

#include "pkcs11/token.h"

namespace escrowless::keyadmin {

void add_init_command(CLI::App& app);        // init (the whole data folder)
void add_token_commands(CLI::App& app);      // token init | info | mechanisms | check
void add_key_commands(CLI::App& app);        // key generate | sign, inventory
void add_log_commands(CLI::App& app);        // log init | verifier-key
void add_migrate_command(CLI::App& app);     // migrate (SQLite to PostgreSQL)

// Thrown by a command that has printed its result and wants this exit code (token check's 1 and 2).
struct ExitStatus {
  int code;
};

// keyadmin's --module-init-args (before or after the subcommand): the C_Initialize parameters for
// PKCS#11 modules that need them (NSS softokn; hsm-config/). Empty: none.
std::string& module_init_args();
std::string& token_lock_file();  // --token-lock-file (pkcs11/object_lock.h)
// TokenOptions for Token::open with those parameters.
pkcs11::TokenOptions token_options(bool login = true);

// Prints indented JSON to stdout; bytes that are not UTF-8 (a foreign token's labels) become U+FFFD.
void print_json(const nlohmann::json& value);

}  // namespace escrowless::keyadmin
