// How the test harness makes each kind of token (see test_token.h). Each maker returns the token's
// URI and the processes it started; the caller stops them, last started first.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pkcs11/slot.h"
#include "pkcs11/uri.h"
#include "tests/support/child_process.h"

namespace escrowless::testing {

enum class TokenKind { softhsm, tpm2, nss };
std::string_view to_string(TokenKind kind);

struct MadeToken {
  TokenKind kind = TokenKind::softhsm;
  pkcs11::TokenInfo info;
  pkcs11::Uri uri;  // token label and serial, module-path, pin-source=file:DIR/user-pin
  std::optional<std::string> module_init_args;
  std::vector<std::unique_ptr<ChildProcess>> processes;  // in start order
};

// SoftHSM: pkcs11::provision_softhsm_token() in DIR (sets SOFTHSM2_CONF for this process).
MadeToken make_softhsm_token(const std::filesystem::path& dir, std::string_view label);

// tpm2-pkcs11: swtpm on two consecutive loopback ports bound here (passed as open sockets, so no
// other process can take them and no wait for readiness is needed), a private D-Bus daemon that
// starts tpm2-abrmd on first use (D-Bus activation: the first call waits until it owns its name),
// a tpm2-pkcs11 store in DIR/store, and the token initialized by our own init_token() (C_InitToken
// and C_InitPIN on the store's empty slot). Sets TPM2_PKCS11_TCTI, TPM2_PKCS11_STORE and
// DBUS_SESSION_BUS_ADDRESS for this process and its children.
MadeToken make_tpm2_token(const std::filesystem::path& dir, std::string_view label);

// NSS softokn: `certutil -N -d sql:DIR/db -f DIR/user-pin` and the module's C_Initialize
// parameters naming that database, with the database token labelled `label`.
MadeToken make_nss_token(const std::filesystem::path& dir, std::string_view label);

}  // namespace escrowless::testing
