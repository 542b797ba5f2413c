// The HTTPS front: cpp-httplib's SSLServer with TLS 1.2 and 1.3 only, AEAD forward-secret
// ciphers, a body size limit, and one wrapper around every handler that times it, counts it,
// logs it (method, route, status, duration, request id: never headers or bodies) and turns any
// exception into problem+json.
#pragma once

#include <httplib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/metrics.h"

namespace escrowless::api {

struct ServerOptions {
  std::string tls_cert;
  std::string tls_key;
  int threads = 8;
  std::size_t max_body_bytes = 1 << 20;
};

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

class HttpServer {
 public:
  // Loads the certificate and key (Error naming the file if either is unusable).
  static std::unique_ptr<HttpServer> create(const ServerOptions& options, Metrics& metrics);

  // `path` is an OpenAPI path template ("/v1/accounts/{account}/devices"): each {name} matches
  // one path segment, available to the handler as request.matches[1], [2], ... in order. The
  // template is also the route's name in logs and metrics, and docs/openapi.yaml must list it.
  void get(const std::string& path, Handler handler);
  void post(const std::string& path, Handler handler);
  void put(const std::string& path, Handler handler);
  void del(const std::string& path, Handler handler);

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

 private:
  HttpServer(std::unique_ptr<httplib::SSLServer> server, Metrics& metrics)
      : server_(std::move(server)), metrics_(metrics) {}
  Handler wrap(std::string route, Handler handler);
  std::string add_route(const std::string& method, const std::string& path);

  std::unique_ptr<httplib::SSLServer> server_;
  std::vector<Route> routes_;
  std::atomic<bool> run_returned_{false};
  Metrics& metrics_;
};

}  // namespace escrowless::api
