// The self-signed TLS certificate `keyadmin init` makes for the embedded defaults (HTTPS on
// localhost). The TLS key is an ordinary software key: it protects the channel, not the log or
// any device key, and production deployments bring their own certificate.
#pragma once

#include <filesystem>

namespace escrowless::keyservice {

// Writes an ECDSA P-256 key (mode 0600, refusing to overwrite) and a self-signed certificate
// valid for one year for DNS:localhost, IP:127.0.0.1 and IP:::1.
void write_localhost_certificate(const std::filesystem::path& cert_path,
                                 const std::filesystem::path& key_path);

}  // namespace escrowless::keyservice
