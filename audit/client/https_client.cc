#include "audit/client/https_client.h"

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

namespace escrowless::audit::client {

ServerUrl ServerUrl::parse(std::string_view url, bool allow_http) {
  ServerUrl parsed;
  std::string_view rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (allow_http && url.starts_with("http://")) {
    rest = url.substr(7);
    parsed.tls = false;
    parsed.port = 80;
  } else {
    throw FetchError(allow_http ? "URL must start with https:// or http://" : "server URL must start with https://");
  }
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  // Checked first, and no message echoes the URL: user info may hold a password.
  if (authority.find('@') != std::string_view::npos || rest.find_first_of("?#") != std::string_view::npos)
    throw FetchError("server URL must not carry user info, a query or a fragment");
  if (slash != std::string_view::npos) {
    parsed.base_path = std::string(rest.substr(slash));
    while (!parsed.base_path.empty() && parsed.base_path.back() == '/') parsed.base_path.pop_back();
  }
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) throw FetchError("server URL has an unclosed '['");
    parsed.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw FetchError("server URL has garbage after ']'");
      port_text = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (parsed.host.empty()) throw FetchError("server URL has no host");
  if (!port_text.empty() || (authority.back() == ':')) {
    int port = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 || port > 65535)
      throw FetchError("server URL has a bad port");
    parsed.port = port;
  }
  return parsed;
}

std::string ServerUrl::origin() const {
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(tls ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

HttpsClient::HttpsClient(const ServerUrl& url, ClientOptions options) : url_(url), bearer_(std::move(options.bearer)) {
  if (url.tls) {
    auto tls = std::make_unique<httplib::SSLClient>(url.host, url.port);
    if (options.ca_file) tls->set_ca_cert_path(options.ca_file->c_str());
    tls->enable_server_certificate_verification(true);
    SSL_CTX_set_min_proto_version(tls->ssl_context(), TLS1_2_VERSION);
    client_ = std::move(tls);
  } else {
    client_ = std::make_unique<httplib::ClientImpl>(url.host, url.port);
  }
  client_->set_connection_timeout(options.timeout_seconds, 0);
  client_->set_read_timeout(options.timeout_seconds, 0);
  client_->set_keep_alive(true);
}

HttpsClient::~HttpsClient() { OPENSSL_cleanse(bearer_.data(), bearer_.size()); }

namespace {

// "404 Not Found: device 7 is not enrolled" from a problem+json body, else the bare status.
std::string describe_failure(const httplib::Response& response) {
  std::string text = "HTTP " + std::to_string(response.status);
  const auto problem = nlohmann::json::parse(response.body, nullptr, false);
  if (problem.is_object()) {
    if (problem.contains("title") && problem["title"].is_string()) text += " " + problem["title"].get<std::string>();
    if (problem.contains("detail") && problem["detail"].is_string()) text += ": " + problem["detail"].get<std::string>();
  }
  return text;
}

// Why a TCP connection to host:port fails, in the operating system's words ("connection
// refused"): httplib says only "Connection", so the connection is tried once more to learn why.
std::string connect_failure_reason(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int code = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); code != 0) {
    return std::string("cannot resolve ") + host + ": " + ::gai_strerror(code);
  }
  int error = 0;
  for (const addrinfo* address = found; address; address = address->ai_next) {
    const int fd = ::socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC, address->ai_protocol);
    if (fd < 0) {
      error = errno;
      continue;
    }
    const int connected = ::connect(fd, address->ai_addr, address->ai_addrlen);
    error = connected == 0 ? 0 : errno;
    ::close(fd);
    if (connected == 0) break;
  }
  ::freeaddrinfo(found);
  if (error == 0) return "the connection failed";  // it works now: the server was starting or busy
  std::string reason = std::strerror(error);
  if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
  return reason;
}

}  // namespace

std::string HttpsClient::get(const std::string& path) const {
  httplib::Headers headers;
  if (!bearer_.empty()) headers.emplace("Authorization", "Bearer " + bearer_);
  const std::string target = url_.base_path + path;
  auto result = client_->Get(target.c_str(), headers);
  if (!result && (result.error() == httplib::Error::Read || result.error() == httplib::Error::Write)) {
    // The kept-alive connection was closed by the server while idle (its keep-alive timeout) or
    // after its last allowed request: a GET is safe to send again, on a new connection.
    client_->stop();
    result = client_->Get(target.c_str(), headers);
  }
  if (!result && result.error() == httplib::Error::Connection) {
    throw FetchError("cannot connect to " + url_.origin() + ": " + connect_failure_reason(url_.host, url_.port));
  }
  if (!result && result.error() == httplib::Error::ConnectionTimeout) {
    throw FetchError("cannot connect to " + url_.origin() + ": timed out");
  }
  if (!result) {
    std::string message = "GET " + url_.origin() + target + " failed: " + httplib::to_string(result.error());
    if (result.error() == httplib::Error::SSLServerVerification)
      message += " (the server certificate did not verify; pass the server's certificate with --cacert)";
    // Some OpenSSL builds fail the handshake itself on an untrusted certificate.
    if (result.error() == httplib::Error::SSLConnection && url_.tls)
      message += " (the TLS handshake failed; if the server's certificate is self-signed or from a private CA, pass it with --cacert)";
    throw FetchError(message);
  }
  if (result->status < 200 || result->status > 299)
    throw FetchError("GET " + target + " answered " + describe_failure(*result));
  return result->body;
}

HttpsClient::Answer HttpsClient::post(const std::string& path, const std::string& body,
                                      const std::string& content_type) const {
  httplib::Headers headers;
  if (!bearer_.empty()) headers.emplace("Authorization", "Bearer " + bearer_);
  const std::string target = url_.base_path + path;
  const auto result = client_->Post(target.c_str(), headers, body, content_type.c_str());
  if (!result && result.error() == httplib::Error::Connection) {
    throw FetchError("cannot connect to " + url_.origin() + ": " + connect_failure_reason(url_.host, url_.port));
  }
  if (!result && result.error() == httplib::Error::ConnectionTimeout) {
    throw FetchError("cannot connect to " + url_.origin() + ": timed out");
  }
  if (!result) {
    std::string message = "POST " + target + " failed: " + httplib::to_string(result.error());
    if (result.error() == httplib::Error::SSLServerVerification) message += " (the server certificate did not verify)";
    throw FetchError(message);
  }
  return {result->status, result->get_header_value("Content-Type"), result->body};
}

}  // namespace escrowless::audit::client
