// What the HTTP handlers reach: the log, the token and the settings, plus the checks every
// protected route shares. Handlers stay thin: authenticate, validate, call, shape the response.
#pragma once

#include <httplib.h>

#include <optional>
#include <string_view>

#include "api/metrics.h"
#include "audit/hash.h"
#include "keyservice/cosign/cosignature_collector.h"
#include "keyservice/devices.h"
#include "keyservice/prekey_service.h"
#include "keyservice/log/transparency_log.h"
#include "keyservice/service_config.h"
#include "pkcs11/token.h"

namespace escrowless::api {

// Who is calling: the admin, a device (active; revoked credentials are unknown), or nobody.
struct Caller {
  bool admin = false;
  std::optional<keyservice::Device> device;
};

struct Service {
  keyservice::TransparencyLog& log;
  pkcs11::Token& token;
  keyservice::Devices& devices;
  keyservice::PrekeyService& prekeys;
  const keyservice::ServiceConfig& config;
  audit::Hash admin_credential_sha256;
  Metrics& metrics;
  // With a witness policy: what /readyz and /metrics report of the witnesses. nullptr: none.
  keyservice::CosignatureCollector* cosigner = nullptr;

  // Reads the bearer credential: nobody without one; 401 for one that is neither the admin's
  // (compared in constant time) nor an active device's.
  Caller authenticate(const httplib::Request& request) const;

  // 401 for nobody; 403 for a valid credential that may not do this.
  Caller require_admin(const httplib::Request& request) const;
  // The admin, or a device of `account`.
  Caller require_account(const httplib::Request& request, std::string_view account) const;
  // The admin or any device; nobody too when anonymous fetches are configured.
  Caller require_reader(const httplib::Request& request) const;
  // require_reader() for a route whose store read checks a device credential itself (one read
  // transaction per request, not two): the SHA-256 of the device credential presented, to pass
  // on; nullopt when the caller needs no more checking (the admin, or anonymous and allowed).
  std::optional<audit::Hash> reader_to_check(const httplib::Request& request) const;
};

class HttpServer;

// Registers the routes of each area.
void add_log_routes(HttpServer& server, Service& service);
void add_ops_routes(HttpServer& server, Service& service);
void add_admin_routes(HttpServer& server, Service& service);
void add_device_routes(HttpServer& server, Service& service);
void add_prekey_routes(HttpServer& server, Service& service);
void add_tile_routes(HttpServer& server, Service& service);

}  // namespace escrowless::api
