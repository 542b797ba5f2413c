#include "api/routes.h"

#include <chrono>

namespace escrowless::api {
namespace {

std::uint64_t unix_seconds() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

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
  m.add_gauge("escrowless_log_served_size", "Entries covered by the checkpoint served to clients (cosigned, with a witness policy).",
              [&log] {
                const auto head = log.served_head();
                return head ? static_cast<double>(head->size) : 0.0;
              });
}

// Per witness of the policy, as this node sees it (a node that does not sequence submits nothing).
void add_witness_gauges(Metrics& m, keyservice::CosignatureCollector& cosigner) {
  using Status = keyservice::CosignatureCollector::WitnessStatus;
  const auto per_witness = [&m, &cosigner](const std::string& name, const std::string& help, bool counter,
                                           double (*read)(const Status&)) {
    const std::size_t count = cosigner.policy().witnesses.size();
    for (std::size_t i = 0; i < count; ++i) {
      auto value = [&cosigner, i, read] { return read(cosigner.status().at(i)); };
      const std::string& witness = cosigner.policy().witnesses[i].name;
      if (counter) {
        m.add_counter(name, help, "witness", witness, value);
      } else {
        m.add_gauge(name, help, "witness", witness, value);
      }
    }
  };
  per_witness("escrowless_witness_up", "1 if the witness's last request succeeded, else 0.", false,
              [](const Status& s) { return s.successes > 0 && s.last_error.empty() ? 1.0 : 0.0; });
  per_witness("escrowless_witness_last_success_timestamp_seconds", "POSIX time of the witness's last cosignature (0: none).",
              false, [](const Status& s) { return static_cast<double>(s.last_success); });
  per_witness("escrowless_witness_latency_seconds", "How long the witness's last request took.", false,
              [](const Status& s) { return s.latency_seconds; });
  per_witness("escrowless_witness_cosigned_size", "Size of the newest checkpoint the witness cosigned for this node.",
              false, [](const Status& s) { return static_cast<double>(s.cosigned_size); });
  per_witness("escrowless_witness_cosignatures_total", "Cosignatures the witness returned since start.", true,
              [](const Status& s) { return static_cast<double>(s.successes); });
  per_witness("escrowless_witness_failures_total", "Requests to the witness that failed since start.", true,
              [](const Status& s) { return static_cast<double>(s.failures); });
  m.add_gauge("escrowless_witness_quorum_fresh",
              "1 if the checkpoint served meets the witness quorum with fresh cosignatures, else 0.",
              [&cosigner] { return cosigner.health(unix_seconds()).fresh ? 1.0 : 0.0; });
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
  if (service.cosigner) add_witness_gauges(service.metrics, *service.cosigner);

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
