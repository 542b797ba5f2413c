#include "api/http_server.h"

#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <memory>
#include <span>
#include <thread>

#include "api/problem.h"
#include "audit/encoding.h"
#include "audit/hash.h"
#include "keyservice/error.h"

namespace escrowless::api {
namespace {

// cpp-httplib refuses a header line over 8 KiB (400) but not many lines; their total is capped
// here (431) so no handler ever works through more.
constexpr std::size_t kMaxHeaderBytes = 16 * 1024;

std::size_t header_bytes(const httplib::Request& request) {
  std::size_t total = request.target.size();
  for (const auto& [name, value] : request.headers) total += name.size() + value.size() + 4;
  return total;
}

// 8 random bytes as hex. Random, not counted: a counter would tell each client how many
// requests others made in between. Each thread draws them from OpenSSL's CSPRNG 64 ids at a
// time, as one RAND_bytes call costs about as much as the rest of a small request's handling.
std::string new_request_id() {
  constexpr std::size_t kIdBytes = 8;
  thread_local std::array<std::uint8_t, 64 * kIdBytes> drawn{};
  thread_local std::size_t used = drawn.size();
  if (used == drawn.size()) {
    // Should it ever fail, ids repeat (zeros); they only tie log lines to responses.
    if (RAND_bytes(drawn.data(), static_cast<int>(drawn.size())) != 1) drawn.fill(0);
    used = 0;
  }
  const std::span<const std::uint8_t> id(drawn.data() + used, kIdBytes);
  used += kIdBytes;
  return audit::hex_encode(id);
}

bool setup_tls(SSL_CTX& ctx, const ServerOptions& options) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                SSL_OP_CIPHER_SERVER_PREFERENCE);
  // TLS 1.2: ECDHE with AEAD only. TLS 1.3 suites are all AEAD; OpenSSL's defaults stay.
  if (SSL_CTX_set_cipher_list(&ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) return false;
  if (SSL_CTX_use_certificate_chain_file(&ctx, options.tls_cert.c_str()) != 1) {
    spdlog::error("TLS: cannot load the certificate chain {}", options.tls_cert);
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(&ctx, options.tls_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(&ctx) != 1) {
    spdlog::error("TLS: cannot load the private key {} or it does not match the certificate",
                  options.tls_key);
    return false;
  }
  return true;
}

}  // namespace

std::function<bool()> prepare_listen_socket(httplib::Server& server) {
  auto listening = std::make_shared<std::atomic<int>>(-1);
  server.set_socket_options([listening](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    int none = -1;
    listening->compare_exchange_strong(none, sock);  // the listening socket is made first
  });
  return [listening] {
    const int sock = listening->load();
    return sock >= 0 && ::listen(sock, SOMAXCONN) == 0;
  };
}

std::unique_ptr<HttpServer> HttpServer::create(const ServerOptions& options, Metrics& metrics) {
  auto guard = std::make_unique<ConnectionGuard>(
      ConnectionGuard::Options{options.request_timeout, options.max_connections_per_address});
  auto server = std::make_unique<httplib::SSLServer>([options, guard = guard.get()](SSL_CTX& ctx) {
    if (!setup_tls(ctx, options)) return false;
    guard->attach(ctx);
    return true;
  });
  if (!server->is_valid()) {
    throw keyservice::Error(keyservice::ErrorKind::invalid_input,
                            "cannot set up TLS with " + options.tls_cert + " and " + options.tls_key);
  }
  const int threads = options.threads;
  server->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  // Responses go out as two TLS records; without TCP_NODELAY each waits ~40 ms for a delayed ACK.
  server->set_tcp_nodelay(true);
  auto deepen_accept_queue = prepare_listen_socket(*server);
  server->set_payload_max_length(options.max_body_bytes);
  // Per read and per write; the whole-request deadline is the ConnectionGuard's.
  server->set_read_timeout(10, 0);
  server->set_write_timeout(10, 0);
  server->set_keep_alive_timeout(options.keep_alive_timeout);
  server->set_keep_alive_max_count(static_cast<std::size_t>(options.keep_alive_max_requests));

  std::unique_ptr<HttpServer> http(
      new HttpServer(std::move(guard), std::move(server), metrics, options.plain_text_errors));
  http->deepen_accept_queue_ = std::move(deepen_accept_queue);
  // Unmatched routes, bodies over the limit and malformed HTTP get problem+json too.
  http->server_->set_error_handler([plain = options.plain_text_errors](const httplib::Request&,
                                                                      httplib::Response& response) {
    if (!response.body.empty()) return;
    const int status = response.status;
    const std::string detail =
        status == 404   ? "no such route"
        : status == 413 ? "the request body is larger than allowed"
        : status == 431 ? "the request headers are larger than allowed"
        : status == 400 ? "malformed HTTP request"
                        : "the request could not be served";
    const Problem problem{status, status == 404 ? "not-found" : "invalid-request", detail};
    plain ? send_problem_text(response, problem) : send_problem(response, problem, {});
  });
  return http;
}

Handler HttpServer::wrap(std::string route, Handler handler) {
  return [this, route = std::move(route), handler = std::move(handler)](
             const httplib::Request& request, httplib::Response& response) {
    serve(route, handler, request, response);
  };
}

// RFC 9112 6.3: a request with neither Content-Length nor Transfer-Encoding has no body (rule 7).
// cpp-httplib 0.11 instead reads such a POST, PUT or DELETE until the connection closes, which
// a keep-alive client never does, so it answered 400 once the read timed out. Routes with a body
// are therefore registered as content-reader handlers: httplib calls them before reading
// anything, and the body is read here only when the request announces one.
httplib::Server::HandlerWithContentReader HttpServer::wrap_with_body(std::string route, Handler handler) {
  return [this, route = std::move(route), handler = std::move(handler)](
             const httplib::Request& request, httplib::Response& response,
             const httplib::ContentReader& reader) {
    // A copy the body can be put into: handlers read request.body, and httplib hands out its
    // request as const. The path matches point into `request`, which outlives the copy.
    httplib::Request with_body = request;
    int body_status = 0;
    if (request.has_header("Content-Length") || request.has_header("Transfer-Encoding")) {
      // httplib enforces the body limit (413) and reports malformed framing (400) in the status.
      const bool read = reader([&with_body](const char* data, std::size_t size) {
        with_body.body.append(data, size);
        return true;
      });
      if (!read) body_status = response.status == 413 ? 413 : 400;
    }
    serve(route,
          [&handler, body_status](const httplib::Request& req, httplib::Response& res) {
            if (body_status == 413) throw ApiError(413, "invalid-request", "the request body is larger than allowed");
            if (body_status != 0) throw bad_request("the request body could not be read (malformed length or chunked framing)");
            handler(req, res);
          },
          with_body, response);
  };
}

void HttpServer::serve(const std::string& route, const Handler& handler, const httplib::Request& request,
                       httplib::Response& response) {
  const auto start = std::chrono::steady_clock::now();
  const std::string request_id = new_request_id();
  response.set_header("X-Request-Id", request_id);
  guard_->request_started();
  try {
    if (header_bytes(request) > kMaxHeaderBytes) {
      throw ApiError(431, "invalid-request", "the request headers are larger than allowed (16 KiB)");
    }
    check_rate(request, response, route);
    handler(request, response);
    if (response.status == -1) response.status = 200;
  } catch (...) {
    std::string internal;
    const Problem problem = problem_for(std::current_exception(), internal);
    if (!internal.empty()) {
      spdlog::error("request {} {} {}: {}", request_id, request.method, route, internal);
    }
    plain_text_errors_ ? send_problem_text(response, problem) : send_problem(response, problem, request_id);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics_.observe_request(route, request.method, response.status, seconds);
  spdlog::info("request {} {} {} {} {:.3f}ms", request_id, request.method, route, response.status,
               seconds * 1000);
  guard_->request_finished();
}

HttpServer::RouteLimits HttpServer::RouteLimits::make(RateLimit per_credential, RateLimit per_address) {
  RouteLimits limits;
  if (per_credential.enabled()) limits.per_credential = std::make_shared<RateLimiter>(per_credential);
  if (per_address.enabled()) limits.per_address = std::make_shared<RateLimiter>(per_address);
  return limits;
}

void HttpServer::limit(const std::string& method, const std::string& path, const RouteLimits& limits) {
  limits_[method + " " + path] = limits;
}

void HttpServer::check_rate(const httplib::Request& request, httplib::Response& response,
                            const std::string& route) {
  const auto found = limits_.find(request.method + " " + route);
  if (found == limits_.end()) return;
  const RouteLimits& limits = found->second;
  std::optional<int> retry_after;
  if (limits.per_address) retry_after = limits.per_address->take(request.remote_addr);
  if (!retry_after && limits.per_credential) {
    const std::string authorization = request.get_header_value("Authorization");
    // Keyed by a hash: the bucket map must not hold credentials.
    if (!authorization.empty()) retry_after = limits.per_credential->take(audit::hex_encode(audit::sha256(authorization)));
  }
  if (!retry_after) return;
  response.set_header("Retry-After", std::to_string(*retry_after));
  throw ApiError(429, "rate-limited",
                 "too many requests to this route from this client; retry after " + std::to_string(*retry_after) + " s");
}

// Records the route and returns its regex: "{name}" becomes one path segment "([^/]+)".
std::string HttpServer::add_route(const std::string& method, const std::string& path) {
  routes_.push_back({method, path});
  std::string regex;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '{') {
      const std::size_t close = path.find('}', i);
      if (close == std::string::npos) throw std::logic_error("unclosed '{' in route " + path);
      regex += "([^/]+)";
      i = close;
    } else if (std::string_view(".+*?()[]^$|\\").find(path[i]) != std::string_view::npos) {
      regex += '\\';
      regex += path[i];
    } else {
      regex += path[i];
    }
  }
  return regex;
}

void HttpServer::get(const std::string& path, Handler handler) {
  server_->Get(add_route("GET", path), wrap(path, std::move(handler)));
}
void HttpServer::get_rest(const std::string& path, Handler handler) {
  std::string regex = add_route("GET", path);
  constexpr std::string_view kSegment = "([^/]+)";
  if (!path.ends_with("}") || !regex.ends_with(kSegment)) {
    throw std::logic_error("route " + path + " does not end in a {name}");
  }
  regex.replace(regex.size() - kSegment.size(), kSegment.size(), "(.+)");
  server_->Get(regex, wrap(path, std::move(handler)));
}
void HttpServer::post(const std::string& path, Handler handler) {
  server_->Post(add_route("POST", path), wrap_with_body(path, std::move(handler)));
}
void HttpServer::put(const std::string& path, Handler handler) {
  server_->Put(add_route("PUT", path), wrap_with_body(path, std::move(handler)));
}
void HttpServer::del(const std::string& path, Handler handler) {
  server_->Delete(add_route("DELETE", path), wrap_with_body(path, std::move(handler)));
}

int HttpServer::bind(const std::string& host, int port) {
  const int bound = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound < 0 || !deepen_accept_queue_()) {
    throw keyservice::Error(keyservice::ErrorKind::unavailable,
                            "cannot listen on " + host + ":" + std::to_string(port));
  }
  return bound;
}

void HttpServer::run() {
  server_->listen_after_bind();
  run_returned_ = true;
}

void HttpServer::wait_until_running() const {
  while (!server_->is_running() && !run_returned_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void HttpServer::stop() {
  // httplib's stop() before its listen loop has begun would be lost, and run() would never end.
  wait_until_running();
  server_->stop();
}

}  // namespace escrowless::api
