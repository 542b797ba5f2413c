// The HTTPS front: cpp-httplib's SSLServer with TLS 1.2 and 1.3 only, AEAD forward-secret
// ciphers, limits on body size, request time (slow clients), keep-alive, connections per
// address and per-route request rates (429 with Retry-After), and one wrapper around every
// handler that times it, counts it, logs it (method, route, status, duration, request id: never
// headers or bodies) and turns any exception into problem+json.
#pragma once

#include <httplib.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/connection_guard.h"
#include "api/metrics.h"
#include "api/rate_limit.h"

namespace escrowless::api {

struct ServerOptions {
  std::string tls_cert;
  std::string tls_key;
  // cpp-httplib serves a keep-alive connection on one worker for its whole life: connections
  // beyond `threads` wait, unserved, until a worker is free.
  int threads = 8;
  std::size_t max_body_bytes = 1 << 20;
  // A whole request (headers and body) must arrive within this many seconds of the TLS hello or
  // of the previous response, else the connection is cut (slow clients). 0: no deadline.
  int request_timeout = 10;
  int keep_alive_timeout = 5;          // seconds an idle keep-alive connection stays open
  int keep_alive_max_requests = 1000;  // requests per connection before it is closed
  int max_connections_per_address = 0; // TLS connections one client address may hold; 0: any
  // Per-route request rates (off unless set; keyserviced sets them from its configuration).
  RateLimit enroll_per_credential{}, enroll_per_address{};// POST /v1/accounts/{account}/devices
  RateLimit fetch_per_credential{}, fetch_per_address{};// bundle fetches
  // Errors the wrapper itself answers (no route, body too large, rate limits, exceptions) as
  // text/plain "<detail>\n" instead of problem+json: for protocols whose clients read plain
  // text (keywitness speaks C2SP tlog-witness).
  bool plain_text_errors = false;
};

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

// The listening socket as HttpServer sets it up (exposed for the bench's bare server, which must
// match it). Installs `server`'s socket options: SO_REUSEADDR only, where httplib's default on
// Linux is SO_REUSEPORT, which would let a second server bind the same port and take a share of
// its connections. Returns what to call once `server` is bound: it deepens the accept queue from
// httplib's fixed 5 to SOMAXCONN (the kernel caps it at net.core.somaxconn). With 5, a burst of
// connections overflows it, the kernel drops their SYNs, and each drop costs that client a 1 s
// retransmission. The returned call is false if listen() fails.
std::function<bool()> prepare_listen_socket(httplib::Server& server);

class HttpServer {
 public:
  // Loads the certificate and key (Error naming the file if either is unusable).
  static std::unique_ptr<HttpServer> create(const ServerOptions& options, Metrics& metrics);

  // `path` is an OpenAPI path template ("/v1/accounts/{account}/devices"): each {name} matches
  // one path segment, available to the handler as request.matches[1], [2], ... in order. The
  // template is also the route's name in logs and metrics, and docs/openapi.yaml must list it.
  void get(const std::string& path, Handler handler);
  // The same for a template ending in a {name} that takes the rest of the path, slashes and
  // all (C2SP tlog-tiles paths have a varying number of segments).
  void get_rest(const std::string& path, Handler handler);
  void post(const std::string& path, Handler handler);
  void put(const std::string& path, Handler handler);
  void del(const std::string& path, Handler handler);

  // Rate limits: per bearer credential (keyed by its SHA-256; requests without one are limited
  // per address only) and per client address. Routes given the same RouteLimits share buckets.
  struct RouteLimits {
    std::shared_ptr<RateLimiter> per_credential, per_address;  // null: no limit
    static RouteLimits make(RateLimit per_credential, RateLimit per_address);
  };
  // For one route (method and template as registered). Register before run().
  void limit(const std::string& method, const std::string& path, const RouteLimits& limits);

  struct Route {
    std::string method;  // GET, POST, PUT, DELETE
    std::string path;    // the template
  };
  const std::vector<Route>& routes() const { return routes_; }

  // Binds (port 0: any free port) and returns the port; then run() serves until stop(), which
  // may be called from another thread at any time, even before run() has started listening.
  int bind(const std::string& host, int port);
  void run();
  void stop();
  void wait_until_running() const;

  ConnectionGuard::Stats connection_stats() const { return guard_->stats(); }

 private:
  HttpServer(std::unique_ptr<ConnectionGuard> guard, std::unique_ptr<httplib::SSLServer> server, Metrics& metrics,
             bool plain_text_errors)
      : guard_(std::move(guard)), server_(std::move(server)), metrics_(metrics), plain_text_errors_(plain_text_errors) {}
  Handler wrap(std::string route, Handler handler);
  httplib::Server::HandlerWithContentReader wrap_with_body(std::string route, Handler handler);
  // What every wrapped handler does around `handler`: request id, header cap, rate limit,
  // problem+json for exceptions, metrics and the access log line.
  void serve(const std::string& route, const Handler& handler, const httplib::Request& request,
             httplib::Response& response);
  // Throws ApiError(429) (and sets Retry-After) when a limit of the route refuses the request.
  void check_rate(const httplib::Request& request, httplib::Response& response, const std::string& route);
  std::string add_route(const std::string& method, const std::string& path);

  // Declared before the server: it must outlive every SSL object the server frees.
  std::unique_ptr<ConnectionGuard> guard_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::function<bool()> deepen_accept_queue_;  // from prepare_listen_socket()
  std::vector<Route> routes_;
  std::map<std::string, RouteLimits> limits_;  // "METHOD template"; read-only once serving
  std::atomic<bool> run_returned_{false};
  Metrics& metrics_;
  bool plain_text_errors_;
};

}  // namespace escrowless::api
