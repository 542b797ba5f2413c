// Reads a PIN named by a URI's pin-source: `file:PATH` or an absolute PATH (RFC 7512), or
// `env:NAME` (our extension, for containers and systemd credentials). A PIN file must be a regular
// file readable by its owner only (like ssh keys): a PIN others can read is refused, not used.
#pragma once

#include <string_view>

#include "pkcs11/secret.h"

namespace escrowless::pkcs11 {

// One trailing "\n" or "\r\n" is dropped. Errors name the source, never the content.
Secret read_pin(std::string_view pin_source);

}  // namespace escrowless::pkcs11
