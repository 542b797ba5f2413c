// SoftHSM 2 specifics: its configuration file. Everything else about SoftHSM goes through the
// ordinary PKCS#11 layer, like any other module.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "pkcs11/slot.h"
#include "pkcs11/uri.h"

namespace escrowless::pkcs11 {

// Creates DIR (and DIR/tokens) with mode 0700 and writes DIR/softhsm2.conf from
// hsm-config/softhsm2.conf.in, pointing at DIR/tokens. Refuses (Error(invalid_input)) when
// DIR/softhsm2.conf exists. Returns the path of the configuration file. SoftHSM reads it only from
// SOFTHSM2_CONF, at module load: set that before Module::load().
std::filesystem::path write_softhsm_conf(const std::filesystem::path& dir);

struct SoftHsmToken {
  std::filesystem::path conf;   // DIR/softhsm2.conf
  std::filesystem::path so_pin;   // DIR/so-pin (0600)
  std::filesystem::path user_pin; // DIR/user-pin (0600)
  TokenInfo info;
  Uri uri;  // token label and serial, module-path, pin-source=file:DIR/user-pin
};

// `keyadmin token init`: a new SoftHSM token of its own under DIR. Writes the configuration, sets
// SOFTHSM2_CONF for this process to it, loads the module, initializes a token labelled `label` with
// random SO and user PINs (32 hex characters each) and saves them to DIR/so-pin and DIR/user-pin.
// Refuses when any of those files exists; on failure removes what it created. Requires that this
// process has not loaded the SoftHSM module with another SOFTHSM2_CONF before.
SoftHsmToken provision_softhsm_token(const std::filesystem::path& dir, std::string_view label,
                                     const std::string& module_path);

}  // namespace escrowless::pkcs11
