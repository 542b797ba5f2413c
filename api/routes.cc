#include "api/routes.h"

namespace escrowless::api {
namespace {

void add_gauges(Service& service) {
  Metrics& m = service.metrics;
  keyservice::TransparencyLog& log = service.log;
  pkcs11::SessionPool& pool = service.token.pool();
  m.add_gauge("escrowless_log_size", "Entries covered by the newest signed checkpoint.",
              [&log] { return static_cast<double>(log.size()); });
  m.add_counter("escrowless_log_batches_total", "Batches sequenced since start.",
              [&log] { return static_cast<double>(log.stats().batches); });
  m.add_counter("escrowless_log_signing_failures_total", "Checkpoint signatures that failed since start.",
              [&log] { return static_cast<double>(log.stats().signing_failures); });
  m.add_gauge("escrowless_hsm_sessions_open", "Sessions open on the token.",
              [&pool] { return static_cast<double>(pool.stats().open); });
  m.add_counter("escrowless_hsm_sessions_discarded_total", "Sessions dropped after token errors.",
              [&pool] { return static_cast<double>(pool.stats().discarded); });
  m.add_gauge("escrowless_hsm_token_lost", "1 while the token is gone and not yet reconnected, else 0.",
              [&pool] { return pool.stats().token_lost ? 1.0 : 0.0; });
  m.add_counter("escrowless_hsm_ambiguous_key_lookups_total",
              "Key lookups refused because several private keys share the CKA_ID or label (a planted twin?).",
              [] { return static_cast<double>(pkcs11::ambiguous_key_lookups()); });
  m.add_counter("escrowless_hsm_reconnects_total", "Module re-initializations that found the token again.",
              [&pool] { return static_cast<double>(pool.stats().reconnects); });
  m.add_counter("escrowless_hsm_logins_total", "Logins to the token since start.",
              [&pool] { return static_cast<double>(pool.stats().logins); });
  m.add_counter("escrowless_hsm_operations_total", "Token operations (sign, generate, find, read) since start.",
              [&pool] { return static_cast<double>(pool.stats().operations); });
  m.add_counter("escrowless_hsm_errors_total", "Token operations that failed since start.",
              [&pool] { return static_cast<double>(pool.stats().failures); });
}

}  // namespace

std::unique_ptr<HttpServer> make_server(Service& service, const ServerOptions& options) {
  auto server = HttpServer::create(options, service.metrics);
  // Bundle fetches, the bulk of the traffic, first: cpp-httplib tries routes in the order they
  // were added, with a std::regex match each (about 0.3 µs per route tried).
  add_prekey_routes(*server, service);
  add_ops_routes(*server, service);
  add_log_routes(*server, service);
  add_tile_routes(*server, service);
  add_admin_routes(*server, service);
  add_device_routes(*server, service);
  add_gauges(service);

  // Abuse limits on the routes that cost the most per request: enrollment (a key generated in
  // the token, a log entry) and bundle fetches (one-time prekeys handed out).
  server->limit("POST", "/v1/accounts/{account}/devices",
                HttpServer::RouteLimits::make(options.enroll_per_credential, options.enroll_per_address));
  // One budget for both kinds of bundle fetch.
  const auto fetches = HttpServer::RouteLimits::make(options.fetch_per_credential, options.fetch_per_address);
  server->limit("GET", "/v1/accounts/{account}/devices/{device}/bundle", fetches);
  server->limit("GET", "/v1/accounts/{account}/bundles", fetches);
  HttpServer& http = *server;
  service.metrics.add_gauge("escrowless_http_connections_open", "TLS connections past their hello, not yet closed.",
                            [&http] { return static_cast<double>(http.connection_stats().open); });
  service.metrics.add_counter("escrowless_http_connections_refused_total",
                              "Handshakes refused: too many connections from one address.",
                              [&http] { return static_cast<double>(http.connection_stats().refused); });
  service.metrics.add_counter("escrowless_http_connections_cut_total",
                              "Connections shut down for not delivering a request in time.",
                              [&http] { return static_cast<double>(http.connection_stats().cut); });
  return server;
}

}  // namespace escrowless::api
